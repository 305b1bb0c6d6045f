"""The declarative mapping: templates, answer reshaping, and one-line errors for bad mappings."""

from __future__ import annotations

import re
from pathlib import Path

import pydantic
import pytest
import yaml

from pytest_sca.adapters.config import PlatformConfig
from pytest_sca.adapters.mapping import (
    OPERATIONS,
    MappingError,
    Unsupported,
    build_table,
)

VENDOR_JOB_GET = {
    "method": "get",
    "path": "/v2/workloads/{job_id}",
    "result": "/data",
    "response": {"id": "/workloadId", "status": "/state", "exit_code": "/result/exitCode"},
    "values": {"status": {"RUNNING": "running", "DONE": "succeeded"}},
}


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


def test_body_template_keeps_types_drops_absent_and_reaches_into_mappings() -> None:
    table = build_table(
        {
            "jobs.submit": {
                "method": "POST",
                "path": "/v2/workloads",
                "body": {
                    "workloadName": "run-{name}",
                    "spec": {"cmd": "{command}", "gpus": "{resources.accelerators}"},
                    "tags": "{labels}",
                    "literal": "{{not a placeholder}}",
                },
            }
        }
    )
    request = table.render(
        "jobs.submit",
        {"name": "x", "command": ["python", "-c", "1"], "resources": {"accelerators": 2}},
    )
    assert request.body == {
        "workloadName": "run-x",
        "spec": {"cmd": ["python", "-c", "1"], "gpus": 2},
        "literal": "{not a placeholder}",
    }


def test_response_pointers_and_value_translation() -> None:
    table = build_table({"jobs.get": VENDOR_JOB_GET})
    answer = {"data": {"workloadId": "w-1", "state": "DONE", "result": {"exitCode": 0}}}
    assert table.extract("jobs.get", answer) == {"id": "w-1", "status": "succeeded", "exit_code": 0}
    pending = {"data": {"workloadId": "w-2", "state": "QUEUED"}}
    assert table.extract("jobs.get", pending) == {
        "id": "w-2",
        "status": "QUEUED",
        "exit_code": None,
    }


def test_missing_list_pointer_is_a_key_error() -> None:
    table = build_table({"jobs.list": {"method": "GET", "path": "/v2/w", "items": "/data/list"}})
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
            {"jobs.list": {"method": "GET", "path": "/v2/workloads"}},
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
            "adapters.platform.mapping.jobs.get: placeholder {job_id} in '/x/{job_id!r}' must be "
            "a plain name",
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


def test_platform_config_validates_its_mapping() -> None:
    with pytest.raises(pydantic.ValidationError, match="unknown operation 'jobs.sumbit'"):
        PlatformConfig(url="http://127.0.0.1:1/", mapping={"jobs.sumbit": {}})
    config = PlatformConfig(url="http://127.0.0.1:1/", mapping={"jobs.get": VENDOR_JOB_GET})
    assert config.mapping == {"jobs.get": VENDOR_JOB_GET}


def test_the_full_example_in_the_docs_is_a_valid_mapping() -> None:
    docs = Path(__file__).parents[2] / "docs" / "mapping.md"
    blocks = re.findall(r"```yaml\n(.*?)```", docs.read_text(), flags=re.S)
    example = yaml.safe_load(blocks[-1])
    platform = {**example["adapters"]["platform"], "url": "http://127.0.0.1:1/", "token": "t"}
    config = PlatformConfig.model_validate(platform)
    table = build_table(config.mapping, fallback=config.mapping_fallback)
    assert table.get("jobs.get").path == "/v2/workloads/{job_id}"
    with pytest.raises(Unsupported):
        table.get("clusters.list")


def test_error_pointers_are_checked() -> None:
    with pytest.raises(pydantic.ValidationError, match="'fault.reason' is not a JSON pointer"):
        PlatformConfig(url="http://127.0.0.1:1/", error_code_pointer="fault.reason")
