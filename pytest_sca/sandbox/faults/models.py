"""Faults of the model services: inference, model management, deployment, fine-tuning, usage."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "model_list_empty": "GET /v1/models lists no model although the models answer",
    "model_info_missing": "models carry no parameter count, context length or licence",
    "chat_history_dropped": "chat completions see only the last user message",
    "stream_not_terminated": "streamed completions end without the data: [DONE] line",
    "finetune_fails": "fine-tuning jobs end failed without training",
    "finetuned_model_not_served": "fine-tuned models are listed but answer 404",
    "model_import_not_listed": "imported models are created but never listed",
    "model_metadata_not_updated": "model metadata updates are accepted and ignored",
    "imported_model_not_deployable": "deployments of imported models end failed",
    "deployment_fails_to_start": "deployments end failed instead of serving",
    "deployment_endpoint_down": "a running deployment's OpenAI endpoint answers 503",
    "deployment_scale_ignored": "scaling a deployment is accepted but replicas do not change",
    "usage_tokens_undercounted": "usage records count one completion token less than answered",
    "usage_filters_ignored": "the model usage query ignores its model and user filters",
}
