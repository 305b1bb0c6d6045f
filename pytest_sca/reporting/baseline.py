"""Compare a run with an earlier JSON report: what changed since then.

For vendors running the suite nightly: a regression (an item that conformed and no longer
does) is what they need to see first; then measurements that drifted beyond their band
(``baseline.drift_band(s)`` in the target file), items the new run left out, and whether
the two reports are of the same target at all. Pure: dicts in, a dict out.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Protocol


class BaselineError(ValueError):
    """The baseline file is not a pytest-sca JSON report (one line: file and fix)."""


class DriftBands(Protocol):
    """The target file's ``baseline:`` section (:class:`pytest_sca.target.BaselineSettings`)."""

    def band_for(self, item_id: str, measurement: str) -> float: ...


_DEFAULT_BAND = 0.10
_KIND_ORDER = {"regression": 0, "change": 1, "improvement": 2}
_DRIFT_ORDER = {"worse": 0, "changed": 1, "better": 2, "within": 3}


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


def check_edition(baseline: dict[str, Any], path: Path, edition: str) -> None:
    """Refuse a baseline of another edition of the standard: its item ids mean other things."""
    before = (baseline.get("standard") or {}).get("edition")
    if before is not None and before != edition:
        raise BaselineError(f"{path}: the baseline evaluated edition {before}, this run "
                            f"{edition}: give a baseline of the same edition")


def identity(baseline: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Whether both reports are of the same target; a warning per difference."""
    def who(report: dict[str, Any]) -> dict[str, Any]:
        target = report.get("target") or {}
        return {"name": target.get("name"), "fingerprint": target.get("fingerprint"),
                "edition": (report.get("standard") or {}).get("edition"),
                "tool_version": (report.get("tool") or {}).get("version")}

    before, after = who(baseline), who(current)
    warnings = []
    if before["name"] != after["name"]:
        warnings.append(f"the baseline is of target {before['name']!r}, this run of "
                        f"{after['name']!r}: the comparison is between two platforms")
    if before["fingerprint"] != after["fingerprint"]:
        warnings.append(f"the target file changed since the baseline (fingerprint "
                        f"{before['fingerprint']} → {after['fingerprint']}): thresholds, "
                        "adapters or declarations may differ")
    if before["tool_version"] != after["tool_version"]:
        warnings.append(f"pytest-sca {before['tool_version']} made the baseline, "
                        f"{after['tool_version']} this run: checks may have changed")
    return {"same_target": before["name"] == after["name"]
            and before["fingerprint"] == after["fingerprint"],
            "before": before, "warnings": warnings}


def _measurements(report: dict[str, Any]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """(item id, measurement name, occurrence) → the measurement."""
    found: dict[tuple[str, str, int], dict[str, Any]] = {}
    for item in report["items"]:
        seen: dict[str, int] = defaultdict(int)
        for measurement in item.get("measurements", []):
            name = str(measurement.get("name"))
            found[(item["id"], name, seen[name])] = measurement
            seen[name] += 1
    return found


def drift(baseline: dict[str, Any], current: dict[str, Any],
          bands: DriftBands | None) -> list[dict[str, Any]]:
    """Every measurement both runs made: its change and whether it left its band."""
    before = _measurements(baseline)
    rows = []
    for key, now in _measurements(current).items():
        old = before.get(key)
        if old is None or not isinstance(old.get("value"), (int, float)):
            continue
        item_id, name, _ = key
        band = bands.band_for(item_id, name) if bands is not None else _DEFAULT_BAND
        then, value = float(old["value"]), float(now["value"])
        change = (value - then) / abs(then) if then else (0.0 if value == then else None)
        if change is not None and abs(change) <= band:
            status = "within"
        else:
            higher_is_better = {">=": True, ">": True, "<=": False, "<": False}.get(
                str(now.get("comparison")))
            if higher_is_better is None or value == then:
                status = "changed"
            else:
                status = "better" if (value > then) == higher_is_better else "worse"
        rows.append({"id": item_id, "name": name, "unit": now.get("unit", ""),
                     "before": then, "after": value,
                     "change": round(change, 6) if change is not None else None,
                     "band": band, "status": status})
    rows.sort(key=lambda r: (_DRIFT_ORDER[r["status"]], r["id"], r["name"]))
    return rows


def compare(baseline: dict[str, Any], current: dict[str, Any], path: Path,
            bands: DriftBands | None = None) -> dict[str, Any]:
    """The ``baseline`` section of the report: verdict changes (regressions first), new
    failures, items missing from this run, measurement drift, and the targets' identity."""
    before = {item["id"]: item for item in baseline["items"]}
    now = {item["id"]: item for item in current["items"]}
    changes = []
    for item in current["items"]:
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
    changes.sort(key=lambda c: _KIND_ORDER[c["kind"]])
    new_items = [i for i in now if i not in before]
    new_failures = [c["id"] for c in changes if c["kind"] == "regression"]
    new_failures += [i for i in new_items if not now[i]["conformant"]]
    return {"path": str(path), "run_id": baseline["run"].get("id"),
            "started": baseline["run"].get("started"),
            "score_before": baseline.get("overall", {}).get("score"),
            "score_after": current.get("overall", {}).get("score"),
            "identity": identity(baseline, current),
            "changes": changes,
            "new_failures": new_failures,
            "missing": [i for i in before if i not in now],
            "new_items": new_items,
            "drift": drift(baseline, current, bands)}
