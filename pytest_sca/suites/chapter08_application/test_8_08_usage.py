"""8.8 用量统计 Usage statistics of models and workflows."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone

import pytest

from pytest_sca.capabilities import (
    Completion,
    ModelUsage,
    ModelUsageReport,
    TargetError,
    WaitTimeout,
    WorkflowApps,
    WorkflowRun,
    WorkflowUsageReport,
    wait_for,
)
from pytest_sca.fixtures import CheckContext

from .conftest import MakeWorkflowApp, ProbeCaller
from .probes import generated_workflow

PROBE_CALLS = 3
#: Token counts a usage report sums, each line's and the summary's.
TOKENS = ("prompt_tokens", "completion_tokens")
#: How far a reported duration may exceed what the check saw, and differ from the run's own
#: start and end (clock resolution, polling).
DURATION_SLACK_S = 1.0


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _shifted(**delta: float) -> str:
    return _stamp(datetime.now(timezone.utc) + timedelta(**delta))


def _count(record: Mapping[str, object], key: str) -> int:
    """A count a record states (0 when it states none)."""
    value = record.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _reported(answer: Completion, item: str) -> dict[str, int]:
    """The tokens an answer says it used; :class:`TargetError` when it says none."""
    usage = answer.get("usage") or {}
    if not all(isinstance(usage.get(key), int) for key in TOKENS):
        raise TargetError(f"[{item}] an answer reports no token usage to compare with: {usage}")
    return {key: _count(usage, key) for key in TOKENS}


def _totals(report: ModelUsageReport, item: str, *, user_id: str,
            model: str | None = None) -> dict[str, int]:
    """The requests and tokens of a usage report's lines, once they are all its query's (the
    user's, the model's) and the summary (what it states of them) is their sum."""
    lines = report.get("items") or []
    strays = [line for line in lines if line.get("user_id") != user_id
              or (model is not None and line.get("model") != model)]
    assert not strays, (
        f"[{item}] usage filtered by user and model returned {len(strays)} lines of another "
        f"user or model: {strays[:2]}")
    summed = {key: sum(_count(line, key) for line in lines) for key in ("requests", *TOKENS)}
    summary = report.get("summary") or {}
    wrong = {key: (summary.get(key), value) for key, value in summed.items()
             if key in summary and summary.get(key) != value}
    total = summary.get("total_tokens")
    if total is not None and total != summed["prompt_tokens"] + summed["completion_tokens"]:
        wrong["total_tokens"] = (total, summed["prompt_tokens"] + summed["completion_tokens"])
    assert not wrong, (
        f"[{item}] the usage summary disagrees with its {len(lines)} lines (summary, lines): "
        f"{wrong}")
    return summed


def _settled(sca: CheckContext, read: Callable[[], ModelUsageReport], requests: int
             ) -> ModelUsageReport:
    """The usage report once its lines or its summary count ``requests`` requests, or as last
    read after the target's ``usage.max_delay_s``."""

    def counted(report: ModelUsageReport) -> bool:
        lines = sum(_count(line, "requests") for line in report.get("items") or [])
        return max(lines, _count(report.get("summary") or {}, "requests")) >= requests

    try:
        return wait_for(read, counted, sca.settings.usage.max_delay_s,
                        lambda _: "usage not yet recorded",
                        first=0.2, longest=5.0)
    except WaitTimeout as late:
        last: ModelUsageReport | None = late.last
        return last if last is not None else read()


@pytest.mark.clause("8.8.a")
@pytest.mark.mutating
def test_requests_and_tokens_are_metered(sca: CheckContext, model_usage: ModelUsage,
                                         probe_caller: Callable[[str], ProbeCaller]) -> None:
    """A probe user makes 3 calls: its usage (summary and lines agreeing) rises by 3 requests
    and by exactly the prompt and completion tokens the answers reported."""
    probe = probe_caller("usage")
    model = probe.inference.model_ids()[0]

    def query() -> ModelUsageReport:
        return model_usage.query(user_id=probe.user_id, model=model)

    before = _totals(query(), "8.8.a", user_id=probe.user_id, model=model)
    reported = dict.fromkeys(TOKENS, 0)
    for n in range(PROBE_CALLS):
        answer = probe.inference.chat([{"role": "user", "content": f"hello number {n}"}],
                                      model=model, max_tokens=16 + n)
        for key, value in _reported(answer, "8.8.a").items():
            reported[key] += value
    report = _settled(sca, query, before["requests"] + PROBE_CALLS)
    sca.evidence("usage", {"before": before, "after": report, "answers reported": reported})
    after = _totals(report, "8.8.a", user_id=probe.user_id, model=model)
    rise = {key: after[key] - before[key] for key in after}
    assert rise["requests"] == PROBE_CALLS, (
        f"[8.8.a] usage rose by {rise['requests']} requests after {PROBE_CALLS} calls")
    wrong = {k: (rise[k], reported[k]) for k in reported if rise[k] != reported[k]}
    assert not wrong, (f"[8.8.a] usage tokens differ from what the answers reported "
                       f"(metered, reported): {wrong}")


def _rise(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """How much each count rose between two readings."""
    return {key: after[key] - before.get(key, 0) for key in after}


@pytest.mark.clause("8.8.b")
@pytest.mark.mutating
@pytest.mark.parametrize("query", ["user-and-model", "period"])
def test_usage_by_user_model_and_period(sca: CheckContext, model_usage: ModelUsage,
                                        probe_caller: Callable[[str], ProbeCaller],
                                        query: str) -> None:
    """[user-and-model] a probe user calls model A twice and model B once: the query by user
    and model rises by exactly those calls, with the tokens their answers reported;
    [period] the day around a probe user's 2 calls rises by both, the next day holds none.
    Counts are compared before and after the calls, so a second principal that has used the
    API before is measured by what this check made it do. With one model to call, the model
    filter is not shown to leave another model's calls out: [user-and-model] is then
    not_assessed, after its model A half has passed."""
    probe = probe_caller("usage")
    ids = probe.inference.model_ids()
    model_a, model_b = ids[0], (ids[1] if len(ids) > 1 else None)

    def by_model(model: str) -> ModelUsageReport:
        return model_usage.query(user_id=probe.user_id, model=model)

    def today() -> ModelUsageReport:
        # Periods a day wide on either side: a clock skew below a day changes nothing.
        return model_usage.query(user_id=probe.user_id, since=_shifted(days=-1),
                                 until=_shifted(days=1))

    if query == "period":
        before = _totals(today(), "8.8.b", user_id=probe.user_id)
    else:
        before = _totals(by_model(model_a), "8.8.b", user_id=probe.user_id, model=model_a)
        before_b = (_totals(by_model(model_b), "8.8.b", user_id=probe.user_id, model=model_b)
                    if model_b else {})
    reported = dict.fromkeys(TOKENS, 0)
    for _ in range(2):
        answer = probe.inference.chat([{"role": "user", "content": "hello"}], model=model_a,
                                      max_tokens=8)
        for key, value in _reported(answer, "8.8.b").items():
            reported[key] += value
    if query == "period":
        rise = _rise(before, _totals(_settled(sca, today, before["requests"] + 2), "8.8.b",
                                     user_id=probe.user_id))
        tomorrow = _totals(model_usage.query(user_id=probe.user_id, since=_shifted(days=1),
                                             until=_shifted(days=2)),
                           "8.8.b", user_id=probe.user_id)
        sca.evidence("usage by period", {"this period's rise": rise, "next period": tomorrow})
        assert rise["requests"] == 2 and tomorrow["requests"] == 0, (
            f"[8.8.b] usage by period rose by {rise['requests']} requests for the day of the "
            f"probe's 2 calls and holds {tomorrow['requests']} for the next day")
        return
    if model_b:
        probe.inference.chat([{"role": "user", "content": "hello"}], model=model_b,
                             max_tokens=8)
    by_a = _settled(sca, lambda: by_model(model_a), before["requests"] + 2)
    sca.evidence("usage by user and model", {"model A": model_a, "before": before,
                                             "by_a": by_a, "answers reported": reported})
    rise = _rise(before, _totals(by_a, "8.8.b", user_id=probe.user_id, model=model_a))
    assert rise["requests"] == 2, (
        f"[8.8.b] usage filtered by user and model rose by {rise['requests']} requests; "
        "the probe made 2")
    wrong = {k: (rise[k], reported[k]) for k in reported if rise[k] != reported[k]}
    assert not wrong, (f"[8.8.b] usage filtered by user and model counts other tokens than "
                       f"the probe's answers reported (metered, reported): {wrong}")
    if not model_b:
        sca.not_assessed(
            f"the inference API lists one model ({model_a}): usage by user and model matched "
            "the probe's 2 calls, but without a second model to call the model filter is not "
            "shown to leave another model's calls out (serve a second model, or name two in "
            "adapters.openai.models)")
    rise_b = _rise(before_b, _totals(
        _settled(sca, lambda: by_model(model_b), before_b["requests"] + 1),
        "8.8.b", user_id=probe.user_id, model=model_b))
    assert rise_b["requests"] == 1, (
        f"[8.8.b] usage filtered by model {model_b} rose by {rise_b['requests']} "
        "requests; the probe made 1")


def _seconds(run: WorkflowRun) -> float | None:
    """How long a run took by its own start and end times, when it gives both."""
    try:
        start = datetime.fromisoformat(str(run.get("started_at")))
        end = datetime.fromisoformat(str(run.get("finished_at")))
    except ValueError:
        return None
    return (end - start).total_seconds()


@pytest.mark.clause("8.8.c")
@pytest.mark.mutating
def test_workflow_runs_are_counted_with_status_and_duration(
        sca: CheckContext, workflow_apps: WorkflowApps, model_usage: ModelUsage,
        workflow_app: MakeWorkflowApp) -> None:
    """Two trial runs of a probe workflow appear in the period's workflow usage with their
    status and a duration that is positive, no longer than the check saw the run take and
    close to the run's own start and end; the summary is the sum of its lines."""
    since = _shifted(seconds=-5)
    workflow = workflow_app(generated_workflow(16, 16, 0x112233, sca.name("usage")))
    runs: dict[str, WorkflowRun] = {}
    observed: dict[str, float] = {}
    for _ in range(2):
        began = time.monotonic()
        run = workflow_apps.wait_run(workflow_apps.trial(workflow["id"])["id"])
        observed[run["id"]] = time.monotonic() - began
        runs[run["id"]] = run
    until = _shifted(seconds=5)

    def read() -> WorkflowUsageReport:
        return model_usage.workflows(since=since, until=until)

    try:
        usage = wait_for(read, lambda u: set(runs) <= {i.get("run_id") for i in
                                                       u.get("items") or []},
                         sca.settings.usage.max_delay_s,
                         lambda _: "the probe's runs not yet counted",
                         first=0.2, longest=5.0)
    except WaitTimeout as late:
        usage = late.last if late.last is not None else read()
    sca.evidence("workflow usage", usage)
    sca.evidence("runs as the check saw them", {
        run_id: {"status": run.get("status"), "seconds observed": round(observed[run_id], 3),
                 "started_at": run.get("started_at"), "finished_at": run.get("finished_at")}
        for run_id, run in runs.items()})
    lines = usage.get("items") or []
    items = {line.get("run_id"): line for line in lines}
    missing = [run_id for run_id in runs if run_id not in items]
    assert not missing, (
        f"[8.8.c] the workflow usage statistics do not list the probe's runs {missing}")
    wrong = []
    for run_id, run in runs.items():
        line = items[run_id]
        took, own = line.get("duration_s"), _seconds(run)
        if line.get("status") != run.get("status"):
            wrong.append(f"run {run_id} is {line.get('status')}, it ended {run.get('status')}")
        if isinstance(took, bool) or not isinstance(took, int | float) or not (
                0 < took <= observed[run_id] + DURATION_SLACK_S):
            wrong.append(f"run {run_id} took {took!r} s, the check saw it take "
                         f"{observed[run_id]:.3f} s")
        elif own is not None and abs(took - own) > DURATION_SLACK_S:
            wrong.append(f"run {run_id} took {took} s, its start and end are {own:.3f} s apart")
    assert not wrong, f"[8.8.c] workflow usage misstates the probe's runs: {'; '.join(wrong)}"
    summary = usage.get("summary") or {}
    statuses = [line.get("status") for line in lines]
    duration = sum(float(line.get("duration_s") or 0) for line in lines)
    expected = {"runs": len(lines), "succeeded": statuses.count("succeeded"),
                "failed": statuses.count("failed")}
    disagree: dict[str, tuple[object, object]] = {
        key: (summary.get(key), value) for key, value in expected.items()
                if key in summary and summary.get(key) != value}
    if "duration_s" in summary and abs(float(summary.get("duration_s") or 0) - duration) \
            > 0.01 + 1e-3 * len(lines):
        disagree["duration_s"] = (summary.get("duration_s"), round(duration, 6))
    assert not disagree, (
        f"[8.8.c] the workflow usage summary disagrees with its {len(lines)} lines "
        f"(summary, lines): {disagree}")
