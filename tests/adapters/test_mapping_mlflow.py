"""MLflow's model registry, a real API nobody here wrote, evaluated through a mapping only.

A real ``mlflow server --app-name basic-auth`` (PyPI ``mlflow[auth]``, the optional test
extra ``mlflow``) runs on loopback; ``targets/mlflow-registry.yaml`` maps the ``models``
operations onto its REST API (HTTP basic auth, cursor pages, a three-call import with
compensation, tags for labels, epoch milliseconds). One test, so that pytest-xdist never
starts a second server (~0.5 GB and 10-40 s each).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from pytest_sca.capabilities import RUN_LABEL, Refused

from .helpers import MakeAdapter, expand_env, unique

pytest.importorskip("mlflow", reason="the MLflow test extra is not installed: pip install "
                                     "-e '.[test,mlflow]'")
pytest.importorskip("flask_wtf", reason="MLflow's basic-auth app needs mlflow[auth]")

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "targets" / "mlflow-registry.yaml"
READY_WITHIN_S = 240.0
STOP_WITHIN_S = 20.0

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real MLflow tracking server with its basic-auth app; its URL and admin login."""
    folder = tmp_path_factory.mktemp("mlflow")
    password = secrets.token_urlsafe(16)
    (folder / "auth.ini").write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{folder}/auth.db\nadmin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # Each request would otherwise hash the password again (PBKDF2): slow on 2 cores.
        "auth_cache_ttl_seconds = 300\n")
    port = _free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "DO_NOT_TRACK": "1",
           "MLFLOW_AUTH_CONFIG_PATH": str(folder / "auth.ini"),
           "MLFLOW_AUTH_ADMIN_PASSWORD": password,
           "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16)}
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
         "--default-artifact-root", str(folder / "artifacts")],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + READY_WITHIN_S
        while True:
            assert process.poll() is None, (folder / "server.log").read_text()[-2000:]
            try:
                if requests.get(url + "health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"MLflow not ready in {READY_WITHIN_S:g} s"
            time.sleep(0.5)
        # The first requests of a fresh server can fail while it creates its tables.
        for _ in range(10):
            answer = requests.get(url + "api/2.0/mlflow/registered-models/search",
                                  auth=("admin", password), timeout=30)
            if answer.status_code == 200:
                break
            time.sleep(0.5)
        yield {"MLFLOW_URL": url, "MLFLOW_USER": "admin", "MLFLOW_PASSWORD": password}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_WITHIN_S)
        log.close()


def _platform(env: dict[str, str], **changes: Any) -> dict[str, Any]:
    target = yaml.safe_load(TARGET.read_text())
    platform: dict[str, Any] = expand_env(target["adapters"]["platform"], env)
    platform["mapping"] = {**platform["mapping"], **changes}
    return platform


def test_mlflow_registry_through_the_mapping_only(
    mlflow_server: dict[str, str], make_adapter: MakeAdapter, tmp_path: Path
) -> None:
    # -- the models capability, call by call -------------------------------------------------
    platform = _platform(mlflow_server)
    # Pages of one model each, so that the cursor is followed on the real server.
    listing = {**platform["mapping"]["models.list"],
               "pages": {**platform["mapping"]["models.list"]["pages"], "size": 1}}
    registry = make_adapter({**platform, "mapping": {**platform["mapping"],
                                                     "models.list": listing}})
    models = registry.models
    first = models.import_model(unique("reg"), "s3://sca-probe/a", format="gguf",
                                license="MIT", labels={"team": "ml"})
    second = models.import_model(unique("reg"), "s3://sca-probe/b")
    assert first["labels"] == {"team": "ml", RUN_LABEL: registry.context.run_id}
    assert (first["format"], first["license"], first["kind"], first["status"]) == (
        "gguf", "MIT", "llm", "ready")
    assert first["created_at"].endswith("Z") and first["preset"] is False
    listed = [m["id"] for m in models.list_models()]
    assert {first["id"], second["id"]} <= set(listed)
    pages = [e for e in registry.recent_exchanges() if e.path.endswith("/search")]
    assert len(pages) >= 2, "one model per page: the cursor was followed"

    updated = models.update_model(first["id"], description="described", labels={"k": "v"})
    assert updated["description"] == "described" and updated["labels"]["k"] == "v"
    assert models.get_model(first["id"])["description"] == "described"
    models.delete_model(first["id"])
    with pytest.raises(Refused) as gone:
        models.get_model(first["id"])
    assert (gone.value.status, gone.value.code) == (404, "RESOURCE_DOES_NOT_EXIST")

    # A refused version (a local path without a run) undoes the model created before it.
    refused_name = unique("refused")
    with pytest.raises(Refused) as refused:
        models.import_model(refused_name, "/tmp/not/a/run/artifact")
    assert refused.value.status == 400 and "models.import step version" in str(refused.value)
    assert refused_name not in [m["id"] for m in models.list_models()]

    # A killed run's leftovers are found by their label (kept in MLflow tags) and swept.
    killed = make_adapter(platform)
    killed.models.import_model(unique("left"), "s3://sca-probe/left")
    assert killed.sweep(killed.context.run_id) == []
    assert not [m for m in models.list_models()
                if m["labels"].get(RUN_LABEL) == killed.context.run_id]

    # -- the shipped checks against it -------------------------------------------------------
    result = subprocess.run(
        [sys.executable, "-m", "pytest", f"--sca-target={TARGET}", "-p", "no:cacheprovider",
         "-m", "chapter8", "--sca-json=report.json", "-q"],
        cwd=tmp_path, env={**os.environ, **mlflow_server}, capture_output=True, text=True,
        timeout=600)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    verdicts = {i["id"]: (i["verdict"], i["reason"]) for i in report["items"]}
    assert verdicts["8.4.a"][0] == "pass", verdicts["8.4.a"]
    assert verdicts["8.4.b"][0] == "pass", verdicts["8.4.b"]
    # MLflow presets nothing: an honest fail, not an error.
    assert verdicts["8.1.b"] == ("fail", "[8.1.b] the platform lists no preset model")
    reached = sorted(i for i, (v, _) in verdicts.items() if v in ("pass", "fail"))
    assert reached == ["8.1.b", "8.4.a", "8.4.b"], reached
    assert not [i for i, (v, _) in verdicts.items() if v == "error"], verdicts
    # The admin password never appears in output or reports.
    assert mlflow_server["MLFLOW_PASSWORD"] not in result.stdout + json.dumps(report)
