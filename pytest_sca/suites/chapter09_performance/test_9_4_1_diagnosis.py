"""9.4.1 快速诊断 Fast diagnosis."""

from __future__ import annotations

import time

import pytest

from pytest_sca.capabilities import Diagnostics, Jobs, LayerDiagnosis, TargetError, WaitTimeout
from pytest_sca.fixtures import CheckContext

from ..library import SLEEPER, time_resolution
from .probe_jobs import epoch, job_timeout, resources

LAYERS = ("container", "accelerator", "os", "network")
#: Verdicts that are findings; ``unknown`` (or none) says the diagnosis found nothing out.
FINDINGS = frozenset({"healthy", "degraded", "faulty"})
#: Slack of a reported duration beyond what the check observed (polling, clock reading).
DURATION_SLACK_S = 0.5


def _assert_subject(done: LayerDiagnosis, layer: str, subject: str) -> None:
    """The diagnosis is of the layer and the subject (job or node) asked for: its findings
    are about them. A diagnosis that names no subject cannot be tied to it: error."""
    key = "job_id" if layer == "container" else "node_id"
    named = done.get(key)
    if not named:
        raise TargetError(f"[9.4.1.a] the {layer} diagnosis names no {key}: its findings cannot "
                          f"be tied to {subject}, the subject asked for")
    assert named == subject and done.get("layer", layer) == layer, (
        f"[9.4.1.a] the {layer} diagnosis asked for {key} {subject} reports on the "
        f"{done.get('layer')} layer of {named}: its findings are not about the subject asked for")


@pytest.mark.clause("9.4.1.a")
@pytest.mark.measuring
@pytest.mark.mutating
@pytest.mark.parametrize("layer", LAYERS)
def test_diagnosis_per_layer_within_declared_time(sca: CheckContext, jobs: Jobs,
                                                  diagnostics: Diagnostics, probe_image: str,
                                                  layer: str) -> None:
    """Diagnoses one layer (a running probe job's containers, or its node's accelerators, OS
    or network); it must finish within the declared time with a verdict and findings about
    the subject asked for (the diagnosis names that job or node), and a positive duration no
    longer than the check saw it take."""
    budget = sca.threshold("perf.diagnosis.max_seconds")
    job = jobs.submit(sca.name(f"diag-{layer}"), probe_image, SLEEPER,
                      resources(accelerators=1), labels=sca.labels)
    running = jobs.wait(job["id"], until={"running"}, timeout=job_timeout(sca))
    node_id = (running.get("workers") or [{}])[0].get("node_id")
    if layer != "container" and not node_id:
        raise TargetError(f"running job {job['id']} names no node its worker runs on")
    began = time.monotonic()
    started = (diagnostics.start(layer, job_id=job["id"]) if layer == "container"
               else diagnostics.start(layer, node_id=node_id))
    remaining = budget.value - (time.monotonic() - began)
    try:
        done = diagnostics.wait(started["id"], timeout=max(0.0, remaining))
    except WaitTimeout as timeout:
        observed = time.monotonic() - began
        sca.evidence(f"{layer} diagnosis (unfinished)", timeout.last or {})
        sca.measure(f"{layer} diagnosis time", observed, "s", threshold=budget.value,
                    comparison="<=", threshold_source=budget.source,
                    reference="did not finish")
        pytest.fail(f"[9.4.1.a] diagnosis of the {layer} layer did not finish within "
                    f"{budget.value:g} s")
    observed = time.monotonic() - began
    sca.evidence(f"{layer} diagnosis", done)
    reported = done.get("duration_s")
    sca.measure(f"{layer} diagnosis time", observed, "s", threshold=budget.value,
                comparison="<=", threshold_source=budget.source,
                reference=f"verdict {done.get('verdict')}, platform-reported {reported} s")
    assert observed <= budget.value, (
        f"[9.4.1.a] diagnosis of the {layer} layer did not finish within {budget.value:g} s "
        f"(took {observed:.1f} s)")
    findings = [f for f in done.get("findings") or [] if isinstance(f, str) and f.strip()]
    assert done.get("verdict") in FINDINGS and findings, (
        f"[9.4.1.a] the {layer} diagnosis reached no finding: verdict "
        f"{done.get('verdict')!r}, {len(findings)} findings")
    _assert_subject(done, layer, job["id"] if layer == "container" else str(node_id))
    assert isinstance(reported, (int, float)) and 0 < reported <= observed + DURATION_SLACK_S, (
        f"[9.4.1.a] the {layer} diagnosis reports a duration of {reported} s, the check saw "
        f"it take {observed:.2f} s")
    begun, ended = done.get("started_at"), done.get("finished_at")
    if begun and ended:
        span = epoch(ended, "finished_at") - epoch(begun, "started_at")
        slack = time_resolution(begun, ended) + DURATION_SLACK_S
        assert abs(span - reported) <= slack, (
            f"[9.4.1.a] the {layer} diagnosis reports a duration of {reported} s, its own "
            f"start and end times {span:.2f} s apart")
