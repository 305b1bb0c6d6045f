"""Find and remove what a killed run left at an OpenAI-compatible endpoint.

Nothing but the run id marks what a run created there: the file names (``sca-<run id>-…``),
a fine-tuning job's ``metadata`` (``sca-run``) and ``suffix``, so the name of the model it
produced. The sweep lists each family the endpoint has, keeps what carries the run id,
and removes it: jobs are cancelled and their models deleted before the files they read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pytest_sca.adapters.openai.client import OpenAIClient, segment
from pytest_sca.adapters.openai.models import finish_job
from pytest_sca.capabilities import RUN_LABEL, Refused, TargetError, Unsupported

#: Pages of a listing the sweep reads at most (100 entries each).
MAX_PAGES = 100


def pages(client: OpenAIClient, family: str, path: str, params: dict[str, Any]
          ) -> Iterator[dict[str, Any]]:
    """Every entry of a cursor-paginated OpenAI list (``after`` = the last id)."""
    query = dict(params)
    for _ in range(MAX_PAGES):
        page = client.checked(client.call(family, "GET", path, params=query, collection=True),
                              "data", f"GET {path}")
        entries = [e for e in page["data"] if isinstance(e, dict)]
        yield from entries
        if not page.get("has_more") or not entries:
            return
        query["after"] = entries[-1].get("id")


def of_run(text: Any, run_id: str) -> bool:
    """Whether a name carries the run id."""
    return isinstance(text, str) and run_id.lower() in text.lower()


def sweep_run(client: OpenAIClient, run_id: str) -> list[str]:
    """Remove what run ``run_id`` left as ``client``'s principal; one line per failure."""
    failures: list[str] = []
    try:
        jobs = [job for job in pages(client, "fine_tuning", "/fine_tuning/jobs",
                                     {"limit": 100, f"metadata[{RUN_LABEL}]": run_id})
                # A server that ignores the metadata filter lists every job: check each.
                if (job.get("metadata") or {}).get(RUN_LABEL) == run_id
                or of_run(job.get("fine_tuned_model"), run_id)]
    except Unsupported:
        jobs = []
    except (Refused, TargetError) as exc:
        failures.append(f"fine-tuning jobs: {exc}")
        jobs = []
    for job in jobs:
        try:
            finish_job(client, str(job.get("id")))
        except (Refused, TargetError, Unsupported) as exc:
            failures.append(f"fine-tuning job {job.get('id')}: {exc}")
    try:
        models = [m for m in client.checked(client.call("models", "GET", "/models",
                                                        collection=True), "data", "GET /models")
                  ["data"] if of_run(m.get("id"), run_id)]
    except (Refused, TargetError, Unsupported) as exc:
        failures.append(f"models: {exc}")
        models = []
    for model in models:
        try:
            client.delete_quietly("models.delete", f"/models/{segment(str(model['id']))}")
        except (Refused, TargetError, Unsupported) as exc:
            failures.append(f"model {model.get('id')}: {exc}")
    try:
        files = [f for f in pages(client, "files", "/files", {"limit": 100})
                 if of_run(f.get("filename"), run_id)]
    except Unsupported:
        files = []
    except (Refused, TargetError) as exc:
        failures.append(f"files: {exc}")
        files = []
    for stored in files:
        try:
            client.delete_quietly("files.delete", f"/files/{segment(str(stored.get('id')))}")
        except (Refused, TargetError, Unsupported) as exc:
            failures.append(f"file {stored.get('id')}: {exc}")
    return failures
