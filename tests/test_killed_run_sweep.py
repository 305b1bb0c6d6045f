"""A run killed outright (SIGKILL: no teardown, no ledger) leaves things on the platform;
``python -m pytest_sca cleanup --run-id`` then removes every one of them, of every kind any
check creates, and nothing that is not the run's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.comfyui import ComfyUIAdapter, client_prefix
from pytest_sca.adapters.oci_registry import OciRegistry, RegistryAdapter
from pytest_sca.adapters.platform import PlatformAdapter
from pytest_sca.adapters.platform.client import SWEEPS
from pytest_sca.adapters.s3 import S3Adapter, of_run
from pytest_sca.capabilities import RUN_LABEL, Refused, Unsupported
from pytest_sca.catalog import load_catalog
from pytest_sca.sandbox.launcher import SandboxProcess, launch
from pytest_sca.target import Target, load_target

pytestmark = pytest.mark.slow

#: Chapters whose checks create the most kinds of things (jobs, tenants, users, clusters,
#: models, files, deployments, fine-tunes, workflows, history, objects, datasets…).
SELECTION = "chapter8 or chapter6 or chapter10"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    process = launch(timeout=60)
    try:
        yield process
    finally:
        process.stop()


def _target(sandbox: SandboxProcess) -> Target:
    return load_target(sandbox.target_path, load_catalog(), sandbox.env)


def _left(target: Target, run_id: str) -> list[str]:
    """Everything on the sandbox that carries ``run_id``, read afresh (not through a sweep)."""
    context = AdapterContext(target.name, target.path, "observer", target.redact)
    left: list[str] = []
    platform = PlatformAdapter(target.adapters["platform"], context)
    try:
        client = platform.client
        tenants = [str(t["id"]) for t in client.call("tenants.list")]
        for kind, how in SWEEPS.items():
            scopes = [{"tenant_id": t} for t in tenants] if how.per_tenant else [{}]
            for scope in scopes:
                try:
                    found = client.call(how.list_operation, **scope)
                except Unsupported:
                    continue
                except Refused as refusal:  # a tenant the run deleted meanwhile
                    if refusal.status == 404:
                        continue
                    raise
                left += [f"{kind} {item.get('id')}" for item in found
                         if (item.get("labels") or {}).get(RUN_LABEL) == run_id
                         # an order cannot be deleted: cancelled is removed
                         and not (kind == "orders" and item.get("status") == "cancelled")]
    finally:
        platform.close()
    s3 = S3Adapter(target.adapters["s3"], context)
    try:
        listing = s3.client().list_objects_v2(Bucket=s3.bucket)
        left += [f"object {o['Key']}" for o in listing.get("Contents", [])
                 if of_run(o["Key"], run_id)]
    finally:
        s3.close()
    comfy = ComfyUIAdapter(target.adapters["comfyui"], context)
    try:
        history: dict[str, Any] = comfy.json("GET", "/history")
        left += [f"history {prompt}" for prompt, entry in history.items()
                 if str(((entry.get("prompt") or [None] * 4)[3] or {}).get("client_id", ""))
                 .startswith(client_prefix(run_id))]
    finally:
        comfy.close()
    if "registry" in target.adapters:
        registry = RegistryAdapter(target.adapters["registry"], context)
        try:
            mine = registry.probe_repository(run_id, "")
            left += [f"repository {r}" for r in OciRegistry(registry).catalog()
                     if r.startswith(mine) and OciRegistry(registry).tags(r)]
        finally:
            registry.close()
    return left


@pytest.mark.parametrize("kill_after_s", [12.0, 30.0], ids=["early", "late"])
def test_cleanup_removes_everything_a_killed_run_left(sandbox: SandboxProcess, tmp_path: Path,
                                                      kill_after_s: float) -> None:
    run_id = f"killed-{int(kill_after_s)}-{os.getpid()}"
    target = _target(sandbox)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", f"--sca-target={sandbox.target_path}",
         f"--sca-run-id={run_id}", "-m", SELECTION, "-p", "no:cacheprovider",
         "--sca-json=report.json"],
        cwd=tmp_path, env={**os.environ, **sandbox.env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + kill_after_s + 60
        # Kill once the run has created something, no sooner than asked.
        time.sleep(kill_after_s)
        while not _left(target, run_id) and process.poll() is None:
            assert time.monotonic() < deadline, "the run created nothing to leave behind"
            time.sleep(1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    left_by_the_kill = _left(target, run_id)
    other = _left(target, "some-other-run")
    cleanup = subprocess.run(
        [sys.executable, "-m", "pytest_sca", "cleanup", "--target", str(sandbox.target_path),
         "--run-id", run_id], capture_output=True, text=True, timeout=300,
        env={**os.environ, **sandbox.env})
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert _left(target, run_id) == [], f"left after cleanup (the kill left {left_by_the_kill})"
    assert _left(target, "some-other-run") == other
