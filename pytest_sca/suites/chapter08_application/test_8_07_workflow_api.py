"""8.7 工作流服务调用 Calling workflow services over HTTP (ComfyUI API)."""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass, field

import pytest

from pytest_sca.capabilities import (
    TargetError,
    WaitTimeout,
    WorkflowRejected,
    Workflows,
    output_images,
    queue_position,
    wait_for,
)
from pytest_sca.fixtures import CheckContext

from .probes import generated_workflow, held_workflow, png, png_size, scale_invert_workflow

#: 8.7.c's tries: (prompts queued back to back, rounds of 2048×2048 Lanczos scaling in each).
#: The last prompt's position is watched; when a server ran the first try too fast to see it
#: move (or ran the prompts side by side), the second queues more prompts that take seconds
#: anywhere.
HOLD = ((4, 2), (8, 6))
#: The longest 8.7.c watches one try.
WATCH_SECONDS = 180.0


@pytest.mark.clause("8.7.a")
@pytest.mark.mutating
def test_workflow_submitted_over_http_gets_a_task_id(sca: CheckContext,
                                                     workflows: Workflows) -> None:
    """POST /prompt with an API-format workflow answers a task id that the history then knows
    as that workflow, completed with an output."""
    answer = workflows.submit(generated_workflow(16, 16, 0x00FF00, sca.name("api")))
    sca.evidence("POST /prompt", answer)
    task = answer.get("prompt_id")
    assert task, f"[8.7.a] POST /prompt answered no prompt_id: {answer}"
    entry = workflows.wait(task)
    sca.evidence("history entry", {"status": entry.get("status"),
                                   "outputs": entry.get("outputs")})
    queued = entry.get("prompt") or []
    assert len(queued) > 1 and queued[1] == task, (
        f"[8.7.a] the history entry of task {task} is another prompt's: {queued[:2]}")
    assert (entry.get("status") or {}).get("completed") and output_images(entry), (
        f"[8.7.a] task {task} did not complete with an output: {entry.get('status')}")


@pytest.mark.clause("8.7.b")
@pytest.mark.mutating
def test_task_uses_submitted_instructions_and_files(sca: CheckContext,
                                                    workflows: Workflows) -> None:
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


@dataclass
class QueueWatch:
    """What 8.7.c saw of the queue while its prompts ran."""

    task: str
    #: (seconds since the watch began, position) each time the watched task's position changed.
    positions: list[tuple[float, int]] = field(default_factory=list)
    #: Positions that went up with no new prompt ahead of the task (each: before, after).
    increases: list[tuple[int, int]] = field(default_factory=list)
    #: Rises explained by another client's prompt put ahead of the task.
    overtaken: int = 0
    #: Reads where the task was neither in the queue nor in the history for the second time
    #: running: a waiting task the queue did not report. (One such read alone can be the
    #: instant a gateway with its own store moves a prompt from waiting to running.)
    unreported: int = 0
    suspect: bool = False
    #: The check's tasks seen finished (in the history), in order.
    finished: list[str] = field(default_factory=list)
    #: Tasks /queue still listed after the history had them finished.
    stale: list[str] = field(default_factory=list)
    done: bool = False

    @property
    def decreased(self) -> bool:
        seen = [position for _, position in self.positions]
        return any(b < a for a, b in zip(seen, seen[1:], strict=False))


def _watch(workflows: Workflows, tasks: list[str]) -> QueueWatch:
    """Read the queue (never retried) until the last task finished: its position on every
    read, and whether the listing agrees with the history."""
    watch = QueueWatch(tasks[-1])
    began = time.monotonic()
    ahead: set[str] = set()

    def read() -> QueueWatch:
        # The history first: a task finished before the queue was read must not be listed.
        waiting = next((t for t in tasks if t not in watch.finished), watch.task)
        if workflows.history(waiting) is not None:
            watch.finished.append(waiting)
        state = workflows.queue()
        listed = set(state["running"]) | set(state["pending"])
        watch.stale.extend(t for t in watch.finished if t in listed and t not in watch.stale)
        position = queue_position(state, watch.task)
        if position is None:
            if watch.task in watch.finished or workflows.history(watch.task) is not None:
                watch.done = True
            else:
                if watch.suspect:
                    watch.unreported += 1
                watch.suspect = True
            return watch
        watch.suspect = False
        order = state["running"] + state["pending"]
        now_ahead = set(order[:order.index(watch.task)])
        last = watch.positions[-1][1] if watch.positions else None
        if last is not None and position > last:
            if now_ahead - ahead:
                watch.overtaken += 1  # another client's prompt was put in front ("front")
            else:
                watch.increases.append((last, position))
        if position != last:
            watch.positions.append((round(time.monotonic() - began, 3), position))
        ahead.clear()
        ahead.update(now_ahead)
        return watch

    # After the deadline it is judged on what was seen: a position that decreased is enough.
    with contextlib.suppress(WaitTimeout):
        wait_for(read, lambda seen: seen.done or bool(seen.stale), WATCH_SECONDS,
                 lambda seen: f"task {seen.task} still queued at {seen.positions[-1:]}",
                 first=0.02, longest=0.2)
    return watch


@pytest.mark.clause("8.7.c")
@pytest.mark.mutating
def test_queued_tasks_report_decreasing_positions(sca: CheckContext,
                                                  workflows: Workflows) -> None:
    """Queue 4 prompts made slow on purpose (Lanczos scaling of 2048×2048 images): the last
    one reports a position on every read while it waits, the position decreases, and no
    finished prompt stays listed. A server too fast to watch is retried with heavier prompts,
    then inconclusive (error)."""
    watches = []
    for queued, rounds in HOLD:
        colours = random.Random(f"{sca.run_id}-{rounds}")
        try:
            tasks = [workflows.submit(held_workflow(colours.randrange(1 << 24), rounds,
                                                    sca.name(f"q{rounds}-{n}")))["prompt_id"]
                     for n in range(queued)]
        except WorkflowRejected as refusal:
            raise TargetError(f"[8.7.c] the server refused the probe's slow workflow (Lanczos "
                              f"ImageScale to 2048x2048): {refusal}") from None
        watch = _watch(workflows, tasks)
        watches.append(watch)
        sca.evidence(f"queue positions ({queued} prompts, {rounds} rounds of scaling)", {
            "task": watch.task, "positions (s, position)": watch.positions,
            "reads without a position while waiting": watch.unreported,
            "finished but still listed": watch.stale, "rises": watch.increases,
            "overtaken by other prompts": watch.overtaken})
        assert not watch.stale, (
            f"[8.7.c] /queue still lists tasks {watch.stale} after the history shows them "
            f"finished: the positions it reports are stale ({watch.positions})")
        assert watch.unreported == 0, (
            f"[8.7.c] queued task {watch.task} was waiting but the queue reported no position "
            f"({watch.unreported} reads; positions seen {watch.positions})")
        assert not watch.increases, (
            f"[8.7.c] the queue position of task {watch.task} rose with no prompt put ahead of "
            f"it: {watch.increases} (positions {watch.positions})")
        if watch.decreased:
            return
    raise TargetError(
        f"[8.7.c] inconclusive: the prompts ran too fast to see a position decrease "
        f"(positions seen {[w.positions for w in watches]}) even with {HOLD[-1][0]} prompts of "
        f"{HOLD[-1][1]} rounds of 2048x2048 Lanczos scaling")


@pytest.mark.clause("8.7.d")
@pytest.mark.mutating
def test_result_is_downloadable_image(sca: CheckContext, workflows: Workflows) -> None:
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
