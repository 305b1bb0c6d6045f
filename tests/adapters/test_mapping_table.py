"""The declarative mapping: templates, answer reshaping, and one-line errors for bad mappings.

These test the engine alone (it opens no connection: the client hands it a ``send``);
the real-server proofs are test_mapping_proxy.py (a vendor API in front of the
sandbox), test_mapping_mlflow.py and test_mapping_slurm.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from pytest_sca.adapters.config import PlatformConfig
from pytest_sca.adapters.mapping import (
    FILTERS,
    OPERATIONS,
    MappingError,
    Reply,
    Request,
    Unsupported,
    build_table,
)
from pytest_sca.capabilities import Refused, TargetError

DOCS = Path(__file__).parents[2] / "docs" / "mapping.md"
VENDOR_JOB_GET = {
    "method": "get",
    "path": "/v2/workloads/{job_id}",
    "result": "/data",
    "response": {"id": "/workloadId", "status": "/state", "exit_code": "/result/exitCode"},
    "values": {"status": {"RUNNING": "running", "DONE": "succeeded"}},
}
SUBMIT_PARAMS = {"name": "x", "image": "img:1", "command": ["python", "-c", "print('a b')"],
                 "workers": 2, "resources": {"cpu": 2, "memory_gib": 1.5, "accelerators": 1},
                 "env": {"A": "1"}, "labels": {"sca-run": "r-1", "team": "ml"}}


class Script:
    """A scripted ``send``: answers in order, every request kept."""

    def __init__(self, *answers: Reply | Callable[[Request], Reply]) -> None:
        self.answers = list(answers)
        self.sent: list[Request] = []

    def __call__(self, request: Request) -> Reply:
        self.sent.append(request)
        answer = self.answers.pop(0)
        return answer(request) if callable(answer) else answer


def ok(body: Any, status: int = 200, **headers: str) -> Reply:
    return Reply(status, headers, body)


class Clock:
    """Time that passes only when the engine sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def submit_mapping(body: Any) -> dict[str, Any]:
    return {"jobs.submit": {"method": "POST", "path": "/v2/workloads", "body": body}}


# -- the reference table and the simple placeholders ------------------------------------------


def test_reference_routes_are_the_default_table() -> None:
    table = build_table(None)
    request = table.render("jobs.logs", {"job_id": "j 1", "worker": 0})
    assert (request.method, request.path, request.query) == (
        "GET",
        "/api/v1/jobs/j%201/logs",
        {"worker": 0},
    )
    answer = {"items": [{"id": "a"}, {"id": "b"}]}
    assert table.extract("jobs.list", answer) == [{"id": "a"}, {"id": "b"}]


def test_simple_placeholders_keep_types_drop_absent_and_reach_into_mappings() -> None:
    table = build_table(submit_mapping({
        "workloadName": "run-{name}",
        "spec": {"image": "{image}", "cmd": "{command}", "gpus": "{resources.accelerators}",
                 "replicas": "{workers}", "env": "{env}", "missing": "{resources.nothing}"},
        "tags": "{labels}",
        "literal": "{{not a placeholder}}",
    }))
    request = table.render("jobs.submit", {**SUBMIT_PARAMS, "env": None})
    assert request.body == {
        "workloadName": "run-x",
        "spec": {"image": "img:1", "cmd": ["python", "-c", "print('a b')"], "gpus": 1,
                 "replicas": 2},
        "tags": {"sca-run": "r-1", "team": "ml"},
        "literal": "{not a placeholder}",
    }


def test_expressions_turn_argv_into_shell_text_and_reach_any_key() -> None:
    table = build_table(submit_mapping({
        "script": "#!/bin/bash\nexec {command | shell_quote}",
        "joined": "{command | join(' ')}",
        "third": "{command.2}",
        "run": "{labels['sca-run']}",
        "comment": "{labels | to_json}",
        "tags": "{labels | merge({'owner': 'sca'}, const.extra_tags) | dict_to_list}",
        "memory_bytes": "{resources.memory_gib | gib_to_bytes}",
        "memory_mib": "{resources.memory_gib | unit('GiB', 'MiB')}",
        "millicpu": "{resources.cpu | cores_to_millicores}",
        "partition": "{const.partition}",
        "queue": "{env.QUEUE | default('batch')}",
        "image": "{image}", "name": "{name}", "workers": "{workers}", "env": "{env}",
    }))
    body = table.render("jobs.submit", SUBMIT_PARAMS,
                        const={"partition": "debug", "extra_tags": {"cost": "lab"}}).body
    assert body["script"] == "#!/bin/bash\nexec python -c 'print('\"'\"'a b'\"'\"')'"
    assert body["joined"] == "python -c print('a b')"
    assert body["third"] == "print('a b')"
    assert body["run"] == "r-1"
    assert body["comment"] == '{"sca-run":"r-1","team":"ml"}'
    assert body["tags"] == [{"key": "sca-run", "value": "r-1"}, {"key": "team", "value": "ml"},
                            {"key": "owner", "value": "sca"}, {"key": "cost", "value": "lab"}]
    assert (body["memory_bytes"], body["memory_mib"], body["millicpu"]) == (1610612736, 1536,
                                                                           2000)
    assert (body["partition"], body["queue"]) == ("debug", "batch")


@pytest.mark.parametrize(("expression", "value", "expected"), [
    ("{value | rfc3339}", 1700000000, "2023-11-14T22:13:20Z"),
    ("{value | rfc3339('ms')}", 1700000000123, "2023-11-14T22:13:20.123000Z"),
    ("{value | rfc3339}", None, None),
    ("{value | epoch}", "2023-11-14T22:13:20Z", 1700000000),
    ("{value | epoch('ms')}", "2023-11-14T23:13:20.5+01:00", 1700000000500),
    ("{value | epoch}", "2023-11-14T22:13:20.123456789Z", 1700000000.123456),
    ("{value | bytes_to_gib}", 3221225472, 3),
    ("{value | millicores_to_cores}", 1500, 1.5),
    ("{value | quantity}", "16Gi", 17179869184),
    ("{value | quantity('GiB')}", "512Mi", 0.5),
    ("{value | quantity}", "250m", 0.25),
    ("{value | unit('ms', 's')}", 2500, 2.5),
    ("{value | from_json}", '{"a": [1]}', {"a": [1]}),
    ("{value | from_json({})}", "", {}),
    ("{value | list_to_dict}", [{"key": "a", "value": "1"}], {"a": "1"}),
    ("{value | list_to_dict}", ["a=1", "b=2"], {"a": "1", "b": "2"}),
    ("{value | omit('b')}", {"a": 1, "b": 2}, {"a": 1}),
    ("{value | pick('b')}", {"a": 1, "b": 2}, {"b": 2}),
    ("{value | translate({'RUNNING': 'running'})}", "RUNNING", "running"),
    ("{value | translate({'RUNNING': 'running'})}", "OTHER", "OTHER"),
    ("{value | label_selector}", "sca-run=abc,team", {"sca-run": "abc", "team": None}),
    ("{value | b64encode}", "user:pass", "dXNlcjpwYXNz"),
    ("{value | b64decode}", "dXNlcjpwYXNz", "user:pass"),
    ("{value | split(',')}", "a,b", ["a", "b"]),
    ("{value | default(7)}", None, 7),
    ("{value | shell_quote}", "it's", "'it'\"'\"'s'"),
])
def test_filters(expression: str, value: Any, expected: Any) -> None:
    table = build_table({"jobs.list": {
        "method": "GET", "path": "/x", "items": "/items",
        "response": {"out": expression.replace("value", "item.v")},
        "filter": {"status": "field", "label": "labels"}}})
    shaped = table.extract("jobs.list", {"items": [{"v": value}]})
    assert shaped == [{"out": expected}]


def test_a_list_inside_text_is_an_error_that_says_how_to_turn_it_into_text() -> None:
    table = build_table(submit_mapping({
        "script": "run {command}", "image": "{image}", "name": "{name}", "workers": "{workers}",
        "resources": "{resources}", "env": "{env}", "labels": "{labels}"}))
    with pytest.raises(TargetError, match=r"\{command\} is a list inside text: write "
                                          r"\{command \| join\(' '\)\}, \{command \| shell_quote"):
        table.render("jobs.submit", SUBMIT_PARAMS)


def test_the_sandbox_keeps_templates_away_from_python() -> None:
    table = build_table({"jobs.get": {"method": "GET", "path": "/x/{job_id}",
                                      "query": {"q": "{job_id.__class__.__mro__}"}}})
    assert table.render("jobs.get", {"job_id": "1"}).query == {}
    mutating = build_table({"jobs.get": {"method": "GET", "path": "/x/{job_id}",
                                         "query": {"q": "{const.items.append(1)}"}}})
    with pytest.raises(TargetError, match="SecurityError"):
        mutating.render("jobs.get", {"job_id": "1"}, const={"items": []})


# -- answers --------------------------------------------------------------------------------


def test_response_pointers_templates_constants_and_value_translation() -> None:
    table = build_table({"jobs.get": {
        **VENDOR_JOB_GET,
        "response": {**VENDOR_JOB_GET["response"],
                     "created_at": "{item.submitted | rfc3339('ms')}",
                     "labels": "{item.comment | from_json({})}",
                     "name": "job {item.workloadId}",
                     "simulated": False}}})
    answer = {"data": {"workloadId": "w-1", "state": "DONE", "result": {"exitCode": 0},
                       "submitted": 1700000000000, "comment": '{"sca-run": "r"}'}}
    assert table.extract("jobs.get", answer) == {
        "id": "w-1", "status": "succeeded", "exit_code": 0, "created_at": "2023-11-14T22:13:20Z",
        "labels": {"sca-run": "r"}, "name": "job w-1", "simulated": False}
    pending = {"data": {"workloadId": "w-2", "state": "QUEUED"}}
    assert table.extract("jobs.get", pending)["exit_code"] is None


def test_nested_lists_are_renamed_item_by_item() -> None:
    table = build_table({"jobs.get": {
        "method": "GET", "path": "/j/{job_id}",
        "response": {"id": "/id", "workers": {
            "each": "/replicas",
            "fields": {"rank": "/index", "status": "/phase", "node_id": "{item.host or none}"},
            "values": {"status": {"Up": "running"}}}}}})
    answer = {"id": "j", "replicas": [{"index": 0, "phase": "Up", "host": "n1"},
                                      {"index": 1, "phase": "Down"}]}
    assert table.extract("jobs.get", answer) == {"id": "j", "workers": [
        {"rank": 0, "status": "running", "node_id": "n1"},
        {"rank": 1, "status": "Down", "node_id": None}]}


def test_missing_list_pointer_is_a_key_error() -> None:
    table = build_table({"jobs.list": {"method": "GET", "path": "/v2/w", "items": "/data/list",
                                       "ignore": ["status", "label"]}})
    with pytest.raises(KeyError):
        table.extract("jobs.list", {"data": {}})


def test_null_entry_and_no_fallback_mean_not_offered() -> None:
    assert isinstance(build_table({"jobs.restart": None}).get("jobs.get").path, str)
    with pytest.raises(Unsupported, match="jobs.restart"):
        build_table({"jobs.restart": None}).get("jobs.restart")
    strict = build_table({"jobs.get": VENDOR_JOB_GET}, fallback="none")
    assert strict.get("jobs.get").path == "/v2/workloads/{job_id}"
    with pytest.raises(Unsupported):
        strict.render("jobs.stop", {"job_id": "1"})


# -- sequences -----------------------------------------------------------------------------


def test_steps_pass_values_from_earlier_answers() -> None:
    table = build_table({"jobs.submit": {
        "steps": [
            {"name": "submitted", "method": "POST", "path": "/submit",
             "body": {"script": "{command | shell_quote}", "image": "{image}", "name": "{name}",
                      "workers": "{workers}", "resources": "{resources}", "env": "{env}",
                      "comment": "{labels | to_json}"}},
            {"method": "GET", "path": "/job/{steps.submitted.job_id}"},
        ],
        "result": "/jobs/0",
        "response": {"id": "{item.job_id | string}", "status": "/state"}}})
    send = Script(ok({"job_id": 42}), ok({"jobs": [{"job_id": 42, "state": "PENDING"}]}))
    assert table.run("jobs.submit", SUBMIT_PARAMS, send) == {"id": "42", "status": "PENDING"}
    assert [(r.method, r.path) for r in send.sent] == [("POST", "/submit"), ("GET", "/job/42")]


def test_until_polls_with_backoff_up_to_the_deadline() -> None:
    table = build_table({"jobs.stop": {
        "steps": [
            {"name": "halt", "method": "POST", "path": "/halt/{job_id}"},
            {"method": "GET", "path": "/operations/{steps.halt.operation}",
             "until": "{answer.done}", "every": 1, "timeout": 10, "format": "none"},
            {"method": "GET", "path": "/jobs/{job_id}"},
        ]}})
    clock = Clock()
    send = Script(ok({"operation": "op-1"}, 202), ok({"done": False}), ok({"done": False}),
                  ok({"done": True}), ok({"id": "j", "status": "stopped"}))
    job = table.run("jobs.stop", {"job_id": "j"}, send, clock=clock, sleep=clock.sleep)
    assert job == {"id": "j", "status": "stopped"}
    assert [r.path for r in send.sent] == ["/halt/j", "/operations/op-1", "/operations/op-1",
                                           "/operations/op-1", "/jobs/j"]
    assert clock.slept == [1, 1.5]
    never = Script(ok({"operation": "op-2"}, 202), *[ok({"done": False})] * 20)
    with pytest.raises(TargetError, match=r"^jobs.stop: GET /operations/op-2 did not reach "
                                          r"\{answer.done\} within 10 s \(last answer 200"):
        table.run("jobs.stop", {"job_id": "j"}, never, clock=clock, sleep=clock.sleep)


def test_compensation_stop_wait_delete_and_undo_on_failure() -> None:
    table = build_table({"jobs.delete": {"steps": [
        {"name": "job", "method": "GET", "path": "/jobs/{job_id}"},
        {"method": "POST", "path": "/jobs/{job_id}/stop", "ok": [409],
         "when": "{steps.job.state in ['RUNNING', 'PENDING']}"},
        {"method": "GET", "path": "/jobs/{job_id}", "until": "{answer.state == 'STOPPED'}",
         "every": 0.1, "timeout": 5, "when": "{steps.job.state != 'STOPPED'}"},
        {"method": "DELETE", "path": "/jobs/{job_id}", "format": "none", "ok": [404]},
    ]}})
    clock = Clock()
    running = Script(ok({"state": "RUNNING"}), ok({}, 202), ok({"state": "RUNNING"}),
                     ok({"state": "STOPPED"}), ok(None, 204))
    assert table.run("jobs.delete", {"job_id": "j"}, running, clock=clock,
                     sleep=clock.sleep) is None
    assert [r.method for r in running.sent] == ["GET", "POST", "GET", "GET", "DELETE"]
    stopped = Script(ok({"state": "STOPPED"}), ok(None, 204))
    table.run("jobs.delete", {"job_id": "j"}, stopped, clock=clock, sleep=clock.sleep)
    assert [r.method for r in stopped.sent] == ["GET", "DELETE"]

    importing = build_table({"models.import": {"steps": [
        {"name": "model", "method": "POST", "path": "/models",
         "body": {"name": "{name}", "kind": "{kind}", "format": "{format}",
                  "license": "{license}", "tags": "{labels}"},
         "compensate": {"method": "DELETE", "path": "/models/{steps.model.id}"}},
        {"method": "POST", "path": "/models/{steps.model.id}/versions",
         "body": {"source": "{source}"}},
    ]}})

    def refuse(request: Request) -> Reply:
        raise Refused(f"{request.method} {request.path}", 400, "INVALID_PARAMETER_VALUE", "bad")

    send = Script(ok({"id": "m-1"}), refuse, ok(None, 204))
    with pytest.raises(Refused, match=r"^models.import step 2: POST /models/m-1/versions"):
        importing.run("models.import", {"name": "n", "source": "s3://x"}, send)
    assert [(r.method, r.path) for r in send.sent][-1] == ("DELETE", "/models/m-1")


def test_for_each_runs_a_step_per_element() -> None:
    table = build_table({"models.update": {"steps": [
        {"method": "PATCH", "path": "/m/{model_id}",
         "body": {"description": "{description}", "name": "{name}", "license": "{license}"}},
        {"method": "POST", "path": "/m/{model_id}/tags", "for_each": "{labels | dict_to_list}",
         "body": {"key": "{item.key}", "value": "{item.value}", "n": "{index}"}},
        {"method": "GET", "path": "/m/{model_id}"},
    ]}})
    send = Script(ok({}), ok({}), ok({}), ok({"id": "m"}))
    table.run("models.update", {"model_id": "m", "labels": {"a": "1", "b": "2"}}, send)
    assert [r.body for r in send.sent[1:3]] == [{"key": "a", "value": "1", "n": 0},
                                                {"key": "b", "value": "2", "n": 1}]


# -- lists ----------------------------------------------------------------------------------


def _list(pages: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"jobs.list": {"method": "GET", "path": "/jobs", "items": "/items",
                          "pages": pages, "filter": {"status": "field", "label": "labels"},
                          **more}}


def test_page_and_offset_pagination() -> None:
    table = build_table(_list({"style": "page", "param": "page", "size_param": "per_page",
                               "size": 2}))
    send = Script(ok({"items": [{"id": 1}, {"id": 2}]}), ok({"items": [{"id": 3}]}))
    assert [j["id"] for j in table.run("jobs.list", {}, send)] == [1, 2, 3]
    assert [r.query for r in send.sent] == [{"per_page": 2, "page": 1},
                                            {"per_page": 2, "page": 2}]
    offsets = build_table(_list({"style": "offset", "param": "offset", "size_param": "limit",
                                 "size": 2, "total": "/total"}))
    send = Script(ok({"items": [{"id": 1}, {"id": 2}], "total": 4}),
                  ok({"items": [{"id": 3}, {"id": 4}], "total": 4}))
    assert len(offsets.run("jobs.list", {}, send)) == 4
    assert [r.query["offset"] for r in send.sent] == [0, 2]


def test_cursor_and_link_pagination_and_the_page_bound() -> None:
    cursor = build_table(_list({"style": "cursor", "param": "page_token", "size_param": "max",
                                "next": "/next_page_token"}))
    send = Script(ok({"items": [{"id": 1}], "next_page_token": "t2"}),
                  ok({"items": [{"id": 2}]}))
    assert [j["id"] for j in cursor.run("jobs.list", {}, send)] == [1, 2]
    assert [r.query.get("page_token") for r in send.sent] == [None, "t2"]
    link = build_table(_list({"style": "link"}))
    send = Script(ok({"items": [{"id": 1}]},
                     Link='<https://x.example/jobs?page=2>; rel="next", <…>; rel="last"'),
                  ok({"items": [{"id": 2}]}, Link='<https://x.example/jobs?page=1>; rel="prev"'))
    assert [j["id"] for j in link.run("jobs.list", {}, send)] == [1, 2]
    assert send.sent[1].path == "https://x.example/jobs?page=2"
    bounded = build_table(_list({"style": "cursor", "param": "t", "next": "/n",
                                 "max_pages": 3}))
    endless = Script(*[ok({"items": [{"id": i}], "n": f"t{i}"}) for i in range(5)])
    with pytest.raises(TargetError, match="more than 3 pages: raise pages.max_pages"):
        bounded.run("jobs.list", {}, endless)


def test_filters_the_vendor_lacks_are_applied_after_listing_and_sorted() -> None:
    table = build_table({"jobs.list": {
        "method": "GET", "path": "/jobs", "items": "/jobs",
        "response": {"id": "/id", "status": "/state", "labels": "{item.comment | from_json({})}",
                     "created_at": "/t"},
        "values": {"status": {"R": "running", "D": "succeeded"}},
        "filter": {"status": "field", "label": "labels"}, "sort": ["-created_at", "id"]}})
    jobs = {"jobs": [
        {"id": "a", "state": "R", "comment": '{"sca-run": "r1"}', "t": "2025-01-01"},
        {"id": "b", "state": "D", "comment": '{"sca-run": "r1"}', "t": "2025-01-03"},
        {"id": "c", "state": "R", "comment": '{"sca-run": "r2"}', "t": "2025-01-02"},
        {"id": "d", "state": "R", "comment": "", "t": "2025-01-04"},
    ]}
    run = table.run
    assert [j["id"] for j in run("jobs.list", {"label": "sca-run=r1"}, Script(ok(jobs)))] == [
        "b", "a"]
    assert [j["id"] for j in run("jobs.list", {"status": "running"}, Script(ok(jobs)))] == [
        "d", "c", "a"]
    assert [j["id"] for j in run("jobs.list", {"status": "running", "label": "sca-run"},
                                 Script(ok(jobs)))] == ["c", "a"]


# -- errors at load time --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        (
            {"jobs.sumbit": {"method": "POST", "path": "/x"}},
            "adapters.platform.mapping: unknown operation 'jobs.sumbit' "
            "(did you mean 'jobs.submit'?); known operations are ",
        ),
        (
            {"jobs.get": {**VENDOR_JOB_GET, "response": {"status": "data/state"}}},
            "adapters.platform.mapping.jobs.get.response: field 'status': 'data/state' is not "
            "a JSON pointer",
        ),
        (
            {"jobs.list": {"method": "GET", "path": "/x", "items": "data"}},
            "adapters.platform.mapping.jobs.list.items: 'data' is not a JSON pointer",
        ),
        (
            {"jobs.get": {"method": "GET", "path": "/v2/workloads/{id}"}},
            "adapters.platform.mapping.jobs.get: placeholder {id} is not a parameter of jobs.get "
            "(parameters: job_id)",
        ),
        (
            {"jobs.get": {"method": "GET", "path": "v2/workloads/{job_id}"}},
            "adapters.platform.mapping.jobs.get.path: path 'v2/workloads/{job_id}' must start",
        ),
        (
            {"jobs.list": {"method": "GET", "path": "/v2/workloads",
                           "query": {"s": "{status}", "l": "{label}"}}},
            "adapters.platform.mapping.jobs.list: a list operation needs 'items'",
        ),
        (
            {"jobs.get": {"method": "FETCH", "path": "/x/{job_id}"}},
            "adapters.platform.mapping.jobs.get.method: Input should be 'GET'",
        ),
        (
            {"jobs.get": {"method": "GET", "path": "/x/{job_id}", "verb": "x"}},
            "adapters.platform.mapping.jobs.get.verb: Extra inputs are not permitted",
        ),
        (
            {"jobs.get": {"method": "GET", "path": "/x/{job_id!r}"}},
            "adapters.platform.mapping.jobs.get.path: placeholder {job_id!r} in '/x/{job_id!r}' "
            "is not a valid expression",
        ),
        (
            {"jobs.get": {"method": "GET", "path": "/x/{job_id | nosuchfilter}"}},
            "adapters.platform.mapping.jobs.get.path: placeholder {job_id | nosuchfilter} in "
            "'/x/{job_id | nosuchfilter}' is not a valid expression: No filter named "
            "'nosuchfilter'",
        ),
        (
            {"jobs.list": {"method": "GET", "path": "/x", "items": "/i",
                           "query": {"state": "{status}"}}},
            "adapters.platform.mapping.jobs.list: parameter 'label' is neither sent nor "
            "filtered: filter it after listing (filter: {label: field})",
        ),
        (
            {"jobs.submit": {"method": "POST", "path": "/x", "body": {"n": "{name}"}}},
            "adapters.platform.mapping.jobs.submit: parameter 'image' is neither sent nor "
            "filtered: send it ({image} in a template), or list it under ignore",
        ),
        (
            {"jobs.get": {"steps": [
                {"method": "GET", "path": "/x/{steps.later.id}"},
                {"name": "later", "method": "GET", "path": "/y/{job_id}"}]}},
            "adapters.platform.mapping.jobs.get: steps[0].path: {steps.later.id} reads step "
            "'later', which has not run there (named steps before it: none)",
        ),
        (
            {"jobs.get": {"method": "GET", "path": "/x/{job_id}", "query": {"a": "{answer}"}}},
            "adapters.platform.mapping.jobs.get: query: {answer} means nothing here",
        ),
        (
            {"jobs.get": {"method": "GET", "path": "/x/{job_id}", "steps": []}},
            "adapters.platform.mapping.jobs.get: 'method' belongs in a step",
        ),
        (
            {"jobs.get": {"steps": [{"method": "GET", "path": "/x/{job_id}",
                                     "until": "{answer.state ==}"}]}},
            "adapters.platform.mapping.jobs.get.steps.0.until: placeholder {answer.state ==} in "
            "'{answer.state ==}' is not a valid expression",
        ),
        (
            {"jobs.get": {"method": "GET", "path": "/x/{job_id}", "ok": [204]}},
            "adapters.platform.mapping.jobs.get.ok: status 204 is not an error status",
        ),
        (
            {"jobs.list": {"method": "GET", "path": "/x", "items": "/i",
                           "filter": {"status": "field", "label": "labels"},
                           "pages": {"style": "cursor", "param": "t"}}},
            "adapters.platform.mapping.jobs.list.pages: pages of style cursor need 'next'",
        ),
        (
            {"jobs.get": {"method": "GET", "path": "/x/{job_id}", "sort": ["id"]}},
            "adapters.platform.mapping.jobs.get: filter and sort apply to lists",
        ),
        (
            {"jobs.get": {"method": "GET", "path": "/x/{job_id}", "body": "a } b"}},
            "adapters.platform.mapping.jobs.get.body: single '}' in 'a } b': write '}}'",
        ),
    ],
)
def test_bad_mappings_are_one_line_errors_naming_the_field(
    mapping: dict[str, object], expected: str
) -> None:
    with pytest.raises(MappingError) as caught:
        build_table(mapping)
    message = str(caught.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_unknown_operation_lists_every_known_one() -> None:
    with pytest.raises(MappingError) as caught:
        build_table({"tenants.explode": {"method": "GET", "path": "/x"}})
    assert all(name in str(caught.value) for name in OPERATIONS)


def test_platform_config_validates_its_mapping_and_auth() -> None:
    with pytest.raises(pydantic.ValidationError, match="unknown operation 'jobs.sumbit'"):
        PlatformConfig(url="http://127.0.0.1:1/", mapping={"jobs.sumbit": {}})
    config = PlatformConfig(url="http://127.0.0.1:1/", mapping={"jobs.get": VENDOR_JOB_GET})
    assert config.mapping == {"jobs.get": VENDOR_JOB_GET}
    with pytest.raises(pydantic.ValidationError, match=r"\{secret\} is unknown here"):
        PlatformConfig(url="http://x/", auth={"type": "header", "headers": {"X": "{secret}"}})
    with pytest.raises(pydantic.ValidationError, match="unknown signer 'hmac-md5'"):
        PlatformConfig(url="http://x/", auth=[{"type": "sign", "signer": "hmac-md5"}])
    with pytest.raises(pydantic.ValidationError, match="options.secret_key: Field required"):
        PlatformConfig(url="http://x/", auth=[{"type": "sign", "options": {"access_key": "a"}}])


def test_error_pointers_are_checked() -> None:
    with pytest.raises(pydantic.ValidationError, match="'fault.reason' is not a JSON pointer"):
        PlatformConfig(url="http://127.0.0.1:1/", error_code_pointer="fault.reason")


# -- the documentation --------------------------------------------------------------------


def _doc_blocks() -> list[Any]:
    """The YAML blocks of docs/mapping.md, ``${VAR}`` filled in as the target loader does."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.S)
    return [yaml.safe_load(re.sub(r"\$\{(\w+)\}", r"value-of-\1", block)) for block in blocks]


def test_every_mapping_example_in_the_docs_is_valid() -> None:
    checked = 0
    for block in _doc_blocks():
        if not isinstance(block, dict):
            continue
        platform = (block.get("adapters") or {}).get("platform")
        if platform is not None:
            config = PlatformConfig.model_validate({**platform, "url": "http://127.0.0.1:1/"})
            build_table(config.mapping, fallback=config.mapping_fallback)
            checked += 1
        elif all(name in OPERATIONS for name in block):
            build_table(block)
            checked += 1
    assert checked >= 12


def test_the_full_example_in_the_docs_is_the_acme_mapping() -> None:
    example = _doc_blocks()[-1]
    acme = Path(__file__).with_name("acme_target.yaml").read_text()
    assert example == yaml.safe_load(re.sub(r"\$\{(\w+)\}", r"value-of-\1", acme))
    platform = {**example["adapters"]["platform"], "url": "http://127.0.0.1:1/", "token": "t"}
    config = PlatformConfig.model_validate(platform)
    table = build_table(config.mapping, fallback=config.mapping_fallback)
    assert table.get("jobs.get").path == "/v2/workloads/{job_id}"
    with pytest.raises(Unsupported):
        table.get("clusters.list")


def test_every_filter_is_documented_with_an_example() -> None:
    text = DOCS.read_text()
    missing = [name for name in FILTERS if f"`{name}`" not in text and name not in ("d",)]
    assert not missing, f"docs/mapping.md does not document the filters {missing}"


def test_a_parameter_named_like_an_engine_name_is_the_parameter() -> None:
    """The reference finetunes.create takes ``steps``; its body means the number, not the
    named steps' answers (a collision once sent ``"steps": {}``)."""
    from pytest_sca.adapters.mapping.validation import build_table

    table = build_table({})
    sent = table.render("finetunes.create", {"base_model": "m", "training_file": "f",
                                             "steps": 30, "suffix": None, "labels": None})
    assert sent.body == {"base_model": "m", "training_file": "f", "steps": 30}
    left_out = table.render("finetunes.create", {"base_model": "m", "training_file": "f",
                                                 "steps": None})
    assert left_out.body == {"base_model": "m", "training_file": "f"}
