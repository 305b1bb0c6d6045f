"""``devtools`` over an OpenAI-compatible API: what an API alone shows a developer.

Its web console (``adapters.openai.console_url``), its published API description (the
vendor's ``openapi_url``, else the server's own ``/openapi.json`` as FastAPI-based servers
publish it) and raw requests for probing its error answers (7.4). The rest of the
capability is about training jobs and nodes, which an inference API does not have:
:class:`~pytest_sca.capabilities.Unsupported`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import requests
import yaml

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.mapping import error_envelope
from pytest_sca.adapters.openai.client import OpenAIClient, absence, same_host
from pytest_sca.capabilities import (
    ApiOperation,
    ErrorEnvelope,
    Framework,
    JobMetrics,
    NodeMark,
    Preflight,
    TargetError,
    Terminal,
    Unsupported,
    WebAnswer,
)

NO_JOBS = ("OpenAI's API has no training jobs, workers or nodes: this needs the platform's "
           "own API (adapters.platform or adapters.kubernetes)")


#: The operations of OpenAI's API the adapter calls (below the API's base URL).
OPERATIONS: tuple[tuple[str, str, str], ...] = (
    ("models", "GET", "/models"),
    ("models.retrieve", "GET", "/models/{model}"),
    ("models.delete", "DELETE", "/models/{model}"),
    ("chat", "POST", "/chat/completions"),
    ("completions", "POST", "/completions"),
    ("embeddings", "POST", "/embeddings"),
    ("files", "GET", "/files"),
    ("files.upload", "POST", "/files"),
    ("files.retrieve", "GET", "/files/{file_id}"),
    ("files.content", "GET", "/files/{file_id}/content"),
    ("files.delete", "DELETE", "/files/{file_id}"),
    ("fine_tuning", "GET", "/fine_tuning/jobs"),
    ("fine_tuning.create", "POST", "/fine_tuning/jobs"),
    ("fine_tuning.retrieve", "GET", "/fine_tuning/jobs/{fine_tuning_job_id}"),
    ("fine_tuning.events", "GET", "/fine_tuning/jobs/{fine_tuning_job_id}/events"),
    ("fine_tuning.checkpoints", "GET", "/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints"),
    ("fine_tuning.cancel", "POST", "/fine_tuning/jobs/{fine_tuning_job_id}/cancel"),
    ("usage", "GET", "/organization/usage/completions"),
)


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url``."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


class OpenAIDevTools(Facade[OpenAIClient]):
    """:class:`~pytest_sca.capabilities.DevTools`: console, API description and raw requests
    of an OpenAI-compatible API; the job and node tools are :class:`Unsupported`."""

    def _no_jobs(self) -> NoReturn:
        raise Unsupported(NO_JOBS)

    def frameworks(self) -> list[Framework]:
        self._no_jobs()

    def job_metrics(self, job_id: str, since: str | None = None,
                    until: str | None = None) -> JobMetrics:
        self._no_jobs()

    def terminal(self, job_id: str, worker: int = 0, timeout: float = 10.0) -> Terminal:
        self._no_jobs()

    def preflight(self, node_ids: Sequence[str] | None = None) -> Preflight:
        self._no_jobs()

    def mark_faulty(self, node_id: str, reason: str) -> NodeMark:
        self._no_jobs()

    def unmark(self, node_id: str) -> NodeMark:
        self._no_jobs()

    def _get(self, url: str) -> requests.Response:
        """GET ``url`` as a browser would: the key only to the API's own host."""
        client = self.subject
        headers = dict(client.session.headers) if same_host(url, client.base_url) else {}
        try:
            return requests.get(url, headers=headers, timeout=client.config.timeout,
                                verify=client.config.verify)
        except requests.RequestException as exc:
            raise TargetError(client.scrub(f"GET {url}: cannot reach it ({type(exc).__name__})"
                                           )) from None

    def console_page(self) -> WebAnswer:
        url = self.subject.config.console_url
        if not url:
            raise Unsupported("an OpenAI-compatible API has no console page of its own: set "
                              "adapters.openai.console_url to the vendor's web console")
        answer = self._get(url)
        return WebAnswer(answer.status_code, answer.headers.get("Content-Type", ""),
                         answer.text, dict(answer.headers))

    def _description_url(self) -> tuple[str, str]:
        """(where the API description is, the base its paths are relative to)."""
        client = self.subject
        if client.config.openapi_url:
            return client.config.openapi_url, client.base_url
        return origin(client.base_url) + "/openapi.json", origin(client.base_url)

    def api_description(self) -> dict[str, Any]:
        client = self.subject
        url, _ = self._description_url()
        if not client.config.openapi_url and client.discovery.known.get("openapi"):
            raise client.discovery.unsupported("openapi")
        answer = self._get(url)
        if not client.config.openapi_url:
            reason = absence(answer, collection=True)
            if reason is not None or answer.status_code in (401, 403):
                client.discovery.known["openapi"] = f"GET {url} answered " + (
                    reason or f"{answer.status_code}")
                raise Unsupported(f"the OpenAI-compatible endpoint publishes no API description "
                                  f"(GET {url} answered {reason or answer.status_code}): set "
                                  "adapters.openai.openapi_url to where the vendor publishes it")
        if answer.status_code >= 300:
            raise TargetError(f"GET {url} answered {answer.status_code}")
        try:
            document = (json.loads(answer.text) if answer.text.lstrip().startswith("{")
                        else yaml.safe_load(answer.text))
        except (ValueError, yaml.YAMLError):
            raise TargetError(f"GET {url}: the API description is neither JSON nor YAML") from None
        if not isinstance(document, dict):
            raise TargetError(f"GET {url}: the API description is not an object")
        return document

    def error_envelope(self, answer: WebAnswer) -> ErrorEnvelope | None:
        # OpenAI's documented envelope: {"error": {"message", "type", "param", "code"}},
        # whose code may be null where the type says what went wrong.
        return error_envelope(answer.text, ["/error/code", "/error/type"], ["/error/message"])

    def api_operations(self) -> list[ApiOperation]:
        client = self.subject
        _, base = self._description_url()
        below = urlsplit(client.base_url).path.rstrip("/")
        prefix = below[len(urlsplit(base).path.rstrip("/")):]
        return [{"name": name, "method": method, "path": prefix + path, "route": below + path}
                for name, method, path in OPERATIONS]

    def raw(self, method: str, path: str, body: bytes | None = None,
            content_type: str = "application/json") -> WebAnswer:
        client = self.subject
        _, base = self._description_url()
        headers = dict(client.session.headers)
        headers["Content-Type"] = content_type
        try:
            answer = requests.request(method, base + path, data=body, headers=headers,
                                      timeout=client.config.timeout, verify=client.config.verify,
                                      allow_redirects=False)
        except requests.RequestException as exc:
            raise TargetError(client.scrub(f"{method} {base}{path}: cannot reach the target "
                                           f"({type(exc).__name__})")) from None
        return WebAnswer(answer.status_code, answer.headers.get("Content-Type", ""),
                         answer.text, dict(answer.headers))
