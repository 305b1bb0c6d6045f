"""The ComfyUI adapter against the sandbox's ComfyUI-compatible endpoint (a real server that
runs workflows), and against ComfyUI's own answers replayed by a scripted server
(``comfyui_answers/``: ComfyUI cannot be installed here; see its README for where each
answer's shape comes from)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.comfyui import ComfyUIAdapter, ComfyWorkflows
from pytest_sca.adapters.config import ComfyUIConfig
from pytest_sca.capabilities import TargetError, WorkflowRejected, output_images
from pytest_sca.sandbox.launcher import SandboxProcess
from pytest_sca.suites.chapter08_application.probes import (
    held_workflow,
    png,
    scale_invert_workflow,
)

from .helpers import expand_env
from .stub_server import Route, StubServer, json_route, stub_server

ANSWERS = Path(__file__).parent / "comfyui_answers"


@pytest.fixture
def comfy(sandbox: SandboxProcess) -> Iterator[ComfyWorkflows]:
    section = yaml.safe_load(sandbox.target_path.read_text())["adapters"]["comfyui"]
    context = AdapterContext(target_name="test", target_path=None, run_id=uuid.uuid4().hex[:8])
    adapter = ComfyUIAdapter(ComfyUIConfig.model_validate(expand_env(section, sandbox.env)),
                             context)
    yield ComfyWorkflows(adapter)
    assert context.ledger.sweep() == []
    adapter.close()


def _uploaded(comfy: ComfyWorkflows, rgb: tuple[int, int, int]) -> str:
    return str(comfy.upload_image(f"t-{uuid.uuid4().hex[:6]}.png", png(6, 4, rgb))["name"])


@pytest.mark.slow
def test_object_info_describes_the_nodes(comfy: ComfyWorkflows) -> None:
    info = comfy.object_info()
    assert {"LoadImage", "ImageScale", "ImageInvert", "SaveImage"} <= set(info)
    assert info["SaveImage"]["output_node"] is True
    assert info["ImageScale"]["input"]["required"]["image"] == ["IMAGE"]


def test_a_workflow_runs_and_its_image_downloads(comfy: ComfyWorkflows) -> None:
    name = _uploaded(comfy, (250, 0, 0))
    answer = comfy.submit(scale_invert_workflow(name, 12, 8, "adapter"))
    assert answer["node_errors"] == {} and isinstance(answer["number"], int)
    entry = comfy.wait(answer["prompt_id"], timeout=30)
    assert entry["status"]["completed"] and entry["status"]["status_str"] == "success"
    image = output_images(entry)[0]
    picture = Image.open(io.BytesIO(comfy.view(image["filename"])))
    assert picture.size == (12, 8) and picture.getpixel((0, 0)) == (5, 255, 255)


def test_positions_count_down(comfy: ComfyWorkflows) -> None:
    # Work that takes time: the sandbox, like ComfyUI, runs a tiny graph in milliseconds.
    ids = [comfy.submit(held_workflow(n, 1, f"q{n}"))["prompt_id"] for n in range(3)]
    first = [comfy.position(i) for i in ids]
    assert first[-1] is not None and first[-1] >= 1
    assert [p for p in first if p is not None] == sorted(p for p in first if p is not None)
    comfy.wait_all(ids, timeout=120)
    assert comfy.position(ids[-1]) is None


def test_a_dequeued_prompt_never_runs_and_leaves_no_history(comfy: ComfyWorkflows) -> None:
    held = comfy.submit(held_workflow(7, 1, "hold"))["prompt_id"]
    waiting = comfy.submit(held_workflow(8, 1, "gone"))["prompt_id"]
    assert comfy.position(waiting) == 1 or comfy.position(held) is None
    comfy.subject.dequeue([waiting])
    comfy.subject.delete_history([waiting])
    comfy.wait(held, timeout=60)
    assert comfy.position(waiting) is None and comfy.history(waiting) is None


@pytest.mark.parametrize(("graph", "error_type"), [
    ({"1": {"class_type": "NoSuchNode", "inputs": {}}}, "invalid_prompt"),
    ({"1": {"inputs": {}}}, "invalid_prompt"),
    ({"1": {"class_type": "EmptyImage", "inputs": {}}}, "prompt_no_outputs"),
    ({"1": {"class_type": "LoadImage", "inputs": {"image": "missing.png"}},
      "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}},
     "prompt_outputs_failed_validation"),
])
def test_invalid_prompts_get_comfyuis_error_shapes(comfy: ComfyWorkflows, graph: dict[str, Any],
                                                   error_type: str) -> None:
    with pytest.raises(WorkflowRejected) as rejected:
        comfy.submit(graph)
    assert rejected.value.status == 400 and rejected.value.error_type == error_type
    assert {"type", "message", "details", "extra_info"} <= set(rejected.value.error)
    if error_type == "prompt_outputs_failed_validation":
        errors = rejected.value.node_errors["1"]["errors"]
        assert errors[0]["type"] == "value_not_in_list"
        assert rejected.value.node_errors["1"]["class_type"] == "LoadImage"


def test_history_of_an_unknown_prompt_is_empty(comfy: ComfyWorkflows) -> None:
    assert comfy.history(str(uuid.uuid4())) is None


# ComfyUI's own answers, replayed ------------------------------------------------------------


def _answer(name: str) -> Any:
    return json.loads((ANSWERS / name).read_text(encoding="utf-8"))


def _empty_200(handler: object) -> tuple[int, str, bytes]:
    """ComfyUI's answer to POST /queue and POST /history: ``web.Response(status=200)``."""
    return 200, "application/octet-stream", b""


def _prompt_answer(name: str) -> Route:
    answer = _answer("prompt_answers.json")[name]
    return json_route(answer["status"], answer["body"])


@pytest.fixture
def replayed() -> Iterator[tuple[StubServer, ComfyUIAdapter, ComfyWorkflows]]:
    """A scripted server answering as ComfyUI does (routes added by each test), and the
    adapter on it; what the adapter registered is undone (as at a check's end) by the test."""
    routes: dict[tuple[str, str], Route] = {
        ("POST", "/queue"): _empty_200, ("POST", "/history"): _empty_200,
        ("GET", "/object_info"): json_route(200, _answer("object_info.json"))}
    with stub_server(routes) as server:
        context = AdapterContext(target_name="test", target_path=None, run_id="replay")
        adapter = ComfyUIAdapter(ComfyUIConfig(url=server.url), context)
        yield server, adapter, ComfyWorkflows(adapter)
        adapter.close()


def _deletes(server: StubServer, path: str) -> list[list[str]]:
    return [json.loads(body)["delete"] for method, at, body in server.requests
            if method == "POST" and at == path]


def test_queue_is_read_in_execution_order_not_heap_order(replayed: Any) -> None:
    server, _, comfy = replayed
    server.routes[("GET", "/queue")] = json_route(200, _answer("queue.json"))
    numbers = {item[1]: item[0] for item in _answer("queue.json")["queue_pending"]}
    state = comfy.queue()
    assert [numbers[p] for p in state["pending"]] == [-8, 5, 6, 7]
    assert state["running"] == [_answer("queue.json")["queue_running"][0][1]]
    by_number = {number: prompt_id for prompt_id, number in numbers.items()}
    assert comfy.position(by_number[7]) == 4 and comfy.position(by_number[-8]) == 1
    assert comfy.position(state["running"][0]) == 0 and comfy.position("not-queued") is None


def test_queue_entries_may_be_objects(replayed: Any) -> None:
    server, _, comfy = replayed
    answer = _answer("queue_objects.json")
    server.routes[("GET", "/queue")] = json_route(200, answer)
    by_priority = {i["priority"]: i["prompt_id"] for i in answer["queue_pending"]}
    assert comfy.queue()["pending"] == [by_priority[5], by_priority[6], by_priority[7]]


def test_a_queue_entry_of_unknown_shape_is_an_error_not_an_absence(replayed: Any) -> None:
    server, _, comfy = replayed
    server.routes[("GET", "/queue")] = json_route(200, {"queue_running": [],
                                                        "queue_pending": ["5b2e1d3f"]})
    with pytest.raises(TargetError, match="unknown shape"):
        comfy.position("5b2e1d3f")


@pytest.mark.parametrize("recorded", ["history_success.json", "history_error.json"])
def test_history_entries_are_read_as_comfyui_writes_them(replayed: Any, recorded: str) -> None:
    server, _, comfy = replayed
    answer = _answer(recorded)
    prompt_id = next(iter(answer))
    server.routes[("GET", f"/history/{prompt_id}")] = json_route(200, answer)
    server.routes[("GET", "/history/unknown")] = json_route(200, {})
    entry = comfy.wait(prompt_id, timeout=5)
    assert entry["prompt"][1] == prompt_id
    succeeded = recorded == "history_success.json"
    assert entry["status"]["completed"] is succeeded
    assert [i["filename"] for i in output_images(entry)] == (
        ["ComfyUI_00001_.png"] if succeeded else [])
    assert comfy.history("unknown") is None


def test_object_info_as_comfyui_describes_its_nodes(replayed: Any) -> None:
    _, _, comfy = replayed
    info = comfy.object_info()
    assert info["SaveImage"]["output_node"] is True
    assert "lanczos" in info["ImageScale"]["input"]["required"]["upscale_method"][0]


@pytest.mark.parametrize(("recorded", "error_type", "failed_nodes"), [
    ("outputs_failed_validation", "prompt_outputs_failed_validation", ["1"]),
    ("missing_node_type", "invalid_prompt", []),
    ("no_prompt", "no_prompt", []),
    ("no_prompt_before_2025", "", []),
])
def test_refused_prompts_keep_comfyuis_error_and_node_errors(
        replayed: Any, recorded: str, error_type: str, failed_nodes: list[str]) -> None:
    server, adapter, comfy = replayed
    server.routes[("POST", "/prompt")] = _prompt_answer(recorded)
    with pytest.raises(WorkflowRejected) as rejected:
        comfy.submit({"1": {"class_type": "LoadImage", "inputs": {"image": "missing.png"}}})
    assert rejected.value.status == 400 and rejected.value.error_type == error_type
    assert sorted(rejected.value.node_errors) == failed_nodes and rejected.value.message
    assert rejected.value.prompt_id is None and adapter.context.ledger.pending == []


def test_a_prompt_queued_with_failed_outputs_is_refused_and_taken_off_the_queue(
        replayed: Any) -> None:
    server, adapter, comfy = replayed
    server.routes[("POST", "/prompt")] = _prompt_answer("partially_valid")
    with pytest.raises(WorkflowRejected) as rejected:
        comfy.submit({"5": {"class_type": "SaveImage", "inputs": {}}})
    queued = rejected.value.prompt_id
    assert queued and rejected.value.status == 200 and "5" in rejected.value.node_errors
    assert _deletes(server, "/queue") == [[queued]]
    assert adapter.context.ledger.sweep() == []
    assert _deletes(server, "/history") == [[queued]]


def test_every_queued_prompt_is_dequeued_and_forgotten_at_the_end(replayed: Any) -> None:
    server, adapter, comfy = replayed
    server.routes[("POST", "/prompt")] = _prompt_answer("accepted")
    queued = comfy.submit({"9": {"class_type": "SaveImage", "inputs": {}}})
    assert queued["node_errors"] == {} and _deletes(server, "/queue") == []
    assert adapter.context.ledger.sweep() == []  # empty 200s are answers, not errors
    assert _deletes(server, "/queue") == [[queued["prompt_id"]]]
    assert _deletes(server, "/history") == [[queued["prompt_id"]]]
