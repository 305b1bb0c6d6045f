"""Faults of the workflow services: ComfyUI-compatible endpoint and workflow applications."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "workflow_invalid_json_accepted": "importing a workflow that is not valid JSON succeeds",
    "workflow_env_not_validated": "environment validation reports every workflow available",
    "workflow_unpublish_ignored": "an unpublished workflow can still be invoked",
    "workflow_outputs_missing": "trial runs succeed without producing an output image",
    "workflow_node_logs_missing": "run history carries no per-node information or logs",
    "workflow_submit_no_task_id": "POST /prompt accepts a workflow but answers no prompt_id",
    "workflow_inputs_ignored": "LoadImage ignores the uploaded file and loads a blank image",
    "queue_position_missing": "queued workflow tasks report no queue position",
    "workflow_output_corrupt": "downloaded workflow outputs are truncated, not valid images",
    "workflow_usage_not_recorded": "workflow runs are missing from the workflow usage statistics",
}
