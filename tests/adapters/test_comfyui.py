"""The ComfyUI adapter against the sandbox's ComfyUI-compatible endpoint, including the error
shapes ComfyUI documents for invalid prompts."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from PIL import Image

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.comfyui import ComfyUIAdapter, ComfyWorkflows
from pytest_sca.adapters.config import ComfyUIConfig
from pytest_sca.capabilities import WorkflowRejected, output_images
from pytest_sca.sandbox.launcher import SandboxProcess
from pytest_sca.suites.chapter08_application.probes import png, scale_invert_workflow

from .helpers import expand_env


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
    name = _uploaded(comfy, (0, 0, 250))
    ids = [comfy.submit(scale_invert_workflow(name, 4, 4, f"q{n}"))["prompt_id"]
           for n in range(3)]
    first = [comfy.position(i) for i in ids]
    assert None not in first and first[-1] is not None and first[-1] >= 1
    assert first == sorted(p for p in first if p is not None)
    comfy.wait_all(ids, timeout=30)
    assert comfy.position(ids[-1]) is None


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
