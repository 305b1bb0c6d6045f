"""7.3 训练与推理 Training and inference."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from pytest_sca.capabilities import Refused
from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext

from ..library import SMALL
from .probes import INFER, TRAIN, close_to, linear_dataset, python

_URL_SECONDS = 900


class TenantStorage:
    """The caller's tenant bucket, reached with the credentials the platform hands out."""

    def __init__(self, sca: CheckContext, tenancy: Any, cleanup: Cleanup) -> None:
        import boto3
        from botocore.config import Config

        tenant_id = tenancy.whoami()["tenant_id"]
        credentials = tenancy.storage_credentials(tenant_id)
        sca.keep_secret(credentials.get("secret_key"))
        self.bucket = credentials["bucket"]
        self.prefix = f"{sca.name('ch7')}/"
        self.client = boto3.client(
            "s3", endpoint_url=credentials["endpoint"], region_name="us-east-1",
            aws_access_key_id=credentials["access_key"],
            aws_secret_access_key=credentials["secret_key"],
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 2}))
        self._sca = sca
        self._cleanup = cleanup

    def put(self, name: str, data: bytes) -> str:
        key = self.prefix + name
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        self._cleanup.add(f"delete object {key}",
                          lambda: self.client.delete_object(Bucket=self.bucket, Key=key))
        return key

    def get(self, name: str) -> bytes | None:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket,
                                                 Key=self.prefix + name)["Body"].read()
            return body
        except self.client.exceptions.NoSuchKey:
            return None

    def url(self, name: str, method: str) -> str:
        """A presigned URL a job uses to GET or PUT one object (no key reaches the job)."""
        key = self.prefix + name
        if method == "put":
            self._cleanup.add(f"delete object {key}",
                              lambda: self.client.delete_object(Bucket=self.bucket, Key=key))
        url: str = self.client.generate_presigned_url(
            f"{method}_object", Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=_URL_SECONDS)
        self._sca.keep_secret(url)
        return url


def _run(sca: CheckContext, jobs: Any, cleanup: Cleanup, image: str, script: str, suffix: str,
         env: dict[str, str]) -> Any:
    job = jobs.submit(sca.name(suffix), image, python(script), SMALL, env=env,
                      labels=sca.labels)
    done = jobs.wait(job["id"], timeout=120)
    logs = jobs.logs(job["id"], worker=0)
    sca.evidence(f"{suffix} job", {"status": done["status"], "exit_code": done.get("exit_code"),
                                   "log tail": logs[-600:]})
    return done


def _train(sca: CheckContext, jobs: Any, storage: TenantStorage, cleanup: Cleanup,
           image: str, w: float, b: float) -> tuple[Any, dict[str, Any] | None, list[float]]:
    dataset, inputs = linear_dataset(w, b)
    storage.put("dataset.csv", dataset.encode())
    done = _run(sca, jobs, cleanup, image, TRAIN, "train", {
        "SCA_DATASET_URL": storage.url("dataset.csv", "get"),
        "SCA_CHECKPOINT_URL": storage.url("checkpoint.json", "put")})
    raw = storage.get("checkpoint.json")
    return done, (json.loads(raw) if raw else None), inputs


@pytest.mark.clause("7.3.a")
@pytest.mark.mutating
def test_train_from_stored_dataset_saves_checkpoint(sca: CheckContext, tenancy: Any, jobs: Any,
                                                    probe_image: str, cleanup: Cleanup) -> None:
    """A job reads a dataset object, fits y = w·x + b, and writes a checkpoint object that fits."""
    storage = TenantStorage(sca, tenancy, cleanup)
    w, b = round(random.uniform(1, 4), 3), round(random.uniform(-2, 2), 3)
    done, checkpoint, _ = _train(sca, jobs, storage, cleanup, probe_image, w, b)
    sca.evidence("checkpoint", checkpoint or "absent")
    assert checkpoint is not None, (
        f"[7.3.a] the training job did not write a checkpoint object: job {done['status']} "
        f"(exit {done.get('exit_code')})")
    fitted = [checkpoint.get("w", 0.0), checkpoint.get("b", 0.0)]
    assert close_to(fitted, [w, b], 0.05), (
        f"[7.3.a] the checkpoint does not fit the stored dataset: {fitted}, expected {[w, b]}")


@pytest.mark.clause("7.3.b")
@pytest.mark.mutating
def test_batch_inference_with_trained_checkpoint(sca: CheckContext, tenancy: Any, jobs: Any,
                                                 probe_image: str, cleanup: Cleanup) -> None:
    """A batch job loads the trained checkpoint and writes predictions that match the model."""
    storage = TenantStorage(sca, tenancy, cleanup)
    w, b = round(random.uniform(1, 4), 3), round(random.uniform(-2, 2), 3)
    trained, checkpoint, inputs = _train(sca, jobs, storage, cleanup, probe_image, w, b)
    assert checkpoint is not None, (
        f"[7.3.b] no trained checkpoint to infer with: the training job ended "
        f"{trained['status']} (exit {trained.get('exit_code')})")
    storage.put("inputs.json", json.dumps(inputs).encode())
    done = _run(sca, jobs, cleanup, probe_image, INFER, "infer", {
        "SCA_CHECKPOINT_URL": storage.url("checkpoint.json", "get"),
        "SCA_INPUTS_URL": storage.url("inputs.json", "get"),
        "SCA_PREDICTIONS_URL": storage.url("predictions.json", "put")})
    raw = storage.get("predictions.json")
    predictions = json.loads(raw) if raw else None
    sca.evidence("predictions", predictions or "absent")
    assert predictions is not None, (
        f"[7.3.b] the batch inference job wrote no predictions: job {done['status']} "
        f"(exit {done.get('exit_code')})")
    expected = [checkpoint["w"] * x + checkpoint["b"] for x in inputs]
    assert close_to(predictions, expected, 1e-6), (
        f"[7.3.b] predictions do not follow the checkpoint: {predictions[:3]}…, "
        f"expected {expected[:3]}…")


@pytest.mark.clause("7.3.c")
@pytest.mark.mutating
@pytest.mark.disruptive
def test_preflight_excludes_faulty_node(sca: CheckContext, devtools: Any, jobs: Any,
                                        probe_image: str, cleanup: Cleanup) -> None:
    """Pre-flight reports each node's health; a node marked faulty is reported and gets no job."""
    one_card = {**SMALL, "accelerators": 1}
    report = devtools.preflight()
    assert report.get("items"), "[7.3.c] the pre-flight check reported no node"
    first = jobs.submit(sca.name("preflight-probe"), probe_image, python("print('ok')"),
                        one_card, labels=sca.labels)
    placed = jobs.wait(first["id"], timeout=60)
    node = (placed.get("workers") or [{}])[0].get("node_id")
    if not node:
        sca.not_assessed("the platform does not say which node ran a job (workers[].node_id)")
    try:
        devtools.mark_faulty(node, f"marked by pytest-sca run {sca.run_id}")
    except Refused as refused:
        sca.not_assessed(f"cannot mark a node faulty ({refused.status}): run with an operator "
                         "key, or declare the item by evidence")
    checked = {i["node_id"]: i for i in devtools.preflight([node]).get("items", [])}
    sca.evidence("pre-flight of the marked node", checked.get(node))
    assert node in checked and not checked[node].get("healthy"), (
        f"[7.3.c] pre-flight reports node {node} healthy although it is marked faulty")
    second = jobs.submit(sca.name("preflight-job"), probe_image, python("print('ok')"),
                         one_card, labels=sca.labels)
    ran = jobs.wait(second["id"], timeout=60)
    nodes = [w.get("node_id") for w in ran.get("workers", [])]
    sca.evidence("job after the mark", {"status": ran["status"], "nodes": nodes})
    assert node not in nodes, f"[7.3.c] a job was placed on node {node} marked faulty"
