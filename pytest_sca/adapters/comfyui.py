"""The ComfyUI adapter: capability ``workflows`` over ComfyUI's HTTP API.

Follows ComfyUI's server routes: ``POST /prompt`` (→ ``prompt_id``, ``number``,
``node_errors``; 400 with ``{"error": {"type", "message", …}, "node_errors"}``
for an invalid graph), ``GET /queue`` (``queue_running`` / ``queue_pending``
items ``[number, prompt_id, prompt, extra_data, outputs_to_execute]``),
``GET /history/{prompt_id}``, ``POST /history {"delete": [...]}``, ``POST /queue
{"delete": [...]}``, ``GET /view``, ``POST /upload/image`` (multipart field ``image``) and
``GET /object_info``. Works against a bare ComfyUI and against a platform's
ComfyUI-compatible gateway (``headers`` carry its auth). At the end of the check every
prompt the run queued is taken off the queue if it still waits, and its history entry is
deleted; output and uploaded files cannot be deleted through ComfyUI's API and stay on
the server.

Checked against ComfyUI's ``server.py`` and ``execution.py``: ``queue_pending`` is the
queue's heap array (not in execution order: entries are ordered here by ``number``), and
a prompt some of whose outputs fail validation is still queued with the valid ones (a 200
whose ``node_errors`` is not empty).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Mapping
from typing import Any, ClassVar, cast

import requests

from pytest_sca.adapters.base import Adapter, AdapterContext, Facade, Finding
from pytest_sca.adapters.config import ComfyUIConfig
from pytest_sca.adapters.http import VerifyingSession
from pytest_sca.capabilities import (
    HistoryEntry,
    QueuedPrompt,
    QueueState,
    Refused,
    TargetError,
    UploadedImage,
    WorkflowRejected,
    queue_position,
    wait_for,
)
from pytest_sca.cleanup import UndoAction


class ComfyUIAdapter(Adapter):
    """A ComfyUI server (or a platform's ComfyUI-compatible gateway) at ``url``."""

    transport: ClassVar[str] = "comfyui"
    config_model: ClassVar[type[ComfyUIConfig]] = ComfyUIConfig
    sweeps: ClassVar[frozenset[str]] = frozenset({"comfyui:history"})

    def __init__(self, config: ComfyUIConfig, context: AdapterContext, *,
                 session: requests.Session | None = None) -> None:
        """``session``: one already authenticated and verifying as the way to the server
        wants (another adapter's principal, e.g. through the Kubernetes API server's service
        proxy); none = one of ``config``'s ``verify`` and ``headers``."""
        super().__init__(config, context)
        self.base_url = config.url.rstrip("/")
        #: Every prompt of the run carries it, so that the sweep finds the run's history.
        self.client_id = f"{client_prefix(context.run_id)}{uuid.uuid4().hex[:8]}"
        if session is None:
            session = VerifyingSession()
            session.verify = config.verify
            session.headers.update(config.headers)
        self._session = session
        context.redact.add(config.headers.values())
        #: prompt id of the run → the undo that deletes its history entry
        self.undo: dict[str, UndoAction] = {}

    def close(self) -> None:
        self._session.close()

    def sweep(self, run_id: str) -> list[str]:
        """Take the prompts the run queued (found by client id) off the queue where they still
        wait, then delete their history entries; nobody else's prompt is touched.

        ComfyUI's API cannot delete output or uploaded files; they stay on the server."""
        try:
            queue = self.json("GET", "/queue")
        except (Refused, TargetError) as exc:
            return [f"GET /queue: {exc}"]
        waiting = [str(item[1]) for item in queue.get("queue_pending") or []
                   if isinstance(item, list) and len(item) > 3
                   and _client_of({"prompt": item}).startswith(client_prefix(run_id))]
        try:
            if waiting:
                self.dequeue(waiting)
        except (Refused, TargetError) as exc:
            return [f"POST /queue delete {len(waiting)} prompts: {exc}"]
        try:
            history = self.json("GET", "/history")
        except (Refused, TargetError) as exc:
            return [f"GET /history: {exc}"]
        mine = [prompt_id for prompt_id, entry in history.items()
                if _client_of(entry).startswith(client_prefix(run_id))]
        try:
            if mine:
                self.delete_history(mine)
        except (Refused, TargetError) as exc:
            return [f"POST /history delete {len(mine)} entries: {exc}"]
        return []

    def delete_history(self, prompt_ids: list[str]) -> None:
        """``POST /history {"delete": [...]}``: forget finished prompts (ComfyUI answers an
        empty 200)."""
        response = self.send("POST", "/history", json={"delete": prompt_ids})
        if response.status_code >= 300:
            self.fail(response, "POST", "/history")

    def probe(self, timeout: float) -> list[Finding]:
        """Doctor: ``GET /object_info`` answers (with the configured headers): the node
        classes the server can execute."""
        try:
            response = self._session.get(self.base_url + "/object_info", timeout=timeout)
        except requests.RequestException as exc:
            return [Finding("reachable", "fail", f"GET {self.base_url}/object_info: "
                            f"{type(exc).__name__}")]
        if response.status_code in (401, 403):
            return [Finding("credentials", "fail", f"GET /object_info: refused "
                            f"{response.status_code}: check `headers`")]
        try:
            nodes = response.json() if response.status_code < 300 else None
        except ValueError:
            nodes = None
        if not isinstance(nodes, dict):
            return [Finding("api", "fail", f"GET /object_info answered {response.status_code}"
                            " without ComfyUI's node table")]
        return [Finding("api", "ok", f"ComfyUI API: {len(nodes)} node classes")]

    def dequeue(self, prompt_ids: list[str]) -> None:
        """``POST /queue {"delete": [...]}``: take prompts that still wait off the queue (a
        running or finished one is left alone)."""
        response = self.send("POST", "/queue", json={"delete": prompt_ids})
        if response.status_code >= 300:
            self.fail(response, "POST", "/queue")

    def created(self, prompt_id: str) -> None:
        """Register the undo of a prompt the server queued: off the queue, out of the
        history."""

        def undo() -> None:
            self.dequeue([prompt_id])
            self.delete_history([prompt_id])

        self.undo[prompt_id] = self.context.created(
            "comfyui:history", f"dequeue prompt {prompt_id} and delete its history entry", undo)

    # plumbing ---------------------------------------------------------------------------------

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request to the server; :class:`TargetError` when it cannot be reached."""
        try:
            return self._session.request(method, self.base_url + path,
                                         timeout=self.config.timeout, **kwargs)
        except requests.RequestException as exc:
            raise TargetError(self.context.redact(
                f"{method} {self.base_url}{path}: cannot reach ComfyUI ({type(exc).__name__})"
            )) from None

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A JSON object answer, or the refusal / error it was."""
        return self.parse(self.send(method, path, **kwargs), method, path)

    def parse(self, response: requests.Response, method: str, path: str) -> dict[str, Any]:
        """The JSON object of a 2xx answer; :class:`Refused` (4xx) or :class:`TargetError`."""
        if response.status_code >= 300:
            self.fail(response, method, path)
        try:
            answer = response.json()
        except ValueError:
            raise TargetError(f"{method} {self.base_url}{path} answered "
                              f"{response.status_code} with a body that is not JSON") from None
        if not isinstance(answer, dict):
            raise TargetError(f"{method} {self.base_url}{path}: the answer is not an object")
        return answer

    def fail(self, response: requests.Response, method: str, path: str) -> None:
        """Raise what a non-2xx answer means: :class:`Refused` for 4xx, else TargetError."""
        text = " ".join(response.text.split())[:200]
        if not 400 <= response.status_code < 500:
            raise TargetError(self.context.redact(
                f"{method} {self.base_url}{path} answered {response.status_code}: {text}"))
        code = None
        try:
            error = response.json().get("error")
            if isinstance(error, dict):
                code, text = error.get("type"), str(error.get("message", text))
        except (ValueError, AttributeError):
            pass
        raise Refused(f"{method} {path}", response.status_code, code, self.context.redact(text))


def client_prefix(run_id: str) -> str:
    """The start of the client id of every prompt a run queues."""
    return f"sca-{run_id}-"


def _client_of(entry: Any) -> str:
    """The client id a history entry's prompt was queued with ('' when it has none)."""
    prompt = entry.get("prompt") if isinstance(entry, dict) else None
    extra = prompt[3] if isinstance(prompt, list) and len(prompt) > 3 else None
    return str(extra.get("client_id") or "") if isinstance(extra, dict) else ""


def _queue_ids(items: Any, where: str) -> list[str]:
    """Prompt ids of ``queue_running`` / ``queue_pending`` entries, in execution order.

    ComfyUI answers ``[number, prompt_id, prompt, extra_data, outputs]`` lists; some
    distributions answer objects (``{"prompt_id", "number" or "priority", …}``). Any other
    shape is an answer this adapter does not understand: :class:`TargetError`, never a
    silent "not queued".
    """
    if items is None:
        return []
    if not isinstance(items, list):
        raise TargetError(f"GET /queue: {where} is not a list")
    ordered: list[tuple[float, str]] = []
    for item in items:
        if isinstance(item, list) and len(item) >= 2:
            ordered.append((float(item[0]), str(item[1])))
        elif isinstance(item, dict) and item.get("prompt_id") is not None:
            rank = item.get("number", item.get("priority"))
            ordered.append((float(len(ordered) if rank is None else rank),
                            str(item["prompt_id"])))
        else:
            raise TargetError(f"GET /queue: an entry of {where} has an unknown shape: "
                              f"{str(item)[:120]}")
    return [prompt_id for _, prompt_id in sorted(ordered, key=lambda pair: pair[0])]


class ComfyWorkflows(Facade[ComfyUIAdapter]):
    """:class:`~pytest_sca.capabilities.Workflows` over ComfyUI's HTTP API."""

    def object_info(self) -> dict[str, Any]:
        return self.subject.json("GET", "/object_info")

    def submit(self, prompt: Mapping[str, Any], *,
               client_id: str | None = None) -> QueuedPrompt:
        comfy = self.subject
        path = "/prompt"
        body = {"prompt": dict(prompt), "client_id": client_id or comfy.client_id}
        response = comfy.send("POST", path, json=body)
        answer: Any = None
        if response.status_code in (200, 400):
            try:
                answer = response.json()
            except ValueError:
                answer = None
        found = answer.get("node_errors") if isinstance(answer, dict) else None
        # ComfyUI answers a list ([]) where it has no node to name (older servers).
        node_errors = found if isinstance(found, dict) else {}
        if response.status_code == 400:
            error = answer.get("error") if isinstance(answer, dict) else None
            if isinstance(error, str):
                error = {"type": "", "message": error}
            raise WorkflowRejected(f"POST {path}", response.status_code,
                                   error or {"message": response.text[:160]}, node_errors)
        queued = cast(QueuedPrompt, comfy.parse(response, "POST", path))
        prompt_id = queued.get("prompt_id")
        if prompt_id:
            comfy.created(str(prompt_id))
        if node_errors:
            # ComfyUI queued the prompt with only its valid outputs: the caller asked for the
            # whole graph, so it is refused, and taken off the queue while it still waits.
            if prompt_id:
                comfy.dequeue([str(prompt_id)])
            raise WorkflowRejected(
                f"POST {path}", response.status_code,
                {"type": "prompt_outputs_failed_validation",
                 "message": f"{len(node_errors)} node(s) failed validation; ComfyUI queued "
                            "the prompt with its other outputs"},
                node_errors, prompt_id=str(prompt_id) if prompt_id else None)
        return queued

    def queue(self) -> QueueState:
        answer = self.subject.json("GET", "/queue")
        return {"running": _queue_ids(answer.get("queue_running"), "queue_running"),
                "pending": _queue_ids(answer.get("queue_pending"), "queue_pending")}

    def position(self, prompt_id: str) -> int | None:
        return queue_position(self.queue(), prompt_id)

    def history(self, prompt_id: str) -> HistoryEntry | None:
        answer = self.subject.json("GET", f"/history/{prompt_id}")
        entry = answer.get(prompt_id)
        return entry if isinstance(entry, dict) else None  # type: ignore[return-value]

    def wait(self, prompt_id: str, timeout: float = 60.0) -> HistoryEntry:
        entry = wait_for(lambda: self.history(prompt_id), lambda found: found is not None,
                         timeout, lambda found: f"prompt {prompt_id} not in the history",
                         first=0.05, longest=1.0)
        assert entry is not None
        return entry

    def wait_all(self, prompt_ids: Collection[str],
                 timeout: float = 60.0) -> dict[str, HistoryEntry]:
        deadline = time.monotonic() + timeout
        return {p: self.wait(p, max(0.1, deadline - time.monotonic())) for p in prompt_ids}

    def view(self, filename: str, *, subfolder: str = "", kind: str = "output") -> bytes:
        path = "/view"
        response = self.subject.send("GET", path, params={
            "filename": filename, "subfolder": subfolder, "type": kind})
        if response.status_code >= 300:
            self.subject.fail(response, "GET", path)
        return response.content

    def upload_image(self, name: str, data: bytes, *,
                     overwrite: bool = False) -> UploadedImage:
        files = {"image": (name, data, "image/png")}
        form = {"overwrite": "true" if overwrite else "false", "type": "input"}
        return self.subject.json("POST", "/upload/image", files=files,  # type: ignore[return-value]
                                 data=form)


#: The ComfyUI adapter's capability (set here: its implementation needs the class).
ComfyUIAdapter.implementations = {"workflows": ComfyWorkflows}
