"""The reference API as data: every route of reference-api.yaml exists in the sandbox's
OpenAPI document (the sandbox is the reference implementation), and the file is validated
by the same validator as a vendor's mapping."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
import yaml

from pytest_sca.adapters.mapping import OPERATIONS, REFERENCE_API, MappingError, build_table
from pytest_sca.sandbox.launcher import SandboxProcess

#: Routes an OpenAPI document does not describe: a websocket, the document itself, and the
#: web console's HTML page (both checked by 7.4.x through their own answers).
OUTSIDE_OPENAPI = {"jobs.terminal": "a websocket (OpenAPI has no websocket operations)",
                   "api.description": "the OpenAPI document itself",
                   "console.page": "the web console's HTML page"}


def _shape(path: str) -> str:
    """A route with its parameter names left out: ``/jobs/{job_id}`` → ``/jobs/{}``."""
    return re.sub(r"\{[^}]*\}", "{}", path)


@pytest.fixture(scope="module")
def document(sandbox: SandboxProcess) -> dict[str, Any]:
    target = yaml.safe_load(sandbox.target_path.read_text())
    url = target["adapters"]["platform"]["url"].rstrip("/")
    answer = requests.get(f"{url}/openapi.json", timeout=30)
    answer.raise_for_status()
    return answer.json()  # type: ignore[no-any-return]


def test_every_reference_route_exists_in_the_sandbox(document: dict[str, Any]) -> None:
    offered = {(method.upper(), _shape(path))
               for path, operations in document["paths"].items() for method in operations}
    missing = [f"{name}: {spec.default['method']} {spec.default['path']}"
               for name, spec in sorted(OPERATIONS.items())
               if name not in OUTSIDE_OPENAPI
               and (spec.default["method"], _shape(spec.default["path"])) not in offered]
    assert not missing, "routes of reference-api.yaml the sandbox does not serve: " + \
        "; ".join(missing)


def test_the_reference_file_is_a_valid_mapping() -> None:
    raw = yaml.safe_load(REFERENCE_API.read_text(encoding="utf-8"))
    routes = {name: {k: v for k, v in entry.items() if k not in ("params", "returns")}
              for name, entry in raw.items()}
    table = build_table(routes, fallback="none")
    assert table.get("jobs.get").path == "/api/v1/jobs/{job_id}"
    broken = {**routes, "jobs.get": {**routes["jobs.get"], "path": "/api/v1/jobs/{nope}"}}
    with pytest.raises(MappingError, match=r"jobs.get: placeholder \{nope\}"):
        build_table(broken, fallback="none")
