"""``model_usage`` over OpenAI's usage API: ``GET /organization/usage/completions``.

OpenAI answers usage in time buckets (``bucket_width`` 1m, 1h or 1d), each with results
grouped by model and user (arrays go as ``name[]=…``, as OpenAI's SDK sends them); it
needs an admin key (``adapters.openai.admin_key``) and a ``start_time``. Without
``since`` a query starts a day before the capability was built, so that two queries of
one check cover the same period.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.openai.client import OpenAIClient
from pytest_sca.adapters.openai.models import iso
from pytest_sca.capabilities import (
    ModelUsageLine,
    ModelUsageReport,
    Unsupported,
    UsageSummary,
    WorkflowUsageReport,
)

#: How far back a query without ``since`` reaches, in seconds.
DEFAULT_WINDOW_S = 86_400
#: OpenAI's largest page of daily buckets.
DAILY_BUCKETS = 31
#: Result field → the contract's field.
RESULT_FIELDS = {"num_model_requests": "requests", "input_tokens": "prompt_tokens",
                 "output_tokens": "completion_tokens"}


def unix(moment: str) -> int:
    """An ISO 8601 time (``Z`` or an offset; no zone = UTC) as Unix seconds."""
    parsed = dt.datetime.fromisoformat(moment.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return int(parsed.timestamp())


class OpenAIModelUsage(Facade[OpenAIClient]):
    """:class:`~pytest_sca.capabilities.ModelUsage` over OpenAI's usage API (completions)."""

    def __init__(self, subject: OpenAIClient) -> None:
        super().__init__(subject)
        self.started = int(time.time())

    def query(self, *, user_id: str | None = None, model: str | None = None,
              since: str | None = None, until: str | None = None) -> ModelUsageReport:
        client = self.subject.admin()
        params: dict[str, Any] = {
            "start_time": unix(since) if since else self.started - DEFAULT_WINDOW_S,
            "bucket_width": "1d", "limit": DAILY_BUCKETS, "group_by[]": ["model", "user_id"]}
        if until:
            params["end_time"] = unix(until)
        if user_id:
            params["user_ids[]"] = [user_id]
        if model:
            params["models[]"] = [model]
        items: list[ModelUsageLine] = []
        for _ in range(100):  # 100 pages of 31 days: every period a check asks for
            page = client.checked(client.call("usage", "GET", "/organization/usage/completions",
                                              params=params, collection=True),
                                  "data", "GET /organization/usage/completions")
            for bucket in page["data"]:
                for result in bucket.get("results") or []:
                    line: ModelUsageLine = {"time": iso(bucket.get("start_time")) or ""}
                    if result.get("user_id"):
                        line["user_id"] = str(result["user_id"])
                    if result.get("model"):
                        line["model"] = str(result["model"])
                    for source, target in RESULT_FIELDS.items():
                        line[target] = int(result.get(source) or 0)  # type: ignore[literal-required]
                    items.append(line)
            if not page.get("has_more") or not page.get("next_page"):
                break
            params["page"] = page["next_page"]
        prompt = sum(line.get("prompt_tokens", 0) for line in items)
        completion = sum(line.get("completion_tokens", 0) for line in items)
        summary: UsageSummary = {"requests": sum(line.get("requests", 0) for line in items),
                                 "prompt_tokens": prompt, "completion_tokens": completion,
                                 "total_tokens": prompt + completion}
        return {"items": items, "summary": summary}

    def workflows(self, *, since: str | None = None, until: str | None = None,
                  user_id: str | None = None) -> WorkflowUsageReport:
        raise Unsupported("OpenAI's API has no workflows: workflow usage needs the vendor's "
                          "management API (adapters.platform)")

    def other_tenant_user(self) -> str:
        config = self.subject.config
        if config.other_key is None or config.other_user_id is None:
            raise Unsupported("the target file names no second principal whose usage can be "
                              "read: set adapters.openai.other_key and other_user_id (the "
                              "user id the usage API counts that key's calls under)")
        return config.other_user_id

    @property
    def has_other_tenant(self) -> bool:
        return self.subject.has_other_tenant

    def as_other_tenant(self) -> OpenAIModelUsage:
        return OpenAIModelUsage(self.subject.other_tenant())
