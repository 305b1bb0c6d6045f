"""Helpers of the sandbox's own tests: launching real sandboxes, a small API client."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from pytest_sca.sandbox import SandboxProcess, launch


@dataclass
class Api:
    """A caller of the sandbox's REST API with one bearer key."""

    base: str
    token: str | None

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request to ``/api/v1`` + ``path`` (or an absolute path starting with ``//``)."""
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = self.base + (path[1:] if path.startswith("//") else "api/v1" + path)
        return requests.request(method, url, headers=headers, timeout=10, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """A request that must answer ``status``; returns the JSON body (or text)."""
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, (
            f"{method} {path}: expected {status}, got {response.status_code} {response.text[:300]}"
        )
        if response.status_code == 204:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def as_key(self, token: str) -> Api:
        """The same API with another key."""
        return Api(self.base, token)

    def wait_job(self, job_id: str, statuses: tuple[str, ...], timeout: float = 15.0) -> Any:
        """Poll the job (bounded, backing off) until its status is one of ``statuses``."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            job = self.ok("GET", f"/jobs/{job_id}")
            if job["status"] in statuses:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def new_tenant(self, name: str, role: str = "member", **quota: Any) -> tuple[str, Api]:
        """A fresh tenant (optionally with a quota) and an API for one of its users."""
        tenant = self.ok("POST", "/tenants", 201, json={"name": name})
        if quota:
            self.ok("PUT", f"/tenants/{tenant['id']}/quota", json=quota)
        user = self.ok("POST", f"/tenants/{tenant['id']}/users", 201,
                       json={"name": f"{name}-{role}", "role": role})
        return tenant["id"], self.as_key(user["api_key"])


@dataclass
class RunningSandbox:
    """A launched sandbox with its parsed target file and an admin API client."""

    process: SandboxProcess
    target: dict[str, Any]
    admin: Api


def start_sandbox(faults: tuple[str, ...] = (), state_dir: Path | None = None) -> RunningSandbox:
    """Launch a sandbox and read its target file."""
    # These tests speak raw HTTP to the API; TLS is tested in test_security.py and by
    # every evaluation of the sandbox (tests/suites, tests/test_sandbox_plugin.py).
    process = launch(faults=faults, state_dir=state_dir, timeout=30, tls=False)
    target = yaml.safe_load(process.target_path.read_text())
    admin = Api(target["adapters"]["platform"]["url"], process.env["SCA_SANDBOX_TOKEN"])
    return RunningSandbox(process, target, admin)


#: A job script: print the worker's rank, exit with ``code``.
PRINT_AND_EXIT = "import os, sys; print('hello from', os.environ['RANK']); sys.exit({code})"
