"""8.8 用量统计 Usage statistics of models and workflows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from pytest_sca.capabilities import Refused
from pytest_sca.fixtures import CheckContext

from .probes import generated_workflow

PROBE_CALLS = 3


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _shifted(days: int) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _probe_caller(sca: CheckContext, probe_tenant: Callable[..., Any], inference: Any
                  ) -> tuple[str, Any]:
    """A fresh user of the platform and the inference API as that user: its usage is only
    the probe's calls."""
    user = probe_tenant("usage")
    caller = inference.acting_as(user.user["api_key"])
    try:
        caller.list_models()
    except Refused as refusal:
        sca.not_assessed(f"the inference endpoint refuses a platform user's API key ({refusal}):"
                         " usage per user cannot be attributed to a probe user")
    return str(user.user["id"]), caller


def _totals(model_usage: Any, **query: Any) -> dict[str, int]:
    return {k: int(v) for k, v in (model_usage.query(**query).get("summary") or {}).items()}


@pytest.mark.clause("8.8.a")
@pytest.mark.mutating
def test_requests_and_tokens_are_metered(sca: CheckContext, inference: Any, model_usage: Any,
                                         probe_tenant: Callable[..., Any]) -> None:
    """A probe user makes 3 calls: its usage rises by 3 requests and by exactly the prompt and
    completion tokens the answers reported."""
    user_id, caller = _probe_caller(sca, probe_tenant, inference)
    model = inference.model_ids()[0]
    before = _totals(model_usage, user_id=user_id, model=model)
    reported = {"prompt_tokens": 0, "completion_tokens": 0}
    for n in range(PROBE_CALLS):
        usage = caller.chat([{"role": "user", "content": f"hello number {n}"}], model=model,
                            max_tokens=16 + n).get("usage") or {}
        for key in reported:
            reported[key] += int(usage.get(key, 0))
    after = _totals(model_usage, user_id=user_id, model=model)
    rise = {key: after.get(key, 0) - before.get(key, 0)
            for key in ("requests", "prompt_tokens", "completion_tokens")}
    sca.evidence("usage", {"before": before, "after": after, "answers reported": reported})
    assert rise["requests"] == PROBE_CALLS, (
        f"[8.8.a] usage rose by {rise['requests']} requests after {PROBE_CALLS} calls")
    wrong = {k: (rise[k], reported[k]) for k in reported if rise[k] != reported[k]}
    assert not wrong, (f"[8.8.a] usage tokens differ from what the answers reported "
                       f"(metered, reported): {wrong}")


@pytest.mark.clause("8.8.b")
@pytest.mark.mutating
def test_usage_by_user_model_and_period(sca: CheckContext, inference: Any, model_usage: Any,
                                        probe_tenant: Callable[..., Any]) -> None:
    """A probe user calls model A twice and model B once: the query by user and model returns
    exactly those calls; the day's period holds all of them, the next day's none."""
    user_id, caller = _probe_caller(sca, probe_tenant, inference)
    ids = inference.model_ids()
    model_a, model_b = ids[0], (ids[1] if len(ids) > 1 else None)
    start = _now()
    for _ in range(2):
        caller.chat([{"role": "user", "content": "hello"}], model=model_a, max_tokens=8)
    if model_b:
        caller.chat([{"role": "user", "content": "hello"}], model=model_b, max_tokens=8)
    by_a = model_usage.query(user_id=user_id, model=model_a)
    # Periods a day wide on either side: a clock skew below a day changes nothing.
    today = _totals(model_usage, user_id=user_id, since=_shifted(-1), until=_shifted(1))
    tomorrow = _totals(model_usage, user_id=user_id, since=_shifted(1), until=_shifted(2))
    sca.evidence("usage by user and model", {"start": start, "model A": model_a, "by_a": by_a,
                                             "this period": today, "next period": tomorrow})
    records = by_a.get("items") or []
    requests = int((by_a.get("summary") or {}).get("requests", len(records)))
    strays = [r for r in records if r.get("user_id") != user_id or r.get("model") != model_a]
    assert requests == 2 and not strays, (
        f"[8.8.b] usage filtered by user and model returned {requests} requests "
        f"({len(strays)} of another user or model); the probe made 2")
    if model_b:
        by_b = _totals(model_usage, user_id=user_id, model=model_b)
        assert by_b.get("requests") == 1, (
            f"[8.8.b] usage filtered by model {model_b} returned {by_b.get('requests')} "
            "requests; the probe made 1")
    made = 3 if model_b else 2
    assert today.get("requests") == made and tomorrow.get("requests", 0) == 0, (
        f"[8.8.b] usage by period returned {today.get('requests')} requests for the day of the "
        f"probe's {made} calls and {tomorrow.get('requests')} for the next day")


@pytest.mark.clause("8.8.c")
@pytest.mark.mutating
def test_workflow_runs_are_counted_with_status_and_duration(
        sca: CheckContext, workflow_apps: Any, model_usage: Any,
        workflow_app: Callable[..., dict[str, Any]]) -> None:
    """Two trial runs of a probe workflow appear in the period's workflow usage with their
    status and duration."""
    start = (datetime.now(timezone.utc) - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    workflow = workflow_app(generated_workflow(16, 16, 0x112233, sca.name("usage")))
    runs = [workflow_apps.wait_run(workflow_apps.trial(workflow["id"])["id"]) for _ in range(2)]
    usage = model_usage.workflows(since=start)
    sca.evidence("workflow usage", usage)
    items = {i.get("run_id"): i for i in usage.get("items") or []}
    missing = [r["id"] for r in runs if r["id"] not in items]
    assert not missing, (
        f"[8.8.c] the workflow usage statistics do not list the probe's runs {missing}")
    incomplete = [i for i in (items[r["id"]] for r in runs)
                  if i.get("status") != "succeeded" or not isinstance(i.get("duration_s"),
                                                                     int | float)]
    assert not incomplete, f"[8.8.c] workflow usage lacks status or duration: {incomplete}"
    assert int((usage.get("summary") or {}).get("runs", 0)) >= 2, (
        f"[8.8.c] the period's run count is {(usage.get('summary') or {}).get('runs')}")
