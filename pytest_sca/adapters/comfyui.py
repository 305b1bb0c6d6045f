"""The ComfyUI adapter: capability ``workflows`` over ComfyUI's HTTP API.

Follows ComfyUI's server routes: ``POST /prompt`` (→ ``prompt_id``, ``number``,
``node_errors``; 400 with ``{"error": {"type", "message", …}, "node_errors"}``
for an invalid graph), ``GET /queue`` (``queue_running`` / ``queue_pending``
items ``[number, prompt_id, prompt, extra_data, outputs_to_execute]``),
``GET /history/{prompt_id}``, ``GET /view``, ``POST /upload/image`` (multipart
field ``image``) and ``GET /object_info``. Works against a bare ComfyUI and
against a platform's ComfyUI-compatible gateway (``headers`` carry its auth).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import requests

from pytest_sca.adapters.base import Adapter, AdapterContext, TargetError
from pytest_sca.adapters.capabilities import wait_for
from pytest_sca.adapters.config import ComfyUIConfig
from pytest_sca.adapters.http import ApiError, VerifyingSession

Record = dict[str, Any]



class PromptRejected(ApiError):
    """ComfyUI refused a prompt (400): ``error_type`` and the per-node ``node_errors``."""

    def __init__(self, path: str, status: int, error: Mapping[str, Any],
                 node_errors: Mapping[str, Any]) -> None:
        super().__init__("POST", path, status, str(error.get("type") or "") or None,
                         str(error.get("message") or ""))
        self.error_type = str(error.get("type") or "")
        self.error = dict(error)
        self.node_errors = dict(node_errors)


@runtime_checkable
class Workflows(Protocol):
    """Running ComfyUI workflows (API format) and fetching their results."""

    def object_info(self) -> Record:
        """Node class → its description (inputs, outputs, category)."""
        ...

    def submit(self, prompt: Mapping[str, Any], *, client_id: str | None = None) -> Record:
        """Queue a workflow: ``{prompt_id, number, node_errors}``; :class:`PromptRejected`."""
        ...

    def queue(self) -> Record:
        """``{running: [prompt_id…], pending: [prompt_id…]}``, pending in execution order."""
        ...

    def position(self, prompt_id: str) -> int | None:
        """0 while running, 1.. while waiting, None when not queued."""
        ...

    def history(self, prompt_id: str) -> Record | None:
        """The history entry of a finished prompt (``outputs``, ``status``…), else None."""
        ...

    def wait(self, prompt_id: str, timeout: float = 60.0) -> Record:
        """Poll (with backoff) until the prompt is in the history; :class:`WaitTimeout`."""
        ...

    def view(self, filename: str, *, subfolder: str = "", kind: str = "output") -> bytes:
        """The bytes of an output (or input) image."""
        ...

    def upload_image(self, name: str, data: bytes, *, overwrite: bool = False) -> Record:
        """Upload an input image: ``{name, subfolder, type}`` (use ``name`` in LoadImage)."""
        ...


def output_images(entry: Mapping[str, Any]) -> list[Record]:
    """The ``{filename, subfolder, type}`` of every image a history entry's outputs hold."""
    return [image for output in (entry.get("outputs") or {}).values()
            for image in (output.get("images") or [])]


class ComfyUIAdapter(Adapter):
    """Speaks ComfyUI's HTTP API at ``url``."""

    transport: ClassVar[str] = "comfyui"
    provides: ClassVar[frozenset[str]] = frozenset({"workflows"})
    config_model: ClassVar[type[ComfyUIConfig]] = ComfyUIConfig

    def __init__(self, config: ComfyUIConfig, context: AdapterContext) -> None:
        super().__init__(config, context)
        self.base_url = config.url.rstrip("/")
        self.client_id = f"sca-{context.run_id}-{uuid.uuid4().hex[:8]}"
        self._session = VerifyingSession()
        self._session.verify = config.verify
        self._session.headers.update(config.headers)
        context.redact.add(config.headers.values())

    def capability(self, name: str) -> Any:
        return self

    def close(self) -> None:
        self._session.close()

    # operations ------------------------------------------------------------------------

    def object_info(self) -> Record:
        return self._json("GET", "/object_info")

    def submit(self, prompt: Mapping[str, Any], *, client_id: str | None = None) -> Record:
        path = "/prompt"
        body = {"prompt": dict(prompt), "client_id": client_id or self.client_id}
        response = self._send("POST", path, json=body)
        if response.status_code == 400:
            try:
                answer = response.json()
            except ValueError:
                answer = {}
            error = answer.get("error") if isinstance(answer, dict) else None
            if isinstance(error, str):
                error = {"type": "", "message": error}
            raise PromptRejected(path, 400, error or {"message": response.text[:160]},
                                 (answer or {}).get("node_errors") or {})
        return self._parse(response, "POST", path)

    def queue(self) -> Record:
        answer = self._json("GET", "/queue")

        def ids(items: Any) -> list[str]:
            rows = [i for i in items or [] if isinstance(i, list) and len(i) >= 2]
            return [str(i[1]) for i in sorted(rows, key=lambda i: i[0])]

        return {"running": ids(answer.get("queue_running")),
                "pending": ids(answer.get("queue_pending"))}

    def position(self, prompt_id: str) -> int | None:
        current = self.queue()
        if prompt_id in current["running"]:
            return 0
        if prompt_id in current["pending"]:
            return current["pending"].index(prompt_id) + 1
        return None

    def history(self, prompt_id: str) -> Record | None:
        answer = self._json("GET", f"/history/{prompt_id}")
        entry = answer.get(prompt_id) if isinstance(answer, dict) else None
        return entry if isinstance(entry, dict) else None

    def wait(self, prompt_id: str, timeout: float = 60.0) -> Record:
        entry = wait_for(lambda: self.history(prompt_id), lambda found: found is not None,
                         timeout, lambda found: f"prompt {prompt_id} not in the history",
                         first=0.05, longest=1.0)
        assert entry is not None
        return entry

    def wait_all(self, prompt_ids: Collection[str], timeout: float = 60.0) -> dict[str, Record]:
        """Every prompt's history entry, within one deadline."""
        deadline = time.monotonic() + timeout
        return {p: self.wait(p, max(0.1, deadline - time.monotonic())) for p in prompt_ids}

    def view(self, filename: str, *, subfolder: str = "", kind: str = "output") -> bytes:
        path = "/view"
        response = self._send("GET", path, params={"filename": filename,
                                                   "subfolder": subfolder, "type": kind})
        if response.status_code >= 400:
            self._raise(response, "GET", path)
        return response.content

    def upload_image(self, name: str, data: bytes, *, overwrite: bool = False) -> Record:
        files = {"image": (name, data, "image/png")}
        form = {"overwrite": "true" if overwrite else "false", "type": "input"}
        response = self._send("POST", "/upload/image", files=files, data=form)
        return self._parse(response, "POST", "/upload/image")

    # plumbing ---------------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self._session.request(method, self.base_url + path,
                                         timeout=self.config.timeout, **kwargs)
        except requests.RequestException as exc:
            raise TargetError(self.context.redact(
                f"{method} {self.base_url}{path}: cannot reach ComfyUI ({type(exc).__name__})"
            )) from None

    def _json(self, method: str, path: str) -> Record:
        return self._parse(self._send(method, path), method, path)

    def _parse(self, response: requests.Response, method: str, path: str) -> Record:
        if response.status_code >= 400:
            self._raise(response, method, path)
        try:
            answer = response.json()
        except ValueError:
            raise TargetError(f"{method} {self.base_url}{path} answered "
                              f"{response.status_code} with a body that is not JSON") from None
        if not isinstance(answer, dict):
            raise TargetError(f"{method} {self.base_url}{path}: the answer is not an object")
        return answer

    def _raise(self, response: requests.Response, method: str, path: str) -> None:
        text = " ".join(response.text.split())[:200]
        if response.status_code >= 500:
            raise TargetError(self.context.redact(
                f"{method} {self.base_url}{path} answered {response.status_code}: {text}"))
        code = None
        try:
            error = response.json().get("error")
            if isinstance(error, dict):
                code, text = error.get("type"), str(error.get("message", text))
        except (ValueError, AttributeError):
            pass
        raise ApiError(method, path, response.status_code, code, self.context.redact(text))

