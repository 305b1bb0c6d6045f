"""Chapter 9 checks: pass on the healthy sandbox, fail under the fault that breaks each.

Items broken by the same fault are evaluated in one sandbox run (a start costs ~1.5 s).
Timing checks are sized for a loaded 2-core machine: the sandbox's thresholds are generous
and each fault misses them by a wide margin (see docs/chapter09.md).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_sca.sandbox.launcher import launch

from .matrix import evaluate, verdicts

#: clause item → (sandbox fault that breaks it, words the fail reason must contain)
BREAKS: dict[str, tuple[str, str]] = {
    "9.1.a": ("throttled_nodes", "of the declared peak"),
    "9.2.a": ("throttled_nodes", "training HFU below"),
    "9.2.b": ("noisy_neighbour", "step-time jitter"),
    "9.3.a": ("subtasks_serialised", "parallel sub-tasks scale poorly"),
    "9.3.b": ("throttled_nodes", "card utilisation"),
    "9.4.1.a": ("diagnosis_slow", "did not finish within"),
    "9.4.2.a": ("api_unstable", "management API answered"),
    "9.4.2.b": ("jobs_interrupted", "probe job was interrupted"),
    "9.4.2.c": ("topology_wrong", "does not match where it runs"),
    "9.4.2.d": ("stale_metrics", "stale or missing metrics"),
}
#: More faults that break an item's behaviour another way: (item, fault, words).
ALSO_BREAKS: list[tuple[str, str, str]] = [
    ("9.4.2.a", "api_drops_requests", "management API answered"),
    ("9.4.2.d", "stale_samples_reported_fresh", "last_sample_at their samples contradict"),
    ("9.4.1.a", "diagnosis_inconclusive", "reached no finding"),
    ("9.4.2.c", "topology_links_missing", "shows no link for the card"),
    ("9.4.1.a", "diagnosis_duration_misreported", "reports a duration of"),
    ("9.3.b", "startup_latency_misreported", "start-up latency misreported"),
    ("9.4.2.b", "jobs_restarted_silently", "its progress started over"),
    ("9.3.b", "multi_worker_jobs_throttled", "multi-card speedup S(2)"),
    ("9.4.1.a", "diagnosis_of_neighbour_node", "not about the subject asked for"),
    ("9.4.2.c", "job_record_nodes_misreported", "the job record and the workers disagree"),
]
#: Faults that disturb different behaviours run together, to start fewer sandboxes; each
#: item's fail reason still names what its own fault broke.
FAULT_GROUPS: list[tuple[str, ...]] = [
    ("throttled_nodes",),
    ("diagnosis_slow", "topology_wrong", "stale_metrics"),
    ("noisy_neighbour", "subtasks_serialised"),
    ("api_unstable",),
    ("jobs_interrupted",),
]
#: Cases of a group's items that its faults are not written for, left out of its run (under
#: throttled_nodes every job runs ~60× slower: 9.3.b's [speedup] took 32 s and 9.2.a's second
#: model 22 s of a 2-minute run, to show nothing the other cases do not).
NOT_UNDER_TEST: dict[tuple[str, ...], str] = {
    ("throttled_nodes",): "not speedup and not vision-model",
}
ALSO_GROUPS: list[tuple[str, ...]] = [
    ("api_drops_requests", "stale_samples_reported_fresh", "diagnosis_inconclusive",
     "topology_links_missing"),
    ("diagnosis_duration_misreported", "startup_latency_misreported", "jobs_restarted_silently",
     "multi_worker_jobs_throttled", "diagnosis_of_neighbour_node",
     "job_record_nodes_misreported"),
]


@pytest.mark.slow
def test_every_check_passes_on_the_healthy_sandbox(tmp_path: Path) -> None:
    report = evaluate(tmp_path, BREAKS)
    assert verdicts(report) == {item: ("pass", "") for item in BREAKS}
    measured = {i["id"]: i.get("measurements") for i in report["items"] if i["id"] in BREAKS}
    assert all(measured.values()), f"items without measured values: {measured}"


def test_fault_groups_cover_every_item() -> None:
    grouped = [fault for group in FAULT_GROUPS for fault in group]
    assert sorted(grouped) == sorted({fault for fault, _ in BREAKS.values()})
    assert set(NOT_UNDER_TEST) <= set(FAULT_GROUPS)
    also = [fault for group in ALSO_GROUPS for fault in group]
    assert sorted(also) == sorted(fault for _, fault, _ in ALSO_BREAKS)


@pytest.mark.slow
@pytest.mark.parametrize("faults", FAULT_GROUPS, ids="+".join)
def test_checks_fail_under_their_fault(faults: tuple[str, ...], tmp_path: Path) -> None:
    items = {item for item, (broken_by, _) in BREAKS.items() if broken_by in faults}
    skipped = NOT_UNDER_TEST.get(faults)
    found = {i["id"]: i for i in evaluate(tmp_path, items, faults,
                                          ["-k", skipped] if skipped else [])["items"]}
    for item in sorted(items):
        entry, words = found[item], BREAKS[item][1]
        assert entry["verdict"] == "fail", entry
        assert entry["reason"].startswith(f"[{item}]"), entry["reason"]
        # The case the fault is written for fails; another case of the item may fail too.
        reasons = [t["reason"] for t in entry["tests"] if t["outcome"] == "fail"]
        assert any(words in r for r in reasons), reasons
        assert entry.get("measurements"), f"{item} failed without a measured value"


@pytest.mark.slow
@pytest.mark.parametrize("faults", ALSO_GROUPS, ids="+".join)
def test_checks_fail_under_other_faults(faults: tuple[str, ...], tmp_path: Path) -> None:
    """Each of these faults breaks one more behaviour a check now verifies (a retried 5xx,
    a summary field the samples contradict, a verdict that is no finding…)."""
    cases = [(item, fault, words) for item, fault, words in ALSO_BREAKS if fault in faults]
    found = {i["id"]: i for i in evaluate(tmp_path, {i for i, _, _ in cases}, faults)["items"]}
    for item, fault, words in cases:
        entry = found[item]
        reasons = [t["reason"] for t in entry["tests"] if t["outcome"] == "fail"]
        assert entry["verdict"] == "fail", (fault, entry)
        assert all(r.startswith(f"[{item}]") for r in reasons), reasons
        assert any(words in r for r in reasons), (fault, reasons)


@pytest.mark.slow
def test_unreachable_platform_is_an_error_not_a_fail(tmp_path: Path) -> None:
    """A management API that cannot be reached at all leaves nothing to measure: 9.4.2.a is
    ``error``, never an availability of 0 %."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = tmp_path / "unreachable.yaml"
    target.write_text(yaml.safe_dump({
        "name": "unreachable", "standard": "saia-aicloud-2025-04-29",
        "adapters": {"platform": {"url": f"http://127.0.0.1:{port}/",
                                  "token": "sca-unreachable-token", "retries": 0,
                                  "timeout": 2}}}), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pytest", f"--sca-target={target}", "-p",
                           "no:cacheprovider", "--sca-preflight=off", "-m", "clause(id='9.4.2.a')",
                           "--sca-json=report.json"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-2000:]
    verdict, reason = verdicts(json.loads((tmp_path / "report.json").read_text()))["9.4.2.a"]
    assert verdict == "error" and "cannot reach" in reason, (verdict, reason)


@pytest.mark.slow
def test_accelerator_figures_measured_without_accelerator_are_not_assessed(
        tmp_path: Path) -> None:
    """A target declaring accelerators (not `compute_device: cpu`) whose probe jobs see no
    accelerator: 9.1.a and 9.2.a are not_assessed, never compared with a GPU peak. The
    sandbox serves as that target, with its target file's perf section changed."""
    sandbox = launch()
    try:
        document = yaml.safe_load(sandbox.target_path.read_text(encoding="utf-8"))
        document["capabilities"]["perf"]["compute_device"] = "accelerator"
        document["capabilities"]["perf"]["training"]["chip"] = "H100"
        target = tmp_path / "accelerator-target.yaml"
        target.write_text(yaml.safe_dump(document), encoding="utf-8")
        command = [sys.executable, "-m", "pytest", f"--sca-target={target}", "-p",
                   "no:cacheprovider", "-m", "clause(id='9.1.a') or clause(id='9.2.a')",
                   "--sca-json=report.json"]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                              timeout=600, env={**os.environ, **sandbox.env})
    finally:
        sandbox.stop()
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    found = verdicts(report)
    assert found["9.1.a"][0] == "not_assessed" and "saw no accelerator" in found["9.1.a"][1]
    assert found["9.2.a"][0] == "not_assessed" and "without an accelerator" in found["9.2.a"][1]


def test_measurements_go_through_a_path_that_never_retries() -> None:
    """The ordinary platform client retries a GET after a 503, as a user's client would; the
    view 9.4.2.a measures through (``unretried()``) sends each request once, so that a failed
    request is counted instead of hidden."""
    from pytest_sca.adapters.base import AdapterContext
    from pytest_sca.adapters.config import PlatformConfig
    from pytest_sca.adapters.platform import PlatformClient
    from pytest_sca.adapters.platform.inventory import PlatformCompute
    from pytest_sca.capabilities import Compute, TargetError

    from ..adapters.stub_server import stub_server

    answers = iter([503, 200, 503, 200])

    def flaky(handler: object) -> tuple[int, str, bytes]:
        status = next(answers)
        body = b'{"name": "stub", "version": "1"}' if status == 200 else b'{"error": {}}'
        return status, "application/json", body

    with stub_server({("GET", "/api/v1/info"): flaky}) as server:
        config = PlatformConfig(url=server.url, token="sca-stub-token-0123456789", retries=2)
        compute: Compute = PlatformCompute(PlatformClient(config, AdapterContext("t", None, "r")))
        assert compute.platform_info()["name"] == "stub"          # 503, retried, 200
        assert server.hits[("GET", "/api/v1/info")] == 2
        with pytest.raises(TargetError, match="503"):
            compute.unretried().platform_info()                     # 503, counted
        assert server.hits[("GET", "/api/v1/info")] == 3
        assert compute.unretried().platform_info()["name"] == "stub"


def test_kubernetes_measurements_go_through_a_client_without_retries(tmp_path: Path) -> None:
    """The Kubernetes adapter's unretried view is the same principal over a client whose
    urllib3 retries are off (the default client retries failed connections three times)."""
    from pytest_sca.adapters.base import AdapterContext
    from pytest_sca.adapters.config import KubernetesConfig
    from pytest_sca.adapters.kubernetes import KubernetesAdapter

    from ..adapters.kube_emulator import emulated_cluster

    with emulated_cluster(tmp_path) as cluster:
        config = KubernetesConfig(kubeconfig=str(cluster.kubeconfig), context="emulated",
                                  namespace="sca-probe")
        adapter = KubernetesAdapter(config, AdapterContext("kube-test", None, "run-1"))
        try:
            compute = adapter.capability("compute")
            measured = compute.unretried()
            assert measured.subject.api.configuration.retries is False
            assert adapter.api.configuration.retries is None
            assert measured.list_nodes() == compute.list_nodes()
        finally:
            adapter.close()
