"""``python -m pytest_sca mapping-skeleton``: a starting mapping from a vendor's OpenAPI document.

Measured on three real documents: the sandbox's own (the reference API: the skeleton must
give back reference-api.yaml), slurmrestd 22.05's and MLflow's (tests/adapters/data/,
see openapi_docs.py). Every skeleton must load as a target file as it is written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from pytest_sca.adapters.config import PlatformConfig
from pytest_sca.adapters.mapping import OPERATIONS, build_table
from pytest_sca.adapters.mapping.skeleton import match_all, skeleton

from .openapi_docs import MLFLOW, SLURMRESTD

ROUTE_KEYS = ("method", "path", "query", "body", "items", "result", "format")


def _loads(text: str) -> dict[str, Any]:
    target = yaml.safe_load(text)
    platform = {**target["adapters"]["platform"], "url": "http://127.0.0.1:1/", "token": "t-t-t"}
    config = PlatformConfig.model_validate(platform)
    build_table(config.mapping, fallback=config.mapping_fallback)
    return config.mapping or {}


def _routes(mapping: dict[str, Any]) -> dict[str, tuple[str, str] | None]:
    return {name: (entry["method"], entry["path"]) if entry else None
            for name, entry in mapping.items()}


def test_the_skeleton_of_the_reference_api_is_the_reference_table(
    sandbox_platform: dict[str, Any]
) -> None:
    document = requests.get(sandbox_platform["url"].rstrip("/") + "/openapi.json",
                            timeout=30).json()
    mapping = _loads(skeleton(document, "the sandbox's /openapi.json"))
    same = [name for name, spec in OPERATIONS.items()
            if mapping.get(name) and all(
                mapping[name].get(k) == spec.default.get(k)
                for k in ROUTE_KEYS if spec.default.get(k) not in (None, {}, ""))]
    missing = sorted(set(OPERATIONS) - set(same))
    # Not in the OpenAPI document: a websocket, the HTML console, the document itself.
    assert missing == ["api.description", "console.page", "jobs.terminal"], missing
    assert len(same) == 127


def test_slurmrestd_skeleton() -> None:
    document = json.loads(SLURMRESTD.read_text())
    text = skeleton(document, SLURMRESTD.name)
    routes = {name: route for name, route in _routes(_loads(text)).items() if route}
    assert routes == {
        "jobs.submit": ("POST", "/slurm/v0.0.38/job/submit"),
        "jobs.submit_queued": ("POST", "/slurm/v0.0.38/job/submit"),
        "jobs.submit_networked": ("POST", "/slurm/v0.0.38/job/submit"),
        "jobs.list": ("GET", "/slurm/v0.0.38/jobs"),
        "jobs.get": ("GET", "/slurm/v0.0.38/job/{job_id}"),
        "jobs.stop": ("DELETE", "/slurm/v0.0.38/job/{job_id}"),
        "jobs.delete": ("DELETE", "/slurm/v0.0.38/job/{job_id}"),
        "nodes.list": ("GET", "/slurm/v0.0.38/nodes"),
        "nodes.get": ("GET", "/slurm/v0.0.38/node/{node_id}"),
        "api.description": ("GET", "/openapi.json"),
    }
    mapping = _loads(text)
    assert mapping["jobs.submit"]["body"]["job"] == {
        "name": "{name}", "container": "{image}", "argv": "{command}", "tasks": "{workers}",
        "environment": "{env}", "mcs_label": "{labels | to_json}"}
    assert mapping["jobs.get"]["result"] == "/jobs/0"
    assert mapping["jobs.list"]["items"] == "/jobs"
    assert mapping["jobs.list"]["filter"] == {"status": "field", "label": "labels"}
    assert mapping["jobs.get"]["response"]["created_at"] == "{item.submit_time | rfc3339}"
    assert "# TODO: the vendor requires body field 'script'" in text


def test_mlflow_skeleton() -> None:
    document = json.loads(MLFLOW.read_text())
    routes = {name: route for name, route in _routes(_loads(skeleton(document))).items()
              if route and name.startswith("models.")}
    api = "/api/2.0/mlflow"
    assert routes["models.list"] == ("GET", f"{api}/registered-models/search")
    assert routes["models.import"] == ("POST", f"{api}/registered-models/create")
    assert routes["models.update"] == ("PATCH", f"{api}/registered-models/update")
    # MLflow 3 has logged models beside registered ones: the path-shaped route wins the guess.
    assert routes["models.get"] == ("GET", f"{api}/logged-models/{{model_id}}")
    assert routes["models.delete"] == ("DELETE", f"{api}/logged-models/{{model_id}}")


def test_nothing_is_matched_without_a_resource_word() -> None:
    document = {"openapi": "3.0.0", "paths": {"/v1/widgets/{id}": {"get": {}}}}
    assert not any(match_all(document).values())


def test_the_command_writes_a_file_and_refuses_what_is_no_openapi(tmp_path: Path) -> None:
    out = tmp_path / "slurm.yaml"
    done = subprocess.run([sys.executable, "-m", "pytest_sca", "mapping-skeleton",
                           str(SLURMRESTD), "-o", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("10 of 130 reference operations matched")
    assert "# guess: POST /slurm/v0.0.38/job/submit" in out.read_text()
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "openapi"}')
    refused = subprocess.run([sys.executable, "-m", "pytest_sca", "mapping-skeleton", str(bad)],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert refused.stderr == f"error: {bad}: not an OpenAPI document (no 'paths')\n"


@pytest.mark.parametrize("document", [MLFLOW, SLURMRESTD], ids=["mlflow", "slurmrestd"])
def test_test_documents_are_openapi_3(document: Path) -> None:
    assert json.loads(document.read_text())["openapi"].startswith("3.")
