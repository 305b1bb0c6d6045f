"""7.3 训练与推理 Training and inference."""

from __future__ import annotations

import json
import random

import pytest

from pytest_sca.capabilities import (
    DevTools,
    Job,
    Jobs,
    Refused,
    Resources,
    Storage,
    TargetError,
    Tenancy,
)
from pytest_sca.fixtures import CheckContext

from ..library import SMALL, json_lines, python
from .workloads import INFER, TRAIN, close_to, linear_dataset

#: How long the presigned URLs the jobs read and write through stay valid.
URL_SECONDS = 900


class TenantFiles:
    """Objects in the caller's tenant storage, reached with the credentials the platform
    hands the tenant, under one run-prefixed folder; the storage adapter removes them."""

    def __init__(self, sca: CheckContext, tenancy: Tenancy, storage: Storage) -> None:
        tenant_id = tenancy.whoami().get("tenant_id")
        if not tenant_id:
            sca.not_assessed("the target's principal belongs to no tenant: no tenant storage "
                             "to train from")
        self.storage = storage.with_credentials(tenancy.storage_credentials(tenant_id))
        self.prefix = f"{sca.name('ch7')}/"
        self._sca = sca

    def put(self, name: str, data: bytes) -> None:
        written = self.storage.put(self.prefix + name, data)
        if not written.allowed:
            raise TargetError(f"the tenant's storage refused to store {name}: "
                              f"{written.status} {written.code}")

    def get(self, name: str) -> bytes | None:
        """The object's content, or None when there is no such object."""
        read = self.storage.get(self.prefix + name)
        if read.allowed:
            return read.body or b""
        if read.code == "NoSuchKey" or read.status == 404:
            return None
        raise TargetError(f"the tenant's storage refused to read {name}: "
                          f"{read.status} {read.code}")

    def url(self, name: str, method: str) -> str:
        """A presigned URL through which a job GETs or PUTs one object (no key reaches it)."""
        key = self.prefix + name
        url = (self.storage.presigned_put(key, URL_SECONDS) if method == "put"
               else self.storage.presigned_get(key, URL_SECONDS))
        self._sca.keep_secret(url)
        return url


def _run(sca: CheckContext, jobs: Jobs, image: str, script: str, suffix: str,
         env: dict[str, str]) -> Job:
    job = jobs.submit(sca.name(suffix), image, python(script), SMALL, env=env,
                      labels=sca.labels)
    done = jobs.wait(job["id"], timeout=120)
    logs = jobs.logs(job["id"], worker=0)
    sca.evidence(f"{suffix} job", {"status": done.get("status"),
                                   "exit_code": done.get("exit_code"), "log tail": logs[-600:],
                                   "reported": json_lines(logs, f"sca_{suffix}")})
    return done


def _train(sca: CheckContext, jobs: Jobs, files: TenantFiles, image: str, w: float,
           b: float) -> tuple[Job, dict[str, float] | None, list[float]]:
    dataset, inputs = linear_dataset(w, b)
    files.put("dataset.csv", dataset.encode())
    done = _run(sca, jobs, image, TRAIN, "train", {
        "SCA_DATASET_URL": files.url("dataset.csv", "get"),
        "SCA_CHECKPOINT_URL": files.url("checkpoint.json", "put")})
    raw = files.get("checkpoint.json")
    return done, (json.loads(raw) if raw else None), inputs


@pytest.mark.clause("7.3.a")
@pytest.mark.mutating
def test_train_from_stored_dataset_saves_checkpoint(sca: CheckContext, tenancy: Tenancy,
                                                    storage: Storage, jobs: Jobs,
                                                    probe_image: str) -> None:
    """A job reads a dataset object of random y = w·x + b points from the tenant's storage,
    fits it, and writes a checkpoint object whose w and b fit the dataset."""
    files = TenantFiles(sca, tenancy, storage)
    w, b = round(random.uniform(1, 4), 3), round(random.uniform(-2, 2), 3)
    done, checkpoint, _ = _train(sca, jobs, files, probe_image, w, b)
    sca.evidence("checkpoint", checkpoint or "absent")
    assert checkpoint is not None, (
        f"[7.3.a] the training job did not write a checkpoint object: job {done.get('status')} "
        f"(exit {done.get('exit_code')})")
    fitted = [checkpoint.get("w", 0.0), checkpoint.get("b", 0.0)]
    assert close_to(fitted, [w, b], 0.05), (
        f"[7.3.a] the checkpoint does not fit the stored dataset: {fitted}, expected {[w, b]}")


@pytest.mark.clause("7.3.b")
@pytest.mark.mutating
def test_batch_inference_with_trained_checkpoint(sca: CheckContext, tenancy: Tenancy,
                                                 storage: Storage, jobs: Jobs,
                                                 probe_image: str) -> None:
    """A batch job loads the trained checkpoint and held-out inputs from storage and writes
    predictions that follow the checkpoint's model."""
    files = TenantFiles(sca, tenancy, storage)
    w, b = round(random.uniform(1, 4), 3), round(random.uniform(-2, 2), 3)
    trained, checkpoint, inputs = _train(sca, jobs, files, probe_image, w, b)
    assert checkpoint is not None, (
        f"[7.3.b] no trained checkpoint to infer with: the training job ended "
        f"{trained.get('status')} (exit {trained.get('exit_code')})")
    files.put("inputs.json", json.dumps(inputs).encode())
    done = _run(sca, jobs, probe_image, INFER, "infer", {
        "SCA_CHECKPOINT_URL": files.url("checkpoint.json", "get"),
        "SCA_INPUTS_URL": files.url("inputs.json", "get"),
        "SCA_PREDICTIONS_URL": files.url("predictions.json", "put")})
    raw = files.get("predictions.json")
    predictions = json.loads(raw) if raw else None
    sca.evidence("predictions", predictions or "absent")
    assert predictions is not None, (
        f"[7.3.b] the batch inference job wrote no predictions: job {done.get('status')} "
        f"(exit {done.get('exit_code')})")
    expected = [checkpoint["w"] * x + checkpoint["b"] for x in inputs]
    assert close_to(predictions, expected, 1e-6), (
        f"[7.3.b] predictions do not follow the checkpoint: {predictions[:3]}…, "
        f"expected {expected[:3]}…")


def _healthy_before_the_mark(sca: CheckContext, devtools: DevTools, node: str) -> None:
    """The control: pre-flight shows ``node`` healthy and eligible before it is marked, else
    its verdict after the mark shows nothing about the mark (:class:`TargetError`)."""
    before = devtools.preflight([node])
    sca.evidence("pre-flight of the node before the mark", before)
    checked = {i.get("node_id"): i for i in before.get("items") or []}
    healthy = checked.get(node, {}).get("healthy")
    eligible = node in (before.get("eligible") or [])
    if healthy is not True or not eligible:
        raise TargetError(
            f"[7.3.c] inconclusive: before any mark pre-flight reports node {node}, which just "
            f"ran a job, healthy: {healthy}, eligible: {eligible}; its verdict after the mark "
            "cannot show that the mark was heeded")


@pytest.mark.clause("7.3.c")
@pytest.mark.mutating
@pytest.mark.disruptive
def test_preflight_excludes_faulty_node(sca: CheckContext, devtools: DevTools, jobs: Jobs,
                                        probe_image: str) -> None:
    """Pre-flight reports each node's health; the node that ran a probe job is first shown
    healthy and eligible (the control: else inconclusive, error); once it is marked faulty,
    pre-flight reports it unhealthy and not eligible, and the next job runs elsewhere. The
    adapter takes the mark back at the end of the check."""
    one_card: Resources = {**SMALL, "accelerators": 1}
    report = devtools.preflight()
    assert report.get("items"), "[7.3.c] the pre-flight check reported no node"
    first = jobs.submit(sca.name("preflight-probe"), probe_image, python("print('ok')"),
                        one_card, labels=sca.labels)
    placed = jobs.wait(first["id"], timeout=60)
    node = (placed.get("workers") or [{}])[0].get("node_id")
    if not node:
        sca.not_assessed("the platform does not say which node ran a job (workers[].node_id)")
    _healthy_before_the_mark(sca, devtools, node)
    try:
        devtools.mark_faulty(node, f"marked by pytest-sca run {sca.run_id}")
    except Refused as refused:
        if not refused.is_authorization:
            raise
        sca.not_assessed(f"the target's principal may not mark a node faulty ({refused}): run "
                         "with an operator key, or declare the item by evidence")
    after = devtools.preflight([node])
    checked = {i.get("node_id"): i for i in after.get("items") or []}
    sca.evidence("pre-flight of the marked node", after)
    if node not in checked:
        raise TargetError(f"[7.3.c] pre-flight of node {node} does not report that node")
    assert checked[node].get("healthy") is False and node not in (after.get("eligible") or []), (
        f"[7.3.c] pre-flight reports node {node} healthy (or eligible) although it is marked "
        f"faulty: {checked[node].get('healthy')}")
    second = jobs.submit(sca.name("preflight-job"), probe_image, python("print('ok')"),
                         one_card, labels=sca.labels)
    ran = jobs.wait(second["id"], timeout=60)
    nodes = [w.get("node_id") for w in ran.get("workers") or []]
    sca.evidence("job after the mark", {"status": ran.get("status"), "nodes": nodes})
    assert node not in nodes, f"[7.3.c] a job was placed on node {node} marked faulty"
    if ran.get("status") != "succeeded" or not all(nodes):
        raise TargetError(f"[7.3.c] the job after the mark ended {ran.get('status')} on nodes "
                          f"{nodes}: could not see where healthy work goes")
