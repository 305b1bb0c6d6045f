"""The platform's in-cluster ComfyUI through the service proxy (``comfyui_service``), on the
emulated cluster (an EMULATOR; its ComfyUI is the sandbox's engine, tests/kube/comfy.py): the
Kubernetes adapter's ``workflows`` is the ComfyUI adapter's, authenticated as its principal;
the sweep of a killed run takes off only that run's prompts; without the setting the
capability is ``Unsupported`` and 8.7 is not assessed."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import KubernetesConfig
from pytest_sca.adapters.kubernetes import KubernetesAdapter
from pytest_sca.capabilities import Refused, TargetError, Unsupported, output_images
from pytest_sca.suites.chapter08_application.probes import generated_workflow, held_workflow

from .cluster import EmulatedKubeCluster, emulated_kube
from .evaluate import evaluate, write_target


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedKubeCluster]:
    with emulated_kube(tmp_path_factory.mktemp("comfy")) as running:
        yield running


def _adapter(cluster: EmulatedKubeCluster, run_id: str, **settings: Any) -> KubernetesAdapter:
    return KubernetesAdapter(KubernetesConfig(**{**cluster.adapter_settings(), **settings}),
                             AdapterContext("comfy", None, run_id))


def _ready(workflows: Any) -> None:
    """Wait for the ComfyUI pod: until it runs, the proxy answers 503 "no endpoints"."""
    deadline = time.monotonic() + 60
    while True:
        try:
            workflows.queue()
            return
        except TargetError as down:
            if time.monotonic() > deadline:
                raise
            if "no endpoints" not in str(down) and "503" not in str(down):
                raise
            time.sleep(0.5)


@pytest.fixture
def adapter(cluster: EmulatedKubeCluster) -> Iterator[KubernetesAdapter]:
    made = _adapter(cluster, "run-comfy")
    _ready(made.capability("workflows"))
    yield made
    assert made.context.ledger.sweep() == []
    made.close()


def test_a_workflow_runs_through_the_service_proxy(adapter: KubernetesAdapter) -> None:
    workflows: Any = adapter.capability("workflows")
    assert workflows.subject.base_url.endswith(
        "/api/v1/namespaces/comfyui/services/comfyui:http/proxy")
    answer = workflows.submit(generated_workflow(20, 10, 0x808000, "kube-proxy"))
    entry = workflows.wait(answer["prompt_id"], timeout=30)
    assert entry["prompt"][1] == answer["prompt_id"] and entry["status"]["completed"]
    image = output_images(entry)[0]
    assert Image.open(io.BytesIO(workflows.view(image["filename"]))).size == (20, 10)


def test_the_proxy_wants_the_principal_s_credentials(cluster: EmulatedKubeCluster,
                                                     adapter: KubernetesAdapter) -> None:
    """The session is the Kubernetes principal's: without its token the API server refuses
    the proxy request (the ComfyUI behind it has no authentication of its own)."""
    workflows: Any = adapter.capability("workflows")
    assert workflows.subject._session.headers["authorization"].startswith("Bearer ")
    anonymous = _adapter(cluster, "run-comfy-anonymous")
    try:
        session = anonymous.capability("workflows").subject._session  # type: ignore[attr-defined]
        del session.headers["authorization"]
        with pytest.raises(Refused) as refused:
            anonymous.capability("workflows").queue()  # type: ignore[attr-defined]
        assert refused.value.status == 401
    finally:
        anonymous.close()


def test_the_sweep_takes_off_only_the_run_s_prompts(cluster: EmulatedKubeCluster,
                                                   adapter: KubernetesAdapter) -> None:
    """``pytest-sca cleanup`` after a kill: the run's waiting prompts leave the queue and its
    history entries go; another client's prompt and history stay."""
    killed = _adapter(cluster, "run-killed")
    try:
        theirs: Any = adapter.capability("workflows")
        other = theirs.submit(generated_workflow(8, 8, 0x102030, "other-client"))["prompt_id"]
        mine: Any = killed.capability("workflows")
        queued = [mine.submit(held_workflow(n, 1, f"killed-{n}"))["prompt_id"]
                  for n in range(3)]
        finished = mine.submit(generated_workflow(8, 8, 0x405060, "killed-done"))["prompt_id"]
        assert mine.position(queued[-1]) is not None
        assert killed.sweep("run-killed") == []
        # Only a prompt that had already started may still be there: running, never waiting.
        assert not set(queued) & set(theirs.queue()["pending"])
        theirs.wait(other, timeout=60)
        deadline = time.monotonic() + 60
        while theirs.queue()["running"] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert killed.sweep("run-killed") == []  # what was still running has finished now
        assert all(theirs.history(p) is None for p in [*queued, finished])
        assert theirs.history(other) is not None
    finally:
        killed.close()  # its ledger is never swept: the run was "killed"


def test_without_comfyui_service_it_is_unsupported(cluster: EmulatedKubeCluster) -> None:
    bare = _adapter(cluster, "run-comfy-bare", comfyui_service=None)
    try:
        with pytest.raises(Unsupported, match=r"adapters\.kubernetes\.comfyui_service"):
            bare.capability("workflows").submit({})  # type: ignore[attr-defined]
        assert bare.sweep("run-comfy-bare") == []
    finally:
        bare.close()


def test_without_comfyui_service_8_7_is_not_assessed(cluster: EmulatedKubeCluster,
                                                    tmp_path: Path) -> None:
    items = {"8.7.a", "8.7.b", "8.7.c", "8.7.d"}
    target = write_target(cluster, tmp_path, adapters={
        "kubernetes": {**cluster.adapter_settings(), "comfyui_service": None}})
    verdicts = evaluate(target, items)
    wrong = {item: verdicts[item] for item in items
             if verdicts[item][0] != "not_assessed" or "comfyui_service" not in verdicts[item][1]}
    assert not wrong, wrong


def test_the_doctor_probes_the_in_cluster_comfyui(adapter: KubernetesAdapter) -> None:
    by_check = {f.check: f for f in adapter.probe(5.0)}
    assert by_check["comfyui api"].status == "ok", by_check
    assert "comfyui/comfyui:http: ComfyUI API:" in by_check["comfyui api"].detail


def test_a_comfyui_that_does_not_answer_leaves_the_adapter_usable(
        cluster: EmulatedKubeCluster) -> None:
    """The preflight drops an adapter with a failed finding: a missing ComfyUI Service must
    cost the workflow items only (a warning), never the whole cluster."""
    missing = _adapter(cluster, "run-comfy-missing", comfyui_service="comfyui/nowhere:8188")
    try:
        findings = missing.probe(5.0)
    finally:
        missing.close()
    comfy = [f for f in findings if f.check.startswith("comfyui")]
    assert comfy and all(f.status == "warn" for f in comfy), findings
    assert not any(f.status == "fail" for f in findings), findings
