"""9.4.1 快速诊断 Fast diagnosis."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_sca.capabilities import WaitTimeout
from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext

from .probe_jobs import job_timeout, resources

LAYERS = ("container", "accelerator", "os", "network")
VERDICTS = {"healthy", "degraded", "faulty", "unknown"}
SLEEPER = ["python", "-c", "import time; time.sleep(60)"]


@pytest.mark.clause("9.4.1.a")
@pytest.mark.mutating
def test_diagnosis_per_layer_within_declared_time(sca: CheckContext, jobs: Any,
                                                  diagnostics: Any, probe_image: str,
                                                  cleanup: Cleanup) -> None:
    """Diagnoses a running probe job's containers and its node's accelerators, OS and network,
    all at once; each must finish with a verdict and findings within the declared time."""
    budget = sca.threshold("perf.diagnosis.max_seconds")
    job = jobs.submit(sca.name("diag-job"), probe_image, SLEEPER, resources(accelerators=1),
                      labels=sca.labels)
    running = jobs.wait(job["id"], until={"running"}, timeout=job_timeout(sca))
    node_id = running["workers"][0]["node_id"]
    started = {}
    for layer in LAYERS:
        target = {"job_id": job["id"]} if layer == "container" else {"node_id": node_id}
        started[layer] = (time.monotonic(), diagnostics.start(layer, **target))
    late, wrong = [], []
    for layer, (began, diagnosis) in started.items():
        remaining = budget.value - (time.monotonic() - began)
        try:
            done = diagnostics.wait(diagnosis["id"], timeout=max(0.0, remaining))
        except WaitTimeout as timeout:
            late.append(layer)
            sca.evidence(f"{layer} diagnosis (unfinished)", timeout.last or {})
            sca.measure(f"{layer} diagnosis time", time.monotonic() - began, "s",
                        threshold=budget.value, comparison="<=",
                        threshold_source=budget.source, reference="did not finish")
            continue
        elapsed = time.monotonic() - began
        sca.measure(f"{layer} diagnosis time", elapsed, "s", threshold=budget.value,
                    comparison="<=", threshold_source=budget.source,
                    reference=f"verdict {done.get('verdict')}, platform-reported "
                              f"{done.get('duration_s')} s")
        sca.evidence(f"{layer} diagnosis", done)
        if done.get("verdict") not in VERDICTS or not done.get("findings"):
            wrong.append(f"{layer} (verdict {done.get('verdict')!r}, "
                         f"{len(done.get('findings') or [])} findings)")
        elif elapsed > budget.value:
            late.append(layer)
    assert not late, (f"[9.4.1.a] diagnosis of the {', '.join(late)} layer(s) did not finish "
                      f"within {budget.value:g} s")
    assert not wrong, f"[9.4.1.a] diagnosis without a verdict or findings: {', '.join(wrong)}"
