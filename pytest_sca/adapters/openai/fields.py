"""Where OpenAI-compatible servers put a model's basic information in ``GET /models``:
shared by ``models`` (the catalogue's view) and ``inference`` (the served models' view)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Where vendors put a model's basic information in ``GET /models`` (dotted paths; the first
#: found wins): OpenAI itself gives none of it.
INFO_FIELDS: dict[str, tuple[str, ...]] = {
    # llama.cpp server: meta.n_params; Hugging Face-style gateways: num_parameters.
    "parameters": ("parameters", "num_parameters", "parameter_count", "meta.n_params"),
    # OpenRouter, Together: context_length; Groq: context_window; vLLM: max_model_len;
    # Mistral: max_context_length; LiteLLM's proxy: max_input_tokens; llama.cpp server:
    # meta.n_ctx_train.
    "context_length": ("context_length", "context_window", "max_model_len",
                       "max_context_length", "max_input_tokens", "meta.n_ctx_train"),
    # Together: license.
    "license": ("license", "licence"),
}


def dig(entry: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted path of ``entry``, or None."""
    value: Any = entry
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def info(entry: Mapping[str, Any], field: str) -> Any:
    """The first value found for one of :data:`INFO_FIELDS`, or None."""
    return next((v for v in (dig(entry, p) for p in INFO_FIELDS[field]) if v not in (None, "")),
                None)
