"""Model services of the sandbox: deployments across a restart, tenant-scoped imports,
image models used by workflows."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from pytest_sca.suites.chapter08_application.probes import png_size as size_of

from .helpers import Api, RunningSandbox, start_sandbox


def _wait(api: Api, path: str, statuses: tuple[str, ...], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        doc = api.ok("GET", path)
        if doc["status"] in statuses:
            return doc
        assert time.monotonic() < deadline, f"{path} still {doc['status']}"
        time.sleep(0.05)


def _chat(api: Api, base: str, model: str) -> requests.Response:
    return requests.post(base + "/chat/completions", timeout=10,
                         headers={"Authorization": f"Bearer {api.token}"},
                         json={"model": model, "temperature": 0, "max_tokens": 8,
                               "messages": [{"role": "user", "content": "hello"}]})


@pytest.mark.slow
def test_deployments_serve_again_after_a_restart(tmp_path: Path) -> None:
    first = start_sandbox(state_dir=tmp_path)
    try:
        deployment = first.admin.ok("POST", "/deployments", 201,
                                    json={"name": "keep", "model": "sca-tinychat"})
        _wait(first.admin, f"/deployments/{deployment['id']}", ("running",))
        other_tenant, member = first.admin.new_tenant("restart-iso")
        refused = member.call("POST", "/models/import", json={
            "name": "x", "source": f"s3://sca-platform/models/{deployment['id']}.json"})
        assert refused.status_code == 403
    finally:
        first.process.stop()
    second = start_sandbox(state_dir=tmp_path)
    try:
        again = _wait(second.admin, f"/deployments/{deployment['id']}", ("running",))
        assert again["endpoint"].startswith(second.admin.base)
        answer = _chat(second.admin, again["endpoint"], "sca-tinychat")
        assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"]
        usage = second.admin.ok("GET", "/model-usage", params={"model": "sca-tinychat"})
        assert usage["summary"]["requests"] >= 1
    finally:
        second.process.stop()


@pytest.mark.slow
def test_an_imported_image_model_upscales_in_workflows(sandbox: RunningSandbox) -> None:
    """An ``sca-upscale/1`` image model imported from object storage becomes an upscale model
    of the workflow environment, and a workflow using it really scales by its factor."""
    spec = '{"format": "sca-upscale/1", "factor": 3, "filter": "nearest"}'
    upload = sandbox.admin.ok("POST", "/files", 201, json={
        "filename": "x3.json", "purpose": "model", "content": spec})
    model = sandbox.admin.ok("POST", "/models/import", 201, json={
        "name": "probe-x3", "kind": "image", "format": "sca-upscale/1", "source": upload["uri"]})
    assert model["kind"] == "image" and model["id"] not in [
        m["id"] for m in requests.get(sandbox.admin.base + "v1/models", timeout=10, headers={
            "Authorization": f"Bearer {sandbox.admin.token}"}).json()["data"]]
    refused = sandbox.admin.call("POST", "/deployments", json={"name": "d", "model": model["id"]})
    assert refused.status_code == 422
    graph = {"1": {"class_type": "EmptyImage", "inputs": {"width": 5, "height": 4,
                                                          "batch_size": 1, "color": 0}},
             "2": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "probe-x3.pth"}},
             "3": {"class_type": "ImageUpscaleWithModel",
                   "inputs": {"upscale_model": ["2", 0], "image": ["1", 0]}},
             "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0]}}}
    workflow = sandbox.admin.ok("POST", "/workflows", 201, json={"name": "x3", "workflow": graph})
    configured = sandbox.admin.ok("PUT", f"/workflows/{workflow['id']}/environment",
                                  json={"environment_id": "comfyui-core-images"})
    assert configured["environment"]["status"] == "available"
    run = sandbox.admin.ok("POST", f"/workflows/{workflow['id']}/trial", 201, json={})
    done = _wait(sandbox.admin, f"/workflow-runs/{run['id']}", ("succeeded", "failed"))
    assert done["status"] == "succeeded", done
    image = requests.get(done["outputs"][0]["url"], timeout=10,
                         headers={"Authorization": f"Bearer {sandbox.admin.token}"}).content
    assert size_of(image) == (15, 12)


@pytest.mark.slow
def test_deployment_replicas_say_what_their_model_servers_hold(sandbox: RunningSandbox) -> None:
    """GET /deployments/{id}/replicas: one replica per replica asked for, sized as chosen,
    on no inventory node and holding no card (models are served on the sandbox's CPU)."""
    deployment = sandbox.admin.ok("POST", "/deployments", 201, json={
        "name": "sized", "model": "sca-tinychat", "replicas": 2,
        "resources": {"cpu": 2, "memory_gib": 3}})
    _wait(sandbox.admin, f"/deployments/{deployment['id']}", ("running",))
    replicas = sandbox.admin.ok("GET", f"/deployments/{deployment['id']}/replicas")["items"]
    assert [(r["ready"], r["node_id"], r["resources"]) for r in replicas] == [
        (True, None, {"cpu": 2.0, "memory_gib": 3.0, "accelerators": 0})] * 2
    sandbox.admin.ok("POST", f"/deployments/{deployment['id']}/stop")
    assert sandbox.admin.ok("GET", f"/deployments/{deployment['id']}/replicas")["items"] == []
    sandbox.admin.ok("DELETE", f"/deployments/{deployment['id']}", 204)
    # Asking for cards is refused, not accepted and given none.
    refused = sandbox.admin.ok("POST", "/deployments", 422, json={
        "name": "carded", "model": "sca-tinychat", "resources": {"accelerators": 1}})
    assert "cannot hold accelerators" in refused["error"]["message"], refused
