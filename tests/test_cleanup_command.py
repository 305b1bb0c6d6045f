"""`python -m pytest_sca cleanup` removes what a killed run left, and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.platform import PlatformAdapter
from pytest_sca.catalog import load_catalog
from pytest_sca.sandbox.launcher import SandboxProcess, launch
from pytest_sca.target import load_target


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    process = launch()
    try:
        yield process
    finally:
        process.stop()


def _platform(sandbox: SandboxProcess, run_id: str) -> PlatformAdapter:
    target = load_target(sandbox.target_path, load_catalog(), sandbox.env)
    context = AdapterContext(target.name, target.path, run_id, target.redact)
    return PlatformAdapter(target.adapters["platform"], context)


@pytest.mark.slow
def test_cleanup_sweeps_one_run_and_spares_the_rest(sandbox: SandboxProcess) -> None:
    # A run killed before its teardown left a tenant and a job; another run left its own.
    killed = _platform(sandbox, "killed-run-1")
    tenant = killed.capability("tenancy").create_tenant("left-behind")
    other = _platform(sandbox, "other-run-2")
    kept = other.capability("tenancy").create_tenant("someone-elses")
    result = subprocess.run(
        [sys.executable, "-m", "pytest_sca", "cleanup", "--target", str(sandbox.target_path),
         "--run-id", "killed-run-1"],
        capture_output=True, text=True, timeout=120, env={**os.environ, **sandbox.env})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "swept run killed-run-1 through platform" in result.stdout, result.stdout
    assert sandbox.env["SCA_SANDBOX_TOKEN"] not in result.stdout + result.stderr
    ids = {t["id"] for t in other.capability("tenancy").list_tenants()}
    assert tenant["id"] not in ids
    assert kept["id"] in ids
    assert not other.context.ledger.sweep()  # removes its own tenant, as a finished run does
    assert kept["id"] not in {t["id"] for t in killed.capability("tenancy").list_tenants()}
    other.close()
    killed.close()


def test_cleanup_with_a_bad_target_is_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nadapters: {nosuch: {}}\n")
    result = subprocess.run([sys.executable, "-m", "pytest_sca", "cleanup", "--target", str(bad),
                             "--run-id", "r1"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "adapters.nosuch: unknown transport" in result.stderr
