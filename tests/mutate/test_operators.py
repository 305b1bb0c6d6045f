"""The mutation operators on JSON bodies: what each changes, and that it is deterministic."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_sca.mutate import operators as ops
from pytest_sca.mutate import shape
from pytest_sca.mutate.exchange import Context, Request, Response, endpoint_of


def answer(doc: Any, status: int = 200) -> Response:
    return Response.of_json(status, doc)


def apply(operator: ops.Operator, doc: Any, request: Request | None = None,
          ctx: Context | None = None, status: int = 200) -> Any:
    """The document the client sees (the original when the operator leaves it)."""
    request = request or Request("GET", "/v1/jobs")
    ctx = ctx or Context()
    mutated = operator.mutate(request, answer(doc, status), ctx)
    return doc if mutated is None else mutated.json()


JOBS = {"items": [
    {"id": "j1", "name": "a", "status": "running", "tenant_id": "t1", "gpus": 2,
     "created_at": "2026-11-29T10:00:00Z"},
    {"id": "j2", "name": "b", "status": "pending", "tenant_id": "t1", "gpus": 4,
     "created_at": "2026-11-29T10:00:05Z"},
    {"id": "j3", "name": "c", "status": "failed", "tenant_id": "t2", "gpus": 1,
     "created_at": "2026-11-29T10:00:09Z"},
]}

# JSON documents: objects and lists of objects with scalar leaves, a few levels deep.
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False, allow_infinity=False, width=32),
                    st.text(max_size=8))
keys = st.sampled_from(["id", "name", "status", "tenant_id", "owner", "count", "created_at",
                        "value", "items", "data", "job_id", "total"])
documents = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(keys, children, max_size=5)),
    max_leaves=20)


def test_endpoint_folds_ids() -> None:
    assert endpoint_of("GET", "/v1/jobs/sca-r12-job/logs") == "GET /v1/jobs/{}/logs"
    assert endpoint_of("GET", "/v1/jobs/0f3c9a2e7d") == "GET /v1/jobs/{}"


def test_drop_field_drops_the_same_field_from_every_record_and_keeps_ids() -> None:
    mutated = apply(ops.DropField(), JOBS)
    dropped = set(JOBS["items"][0]) - set(mutated["items"][0])
    assert len(dropped) == 1 and "id" not in dropped
    assert all(set(item) == set(JOBS["items"][0]) - dropped for item in mutated["items"])


def test_drop_field_is_consistent_per_endpoint_and_varies_with_the_seed() -> None:
    request = Request("GET", "/v1/jobs")
    first = apply(ops.DropField(), JOBS, request, Context(seed=1))
    again = apply(ops.DropField(), JOBS, request, Context(seed=1))
    assert first == again
    chosen = {frozenset(set(JOBS["items"][0]) - set(apply(ops.DropField(), JOBS, request,
                                                          Context(seed=s))["items"][0]))
              for s in range(20)}
    assert len(chosen) > 1


def test_rename_field_renames_to_camel_case() -> None:
    doc = {"id": "x", "created_at": "2026-01-01T00:00:00Z"}
    assert apply(ops.RenameField(), doc) == {"id": "x", "createdAt": "2026-01-01T00:00:00Z"}
    assert shape.camel("status") == "Status" and shape.camel("last_sample_at") == "lastSampleAt"


def test_drop_and_rename_also_change_error_answers() -> None:
    error = {"error": {"code": "FORBIDDEN", "message": "no"}}
    assert apply(ops.DropField(), error, status=403) != error
    assert apply(ops.PerturbNumbers(), {"n": 1}, status=403) == {"n": 1}


def test_freeze_timestamps_keeps_the_first_value_seen() -> None:
    ctx, request = Context(), Request("GET", "/v1/metrics")
    first = {"last_sample_at": "2026-11-29T10:00:00Z", "ts": 1764410400.5, "value": 3}
    later = {"last_sample_at": "2026-11-29T10:00:30Z", "ts": 1764410430.5, "value": 4}
    assert apply(ops.FreezeTimestamps(), first, request, ctx) == first
    assert apply(ops.FreezeTimestamps(), later, request, ctx) == {**first, "value": 4}


def test_freeze_timestamps_freezes_prometheus_samples() -> None:
    ctx, request = Context(), Request("GET", "/api/v1/query")

    def series(t: float) -> dict[str, Any]:
        return {"data": {"result": [{"metric": {}, "value": [t, "1"]}]}}

    apply(ops.FreezeTimestamps(), series(1764410400.0), request, ctx)
    frozen = apply(ops.FreezeTimestamps(), series(1764410460.0), request, ctx)
    assert frozen["data"]["result"][0]["value"][0] == 1764410400.0


def test_perturb_numbers_changes_one_numeric_field_everywhere() -> None:
    mutated = apply(ops.PerturbNumbers(), JOBS)
    changed = {key for before, after in zip(JOBS["items"], mutated["items"], strict=True)
               for key in before if before[key] != after[key]}
    assert changed == {"gpus"}
    assert all(a["gpus"] != b["gpus"] for a, b in zip(JOBS["items"], mutated["items"], strict=True))


def test_truncate_lists_keeps_the_first_half() -> None:
    mutated = apply(ops.TruncateLists(), JOBS)
    assert [item["id"] for item in mutated["items"]] == ["j1", "j2"]
    assert apply(ops.TruncateLists(), {"items": [{"id": 1}]}) == {"items": [{"id": 1}]}


def test_truncate_lists_cuts_event_streams_but_keeps_done() -> None:
    events = b"".join(b'data: {"n": %d}\n\n' % i for i in range(4)) + b"data: [DONE]\n\n"
    response = Response(200, {"content-type": "text/event-stream"}, events)
    mutated = ops.TruncateLists().mutate(Request("POST", "/v1/chat"), response, Context())
    assert mutated is not None
    assert mutated.body == b'data: {"n": 0}\n\ndata: {"n": 1}\n\ndata: [DONE]\n\n'


def test_wrong_owner_drops_the_callers_rows_or_reattributes_them() -> None:
    mutated = apply(ops.WrongOwner(), JOBS)
    assert [item["id"] for item in mutated["items"]] == ["j3"]
    ctx = Context()
    apply(ops.WrongOwner(), JOBS, ctx=ctx)     # learns owners t1 and t2
    mine = {"items": [{"id": "a", "tenant_id": "t1"}, {"id": "b", "tenant_id": "t1"}]}
    assert {item["tenant_id"] for item in apply(ops.WrongOwner(), mine, ctx=ctx)["items"]} \
        == {"t2"}


def test_refusal_to_success_echoes_the_request() -> None:
    request = Request("POST", "/v1/jobs/j1/stop", body=json.dumps({"reason": "x"}).encode())
    mutated = ops.RefusalToSuccess().mutate(request, answer({"error": {}}, 403), Context())
    assert mutated is not None and mutated.status == 201 and mutated.json() == {"reason": "x"}
    read = ops.RefusalToSuccess().mutate(Request("GET", "/v1/jobs/j1"), answer({}, 404),
                                         Context())
    assert read is not None and read.status == 200 and read.json() == {"id": "j1"}
    assert ops.RefusalToSuccess().mutate(request, answer({}, 500), Context()) is None


@pytest.mark.parametrize(("method", "path", "intercepted"), [
    ("DELETE", "/v1/jobs/j1", True), ("PATCH", "/v1/quotas/t1", True),
    ("POST", "/v1/jobs/j1/stop", True), ("POST", "/v1/jobs", False),
    ("GET", "/v1/jobs/j1", False)])
def test_no_action_answers_actions_on_existing_resources_without_forwarding(
        method: str, path: str, intercepted: bool) -> None:
    answered = ops.NoAction().intercept(Request(method, path), Context())
    assert (answered is not None) == intercepted
    if answered is not None:
        assert 200 <= answered.status < 300


def test_sporadic_5xx_fails_about_one_in_25_deterministically() -> None:
    def failures(seed: int) -> list[int]:
        ctx, op = Context(seed), ops.Sporadic5xx()
        return [i for i in range(2000)
                if op.intercept(Request("GET", "/v1/health"), ctx) is not None]

    assert failures(3) == failures(3)
    assert 40 <= len(failures(3)) <= 120


def test_delay_holds_about_one_answer_in_ten() -> None:
    ctx, op = Context(), ops.Delay()
    held = [op.delay(Request("GET", f"/v1/x/{i}"), ctx) for i in range(1000)]
    assert 50 <= sum(1 for h in held if h) <= 150 and set(held) <= {0.0, op.seconds}


def test_composite_applies_each_and_parse_names_them() -> None:
    composed = ops.parse("drop_field+truncate_lists")
    assert composed.name == "drop_field+truncate_lists"
    mutated = apply(composed, JOBS)
    assert len(mutated["items"]) == 2 and len(mutated["items"][0]) == len(JOBS["items"][0]) - 1
    assert ops.parse("none").mutate(Request("GET", "/"), answer(JOBS), Context()) is None
    with pytest.raises(ValueError, match="unknown operator nope"):
        ops.parse("drop_field+nope")


@settings(max_examples=150, deadline=None)
@given(doc=documents, seed=st.integers(0, 1000), name=st.sampled_from(sorted(ops.OPERATORS)))
def test_every_operator_is_deterministic_and_keeps_json(doc: Any, seed: int, name: str) -> None:
    request = Request("GET", "/v1/things")

    def once() -> tuple[bytes | None, int]:
        ctx, op = Context(seed), ops.OPERATORS[name]()
        mutated = op.mutate(request, answer(doc), ctx)
        return (None if mutated is None else mutated.body), sum(ctx.fired.values())

    body, fired = once()
    assert once() == (body, fired)
    if body is not None:
        json.loads(body)
        assert fired >= 1


@settings(max_examples=150, deadline=None)
@given(doc=documents)
def test_identity_fields_are_never_dropped_renamed_or_perturbed(doc: Any) -> None:
    def ids(d: Any) -> list[Any]:
        return sorted(((loc, json.dumps(obj.get(loc[-1])))
                       for loc, objs in shape.fields(d, scalar_id).items() for obj in objs),
                      key=str)

    def scalar_id(key: str, value: Any) -> bool:
        return shape.is_identifier(key) and not isinstance(value, (dict, list))

    for op in (ops.DropField(), ops.RenameField(), ops.PerturbNumbers()):
        assert ids(apply(op, doc)) == ids(doc)
