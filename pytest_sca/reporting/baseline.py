"""Compare a run with an earlier JSON report: which items changed verdict since then.

For vendors running the suite nightly: a regression (an item that conformed
and no longer does) is what they need to see first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class BaselineError(ValueError):
    """The baseline file is not a pytest-sca JSON report (one line: file and fix)."""


def load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BaselineError(f"{path}: cannot read the baseline report ({exc}): give the JSON "
                            "report of an earlier run (--sca-json)") from None
    if not isinstance(data, dict) or "items" not in data or "run" not in data:
        raise BaselineError(f"{path}: not a pytest-sca JSON report: give the JSON report of "
                            "an earlier run (--sca-json)")
    return data


def compare(baseline: dict[str, Any], current_items: list[dict[str, Any]],
            path: Path) -> dict[str, Any]:
    """The ``baseline`` section of the report: verdict changes, regressions first."""
    before = {item["id"]: item for item in baseline["items"]}
    changes = []
    for item in current_items:
        old = before.get(item["id"])
        if old is None or old["verdict"] == item["verdict"]:
            continue
        if old["conformant"] and not item["conformant"]:
            kind = "regression"
        elif item["conformant"] and not old["conformant"]:
            kind = "improvement"
        else:
            kind = "change"
        changes.append({"id": item["id"], "before": old["verdict"], "after": item["verdict"],
                        "kind": kind, "reason": item["reason"]})
    order = {"regression": 0, "change": 1, "improvement": 2}
    changes.sort(key=lambda c: order[c["kind"]])
    return {"path": str(path), "run_id": baseline["run"].get("id"),
            "score_before": baseline.get("overall", {}).get("score"), "changes": changes}
