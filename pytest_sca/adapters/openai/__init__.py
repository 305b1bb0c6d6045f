"""The OpenAI-compatible adapter (transport ``openai``): every capability OpenAI's API shape
can serve, over any server that copies it.

``inference`` (models, chat and text completions, SSE streaming, embeddings), ``models``
(``GET/DELETE /models/{model}``, ``/files``), ``finetune`` (``/files``,
``/fine_tuning/jobs`` with events, checkpoints and cancel), ``files`` (``/files``: upload,
retrieve, content, list, delete), ``model_usage``
(``/organization/usage/completions``) and ``devtools`` (console, API description, raw
requests). Each endpoint family is discovered by probing it once per run; one the server
lacks makes its checks ``not_assessed`` (:class:`~pytest_sca.capabilities.Unsupported`).
A second API key in the target file (``other_key``) is the second principal of the
isolation and usage-attribution checks (``as_other_tenant()``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import requests

from pytest_sca.adapters.base import Adapter, AdapterContext, Finding
from pytest_sca.adapters.config import OpenAIConfig
from pytest_sca.adapters.openai.client import OpenAIClient
from pytest_sca.adapters.openai.devtools import OpenAIDevTools
from pytest_sca.adapters.openai.inference import OpenAIInference
from pytest_sca.adapters.openai.models import OpenAIFiles, OpenAIFineTune, OpenAIModels
from pytest_sca.adapters.openai.sweep import sweep_run
from pytest_sca.adapters.openai.usage import OpenAIModelUsage


class OpenAIAdapter(Adapter):
    """Speaks OpenAI's HTTP API to ``base_url`` (which ends in ``/v1``)."""

    transport: ClassVar[str] = "openai"
    config_model: ClassVar[type[OpenAIConfig]] = OpenAIConfig
    implementations: ClassVar[Mapping[str, Callable[[Any], object]]] = {
        "inference": OpenAIInference,
        "models": OpenAIModels,
        "finetune": OpenAIFineTune,
        "files": OpenAIFiles,
        "model_usage": OpenAIModelUsage,
        "devtools": OpenAIDevTools,
    }
    sweeps: ClassVar[frozenset[str]] = frozenset({"openai:files", "openai:fine_tuning.jobs"})

    def __init__(self, config: OpenAIConfig, context: AdapterContext) -> None:
        super().__init__(config, context)
        #: The target's principal; ``client.acting_as(key)`` and ``client.other_tenant()``
        #: are other principals at the same endpoint.
        self.client = OpenAIClient(config, context)

    def subject(self) -> OpenAIClient:
        return self.client

    def probe(self, timeout: float) -> list[Finding]:
        """Doctor: ``GET /models`` answers with the key, and lists the models the target
        file names."""
        client, path = self.client, "/models"
        try:
            response = client.session.get(client.url(path), timeout=timeout)
        except requests.RequestException as exc:
            return [Finding("reachable", "fail", f"GET {client.base_url}{path}: "
                            f"{type(exc).__name__}")]
        if response.status_code in (401, 403):
            return [Finding("credentials", "fail", f"GET {path}: refused "
                            f"{response.status_code}: the api_key is not accepted")]
        if response.status_code >= 300:
            return [Finding("api", "fail", f"GET {path} answered {response.status_code}")]
        try:
            served = [str(m.get("id")) for m in response.json().get("data", [])]
        except (ValueError, AttributeError):
            return [Finding("api", "fail", f"GET {path}: not an OpenAI model list")]
        findings = [Finding("credentials", "ok" if client.key else "warn",
                            "api key accepted" if client.key else "no api_key: anonymous"),
                    Finding("offers", "ok" if served else "fail",
                            f"{len(served)} model(s): {', '.join(served[:8])}"
                            + (" …" if len(served) > 8 else ""))]
        missing = [m for m in self.config.models if m not in served]
        if missing:
            findings.append(Finding("offers", "fail", f"models the target file names are not "
                                    f"served: {', '.join(missing)}"))
        return findings

    def sweep(self, run_id: str) -> list[str]:
        failures = sweep_run(self.client, run_id)
        if self.client.has_other_tenant:
            failures += [f"as the second principal: {line}"
                         for line in sweep_run(self.client.other_tenant(), run_id)]
        return failures

    def close(self) -> None:
        self.client.close()


__all__ = ["OpenAIAdapter", "OpenAIClient", "OpenAIDevTools", "OpenAIFineTune",
           "OpenAIInference", "OpenAIModels", "OpenAIModelUsage"]
