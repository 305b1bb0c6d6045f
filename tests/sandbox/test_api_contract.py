"""The API's published contract: a valid OpenAPI document, JSON errors, no 5xx under fuzzing."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from .helpers import RunningSandbox

FUZZ_CONFIG = {
    "phases": {"stateful": {"enabled": False}},
    "generation": {"max-examples": 10},
}


@pytest.fixture(scope="module")
def fuzz_target(sandbox: RunningSandbox) -> RunningSandbox:
    """The module's sandbox with the admin's own tenant at a zero quota.

    Fuzzed job submissions then test admission (409) without running random
    commands on this machine.
    """
    sandbox.admin.ok("PUT", "/tenants/platform/quota",
                     json={"cpu": 0, "memory_gib": 0, "accelerators": 0})
    return sandbox


@pytest.mark.slow
def test_fuzzing_finds_no_server_error_and_answers_match_the_document(
        fuzz_target: RunningSandbox) -> None:
    """Every operation of the OpenAPI document, 10 generated requests each (schemathesis's
    strategies driven by Hypothesis directly, not through its pytest plugin, which does not
    follow pytest's releases): no 5xx, and every answer matches its documented schema."""
    url = fuzz_target.admin.base + "openapi.json"
    api = schemathesis.openapi.from_url(url, config=schemathesis.Config.from_dict(FUZZ_CONFIG))
    headers = {"Authorization": f"Bearer {fuzz_target.admin.token}"}
    failures: list[str] = []
    operations = 0
    for result in api.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def exercise(case: Any) -> None:
            case.call_and_validate(headers=headers,
                                   checks=[not_a_server_error, response_schema_conformance])

        try:
            exercise()
        except Exception as exc:  # noqa: BLE001 - every operation's failure is collected
            failures.append(f"{operation.label}: {' '.join(str(exc).split())[:300]}")
    assert operations > 100, operations
    assert not failures, "\n".join(failures)


def test_openapi_document_is_valid(sandbox: RunningSandbox) -> None:
    document = requests.get(sandbox.admin.base + "openapi.json", timeout=10).json()
    validate(document)
    paths = document["paths"]
    assert {"/api/v1/jobs", "/api/v1/jobs/{job_id}/logs", "/api/v1/audit"} <= set(paths)


@pytest.mark.parametrize(
    ("token", "method", "path", "status", "code"),
    [
        (None, "GET", "/jobs", 401, "unauthorized"),
        ("sk-sca-wrong", "GET", "/jobs", 401, "unauthorized"),
        ("admin", "GET", "/jobs/job-none", 404, "not_found"),
        ("admin", "POST", "/jobs", 422, "invalid_request"),
        ("admin", "GET", "/bills?period=2024-13", 422, "invalid_request"),
        ("admin", "DELETE", "/tenants/platform", 409, "conflict"),
    ],
)
def test_errors_are_json_with_a_code(
    sandbox: RunningSandbox, token: str | None, method: str, path: str, status: int, code: str
) -> None:
    api = sandbox.admin if token == "admin" else sandbox.admin.as_key(token or "")
    answer = api.call(method, path, json={} if method == "POST" else None)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"]


def test_metrics_are_prometheus_text(sandbox: RunningSandbox) -> None:
    _, admin = sandbox.admin.new_tenant("metered")
    job = admin.ok("POST", "/jobs", 201, json={
        "name": "busy", "image": "pytorch",
        "command": ["python", "-c", "import time\nprint('sca-progress: 0.5', flush=True)\n"
                    "t = time.time()\nwhile time.time() - t < 20: pass"],
        "resources": {"cpu": 1, "memory_gib": 1, "accelerators": 1}})
    admin.wait_job(job["id"], ("running",))
    try:
        samples: dict[str, list[Any]] = {}
        for _ in range(100):
            text = requests.get(admin.base + "metrics", timeout=10,
                                headers={"Authorization": f"Bearer {admin.token}"}).text
            samples = {f.name: f.samples for f in text_string_to_metric_families(text)}
            progress = [s for s in samples.get("sca_job_progress_ratio", [])
                        if s.labels["job"] == job["id"]]
            if progress and progress[0].value == 0.5:
                break
        else:
            raise AssertionError("job progress never reached the metrics")
        cpu = [s for s in samples["sca_job_cpu_seconds"] if s.labels["job"] == job["id"]]
        rss = [s for s in samples["sca_job_memory_rss_bytes"] if s.labels["job"] == job["id"]]
        assert cpu and rss[0].value > 1_000_000, "a running python worker has a real RSS"
        held = [s for s in samples["sca_accelerator_utilization_ratio"]
                if s.labels["job"] == job["id"]]
        assert len(held) == 1 and held[0].labels["simulated"] == "true"
        nodes = {s.labels["node"] for s in samples["sca_node_cpu_utilization_ratio"]}
        assert {"bm-1", "bm-2", "ct-2"} <= nodes
        assert "sca_node_network_receive_bytes" in samples
        assert "sca_node_disk_used_bytes" in samples
    finally:
        admin.ok("POST", f"/jobs/{job['id']}/stop")
