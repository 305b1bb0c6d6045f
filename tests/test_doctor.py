"""`python -m pytest_sca doctor` and the run's preflight, against real local servers: the
sandbox (every built-in adapter but Kubernetes), the Kubernetes API emulator, closed ports,
and a server that accepts connections but never answers."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pytest_sca import doctor
from pytest_sca.adapters.base import Adapter, AdapterContext, Finding
from pytest_sca.adapters.config import KubernetesConfig, PlatformConfig
from pytest_sca.adapters.kubernetes import KubernetesAdapter
from pytest_sca.catalog import load_catalog
from pytest_sca.runstate import Options, ScaRun
from pytest_sca.sandbox.launcher import SandboxProcess, launch
from pytest_sca.scoring import load_grading
from pytest_sca.target import Target, load_target, parse_target
from pytest_sca.verdicts import NotAssessed

from .adapters.kube_emulator import emulated_cluster


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    running = launch()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def sandbox_target(sandbox: SandboxProcess) -> Target:
    return load_target(sandbox.target_path, load_catalog(), environ={**os.environ, **sandbox.env})


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_every_sandbox_adapter_is_usable_in_seconds(sandbox_target: Target) -> None:
    diagnosis = doctor.diagnose(sandbox_target)
    assert diagnosis.exit_status == doctor.USABLE, doctor.render(diagnosis)
    assert diagnosis.seconds < 10
    by_transport = {a.transport: a for a in diagnosis.adapters}
    assert set(by_transport) >= {"platform", "ssh", "s3", "registry", "openai", "comfyui"}
    for adapter in diagnosis.adapters:
        statuses = {f.status for f in adapter.findings}
        assert "fail" not in statuses and "warn" not in statuses, adapter
        checks = {f.check for f in adapter.findings if f.status == "ok"}
        assert "reachable" in checks, adapter
    assert {"tls", "api", "credentials"} <= {f.check for f in by_transport["platform"].findings}
    assert any("logged in" in f.detail for f in by_transport["ssh"].findings)
    assert any("lists bucket" in f.detail for f in by_transport["s3"].findings)
    assert any("model(s)" in f.detail for f in by_transport["openai"].findings)
    assert any("node classes" in f.detail for f in by_transport["comfyui"].findings)
    assert "tenancy" in by_transport["platform"].serves
    assert by_transport["s3"].serves == ["storage"]


def test_what_each_adapter_serves_is_what_the_run_uses(sandbox_target: Target) -> None:
    run = ScaRun(Options(), load_catalog(), load_grading(), "doctor-test", target=sandbox_target)
    serving = doctor.assignments(sandbox_target.adapters)
    try:
        for capability, transport in serving.items():
            implementation = run.adapter_for(capability)
            adapter = run._adapters[transport]
            assert type(implementation) is adapter.implementations[capability], capability
    finally:
        run.close_adapters()


def test_a_refused_token_is_a_failed_credential(sandbox: SandboxProcess) -> None:
    environ = {**os.environ, **sandbox.env}
    wrong = {name: "not-the-token" for name in sandbox.env if "TOKEN" in name}
    document = yaml.safe_load(sandbox.target_path.read_text(encoding="utf-8"))
    target = parse_target({**document, "adapters": {"platform": document["adapters"]["platform"]}},
                          "sandbox.yaml", load_catalog(), {**environ, **wrong})
    diagnosis = doctor.diagnose(target)
    platform = diagnosis.adapters[0]
    assert not platform.usable and diagnosis.exit_status == doctor.UNUSABLE
    failed = [f for f in platform.findings if f.status == "fail"]
    assert failed[0].check == "credentials" and "refused 401" in failed[0].detail
    assert "not-the-token" not in json.dumps(diagnosis.to_dict())


@pytest.mark.slow
def test_a_dead_target_is_known_in_seconds(silent_port: int, tmp_path: Path) -> None:
    closed = _closed_port()
    path = tmp_path / "dead.yaml"
    path.write_text(yaml.safe_dump({"name": "dead", "adapters": {
        "platform": {"url": f"http://127.0.0.1:{closed}/"},
        "openai": {"base_url": f"http://127.0.0.1:{silent_port}/v1"},
        "ssh": {"nodes": [{"name": "n1", "host": "127.0.0.1", "port": closed}]},
        "prometheus": {"url": f"http://127.0.0.1:{silent_port}/"},
    }}), encoding="utf-8")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest_sca", "doctor", str(path),
                           "--timeout", "2", "--json"],
                          capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert done.returncode == doctor.UNUSABLE, done.stdout + done.stderr
    assert elapsed < 30
    report = json.loads(done.stdout)
    found = {a["transport"]: a for a in report["adapters"]}
    assert not any(a["usable"] for a in found.values())
    assert "Connection refused" in found["platform"]["findings"][0]["detail"]
    silent = [f for f in found["openai"]["findings"] if f["status"] == "fail"]
    assert silent and "ReadTimeout" in silent[0]["detail"], found["openai"]


def test_a_probe_that_hangs_is_cut_at_the_deadline(sandbox_target: Target) -> None:
    def hang(target: Target, transport: str, run_id: str, timeout: float) -> doctor.AdapterCheck:
        threading.Event().wait(30)
        raise AssertionError("unreachable")

    started = time.monotonic()
    diagnosis = doctor.diagnose(sandbox_target, deadline=1.0, check=hang)
    assert time.monotonic() - started < 5
    assert diagnosis.exit_status == doctor.UNUSABLE
    assert all("no answer within the preflight's 1 s" in a.findings[0].detail
               for a in diagnosis.adapters)


def test_some_unusable_adapters_exit_one(sandbox: SandboxProcess, tmp_path: Path) -> None:
    document = yaml.safe_load(sandbox.target_path.read_text(encoding="utf-8"))
    document["adapters"] = {"comfyui": document["adapters"]["comfyui"],
                            "prometheus": {"url": f"http://127.0.0.1:{_closed_port()}/"}}
    path = tmp_path / "half.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pytest_sca", "doctor", str(path)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **sandbox.env})
    assert done.returncode == doctor.SOME_UNUSABLE, done.stdout + done.stderr
    assert "comfyui: usable" in done.stdout and "prometheus: UNUSABLE" in done.stdout
    assert "1 of 2 adapters usable" in done.stdout


def test_a_bad_target_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: x\nadapters: {plattform: {}}\n")
    done = subprocess.run([sys.executable, "-m", "pytest_sca", "doctor",
                           str(tmp_path / "bad.yaml")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 4 and "adapters.plattform: unknown transport" in done.stderr


def test_tls_against_an_untrusted_certificate_fails(sandbox_target: Target) -> None:
    config = sandbox_target.adapters["platform"]
    assert isinstance(config, PlatformConfig)
    untrusted = config.model_copy(update={"verify": True})
    findings = doctor.endpoint_findings(untrusted, timeout=3)
    tls = next(f for f in findings if f.check == "tls")
    assert tls.status == "fail" and "certificate not trusted" in tls.detail
    unverified = doctor.endpoint_findings(config.model_copy(update={"verify": False}), 3)
    assert next(f for f in unverified if f.check == "tls").status == "warn"


def test_an_adapter_without_a_probe_gets_the_generic_checks(sandbox_target: Target) -> None:
    """Adapter.probe defaults to nothing: a vendor adapter still gets reachability and TLS."""
    config = sandbox_target.adapters["platform"]
    adapter = Adapter(config, AdapterContext("t", None, "r"))
    assert adapter.probe(1.0) == []
    findings = doctor.endpoint_findings(config, timeout=3)
    assert [f.check for f in findings] == ["reachable", "tls"]
    assert all(isinstance(f, Finding) and f.status == "ok" for f in findings)


def test_kubernetes_probe_names_version_groups_and_user(tmp_path: Path) -> None:
    with emulated_cluster(tmp_path) as cluster:
        config = KubernetesConfig(kubeconfig=str(cluster.kubeconfig), context="emulated")
        adapter = KubernetesAdapter(config, AdapterContext("k", None, "r"))
        try:
            findings = adapter.probe(5.0)
        finally:
            adapter.close()
    by_check = {f.check: f for f in findings}
    assert by_check["credentials"].status == "ok"
    assert "authenticated as kubernetes-admin" in by_check["credentials"].detail
    assert "api" in by_check and "offers" in by_check


def test_kubernetes_probe_of_an_unreachable_cluster(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{_closed_port()}"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t0ken-value"}}]}))
    adapter = KubernetesAdapter(KubernetesConfig(kubeconfig=str(kubeconfig)),
                                AdapterContext("k", None, "r"))
    try:
        findings = adapter.probe(2.0)
    finally:
        adapter.close()
    assert [(f.check, f.status) for f in findings] == [("reachable", "fail")]


def test_an_adapter_not_configured_for_a_capability_leaves_it_to_the_next(
        sandbox_target: Target, tmp_path: Path) -> None:
    """The Kubernetes adapter implements ``workflows`` but serves it only with
    ``comfyui_service``: without it, listed first, it leaves workflows to ``comfyui`` (the
    run and the doctor agree); with nothing else to serve them, the reason names the
    setting."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n", encoding="utf-8")
    kube = KubernetesConfig.model_validate({"kubeconfig": str(kubeconfig)})
    adapters = {"kubernetes": kube, **sandbox_target.adapters}
    assert doctor.assignments(adapters)["workflows"] == "comfyui"
    run = ScaRun(Options(), load_catalog(), load_grading(), "doctor-order",
                 target=dataclasses.replace(sandbox_target, adapters=adapters))
    try:
        assert type(run.adapter_for("workflows")).__module__ == "pytest_sca.adapters.comfyui"
    finally:
        run.close_adapters()
    alone = ScaRun(Options(), load_catalog(), load_grading(), "doctor-order-alone",
                   target=dataclasses.replace(sandbox_target, adapters={"kubernetes": kube}))
    with pytest.raises(NotAssessed, match=r"adapters\.kubernetes\.comfyui_service"):
        alone.adapter_for("workflows")
