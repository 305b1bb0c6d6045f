"""8.7 工作流服务调用 Calling workflow services over HTTP (ComfyUI API)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_sca.capabilities import output_images
from pytest_sca.fixtures import CheckContext

from .probes import generated_workflow, png, png_size, scale_invert_workflow

QUEUED_TASKS = 4


@pytest.mark.clause("8.7.a")
@pytest.mark.mutating
def test_workflow_submitted_over_http_gets_a_task_id(sca: CheckContext, workflows: Any) -> None:
    """POST /prompt with an API-format workflow answers a task id that the history then knows."""
    answer = workflows.submit(generated_workflow(16, 16, 0x00FF00, sca.name("api")))
    sca.evidence("POST /prompt", answer)
    task = answer.get("prompt_id")
    assert task, f"[8.7.a] POST /prompt answered no prompt_id: {answer}"
    entry = workflows.wait(task)
    assert (entry.get("status") or {}).get("completed"), (
        f"[8.7.a] task {task} did not complete: {entry.get('status')}")


@pytest.mark.clause("8.7.b")
@pytest.mark.mutating
def test_task_uses_submitted_instructions_and_files(sca: CheckContext, workflows: Any) -> None:
    """Upload two different images, run the same workflow on each with a size instruction:
    both outputs have that size and they differ."""
    tasks = {}
    for colour, rgb in {"red": (220, 20, 20), "blue": (20, 20, 220)}.items():
        upload = workflows.upload_image(f"{sca.name(colour)}.png", png(8, 8, rgb))
        graph = scale_invert_workflow(upload["name"], 24, 12, sca.name(f"in-{colour}"))
        tasks[colour] = workflows.submit(graph)["prompt_id"]
    outputs = {}
    for colour, task in tasks.items():
        images = output_images(workflows.wait(task))
        assert images, f"[8.7.b] task {task} produced no image"
        outputs[colour] = workflows.view(images[0]["filename"],
                                         subfolder=images[0].get("subfolder", ""))
    sizes = {colour: png_size(data) for colour, data in outputs.items()}
    sca.evidence("output sizes", sizes)
    assert all(size == (24, 12) for size in sizes.values()), (
        f"[8.7.b] the size instruction 24x12 was not applied: {sizes}")
    assert outputs["red"] != outputs["blue"], (
        "[8.7.b] the outputs for two different input images are identical: the task ignored "
        "its input file")


@pytest.mark.clause("8.7.c")
@pytest.mark.mutating
def test_queued_tasks_report_decreasing_positions(sca: CheckContext, workflows: Any) -> None:
    """Queue several tasks: a waiting task reports a queue position, and it decreases."""
    tasks = [workflows.submit(generated_workflow(16, 16, n, sca.name(f"q{n}")))["prompt_id"]
             for n in range(QUEUED_TASKS)]
    last = tasks[-1]
    seen: list[int] = []
    unreported = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        position = workflows.position(last)
        if position is None:
            if workflows.history(last) is not None:
                break
            unreported += 1
        elif not seen or position != seen[-1]:
            seen.append(position)
        time.sleep(0.05)
    workflows.wait_all(tasks)
    sca.evidence("positions of the last task", {"task": last, "positions": seen,
                                                "reads without a position": unreported})
    assert seen and unreported == 0, (
        f"[8.7.c] queued task {last} was waiting but the queue reported no position "
        f"({unreported} reads; positions seen {seen})")
    assert len(seen) >= 2 and all(a > b for a, b in zip(seen, seen[1:], strict=False)), (
        f"[8.7.c] the queue position of task {last} did not decrease: {seen}")


@pytest.mark.clause("8.7.d")
@pytest.mark.mutating
def test_result_is_downloadable_image(sca: CheckContext, workflows: Any) -> None:
    """A finished task's output downloads through GET /view and is a valid image of the
    requested size."""
    task = workflows.submit(generated_workflow(20, 10, 0x808000, sca.name("dl")))["prompt_id"]
    images = output_images(workflows.wait(task))
    assert images, f"[8.7.d] task {task} finished without an output image"
    data = workflows.view(images[0]["filename"], subfolder=images[0].get("subfolder", ""))
    size = png_size(data)
    sca.evidence("downloaded output", {"image": images[0], "bytes": len(data), "size": size})
    assert size == (20, 10), (
        f"[8.7.d] the downloaded output {images[0]['filename']} is not a valid 20x10 image "
        f"({len(data)} bytes)")
