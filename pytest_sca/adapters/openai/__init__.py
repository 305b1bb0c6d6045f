"""The OpenAI-compatible adapter (transport ``openai``): every capability OpenAI's API shape
can serve, over any server that copies it.

``inference`` (models, chat and text completions, SSE streaming, embeddings), ``models``
(``GET/DELETE /models/{model}``, ``/files``), ``finetune`` (``/files``,
``/fine_tuning/jobs`` with events, checkpoints and cancel), ``model_usage``
(``/organization/usage/completions``) and ``devtools`` (console, API description, raw
requests). Each endpoint family is discovered by probing it once per run; one the server
lacks makes its checks ``not_assessed`` (:class:`~pytest_sca.capabilities.Unsupported`).
A second API key in the target file (``other_key``) is the second principal of the
isolation and usage-attribution checks (``as_other_tenant()``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pytest_sca.adapters.base import Adapter, AdapterContext
from pytest_sca.adapters.config import OpenAIConfig
from pytest_sca.adapters.openai.client import OpenAIClient
from pytest_sca.adapters.openai.devtools import OpenAIDevTools
from pytest_sca.adapters.openai.inference import OpenAIInference
from pytest_sca.adapters.openai.models import OpenAIFineTune, OpenAIModels
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
