"""Which operators each item detects, the score per chapter, and the floor check.

For an item that passed unchanged and an operator:

- ``detected``: the operator changed at least one answer the item's checks saw, and the
  item did not pass;
- ``survived``: it changed at least one answer and the item still passed;
- ``not_applicable``: it changed nothing the item saw (not counted);
- ``time_limit``: a check of the item ran past its limit under the operator (a multiple
  of its unchanged time) and was ended: not counted, although the check would in the end
  most likely have given ``error`` (not pass);
- ``inconclusive``: the run ended (time limit) before the item's checks finished;
- ``unexplained``: the item did not pass although nothing it saw was changed (state left
  by an earlier check of the run, or a flaky check): shown, not counted.

A chapter's score is detected / (detected + survived). Detected counts ``error`` as well as
``fail`` (the defect did not pass unnoticed); the table tells them apart (``F``/``E``). A
check that reads a field a changed answer lacks ends ``error`` with "the target's answer has
no field …" and where it was read (never a bare ``KeyError``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from .harness import Run

SYMBOLS = {"detected": "D", "survived": "s", "not_applicable": ".", "inconclusive": "?",
           "time_limit": "T", "unexplained": "!"}


def symbol(outcome: dict[str, Any]) -> str:
    """``F``/``E``: detected with ``fail``/with ``error`` (or another verdict); else SYMBOLS."""
    if outcome["status"] == "detected":
        return "F" if outcome["verdict"] == "fail" else "E"
    return SYMBOLS[outcome["status"]]


def classify(baseline: Run, run: Run, item: str) -> str:
    if run.hit_limit(item):
        return "time_limit"
    if not run.complete(item) and (run.timed_out or item not in run.verdicts):
        return "inconclusive"
    verdict = run.verdicts.get(item)
    if run.fired_for(item) == 0:
        return "not_applicable" if verdict == "pass" else "unexplained"
    return "survived" if verdict == "pass" else "detected"


def build(baseline: Run, runs: Sequence[Run], meta: dict[str, Any]) -> dict[str, Any]:
    """The harness's report (what ``--json`` writes and ``--floor`` reads)."""
    items: dict[str, Any] = {}
    excluded: dict[str, str] = {}
    for item, verdict in sorted(baseline.verdicts.items(), key=lambda kv: _order(kv[0])):
        if verdict != "pass":
            excluded[item] = verdict
            continue
        entry: dict[str, Any] = {"chapter": baseline.chapters[item], "operators": {}}
        for run in runs:
            entry["operators"][run.operator] = {
                "status": classify(baseline, run, item),
                "verdict": run.verdicts.get(item),
                "changes": run.fired_for(item),
            }
        items[item] = entry
    return {
        "kind": "pytest-sca mutation report",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **meta,
        "operators": [run.operator for run in runs],
        "runs": [baseline.to_dict(), *(run.to_dict() for run in runs)],
        "excluded": excluded,
        "items": items,
        "chapters": scores(items),
    }


def scores(items: dict[str, Any]) -> dict[str, Any]:
    """detected / applicable per chapter (keys are chapter numbers as strings) and overall."""
    counts: defaultdict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for entry in items.values():
        for outcome in entry["operators"].values():
            for key in (str(entry["chapter"]), "all"):
                counts[key][outcome["status"]] += 1
                if outcome["status"] == "detected" and outcome["verdict"] == "fail":
                    counts[key]["detected_fail"] += 1
    result = {}
    for key in sorted(counts, key=lambda k: (k == "all", int(k) if k.isdigit() else 0)):
        c = counts[key]
        applicable = c["detected"] + c["survived"]
        result[key] = {"detected": c["detected"], "detected_fail": c["detected_fail"],
                       "applicable": applicable,
                       "score": round(c["detected"] / applicable, 3) if applicable else None,
                       "time_limit": c["time_limit"], "inconclusive": c["inconclusive"],
                       "unexplained": c["unexplained"]}
    return result


def floor_of(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A floor from several reports of the same selection: an item's operator counts as
    detected only where every report detected it, an item only where every report scored
    it, and a chapter's score is the lowest any report (or the detections common to all)
    gave. Which field an operator changes follows the order of the requests a run makes,
    so a check can catch an operator in one run and miss it in the next; a floor recorded
    from one run would make such an item fail the floor at random."""
    if not reports:
        raise ValueError("a floor needs at least one report")
    first = reports[0]
    operators = [name for name in first["operators"]
                 if all(name in report["operators"] for report in reports)]
    items: dict[str, Any] = {}
    for item, entry in first["items"].items():
        entries = [report["items"].get(item) for report in reports]
        if any(other is None for other in entries):
            continue
        merged: dict[str, Any] = {"chapter": entry["chapter"], "operators": {}}
        for name in operators:
            outcomes = [other["operators"][name] for other in entries if other is not None]
            missed = next((o for o in outcomes if o["status"] != "detected"), None)
            merged["operators"][name] = dict(missed or outcomes[0])
        items[item] = merged
    chapters = scores(items)
    for key, chapter in chapters.items():
        given = [report["chapters"][key]["score"] for report in reports
                 if report["chapters"].get(key, {}).get("score") is not None]
        if given and chapter["score"] is not None:
            chapter["score"] = min(chapter["score"], *given)
    return {**first, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "kind": "pytest-sca mutation floor", "floor_of": [r["created"] for r in reports],
            "operators": operators, "items": items, "chapters": chapters}


def _order(item: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in item.replace("-", ".").split(".")]


def render(report: dict[str, Any]) -> str:
    """The table per item (one column per operator) and the score per chapter."""
    names = report["operators"]
    width = max([len(item) for item in report["items"]] + [4])
    lines = ["columns: " + ", ".join(f"{i + 1}={name}" for i, name in enumerate(names)),
             "F detected (fail) · E detected (error) · s survived · . nothing it saw was "
             "changed · T check ran past its limit · ? run ended first · ! not pass without a "
             "change", ""]
    lines.append(f"{'item':<{width}}  " + " ".join(f"{i + 1:>2}" for i in range(len(names)))
                 + "   detected")
    for item, entry in report["items"].items():
        row = [symbol(entry["operators"][name]) for name in names]
        found = [name for name in names if entry["operators"][name]["status"] == "detected"]
        lines.append(f"{item:<{width}}  " + " ".join(f"{s:>2}" for s in row)
                     + f"   {', '.join(found) or '-'}")
    if report["excluded"]:
        lines.append("")
        lines.append("not scored (did not pass unchanged): " + ", ".join(
            f"{item} ({verdict})" for item, verdict in report["excluded"].items()))
    lines.append("")
    lines.append("chapter  detected/applicable  score   as fail  time limit  inconclusive  "
                 "unexplained")
    for key, c in report["chapters"].items():
        score = "-" if c["score"] is None else f"{100 * c['score']:.0f} %"
        lines.append(f"{key:<7}  {c['detected']:>4} / {c['applicable']:<4}         {score:>6}"
                     f"   {c.get('detected_fail', 0):>7}"
                     f"   {c['time_limit']:>10}  {c['inconclusive']:>12}  {c['unexplained']:>11}")
    return "\n".join(lines)


def below_floor(report: dict[str, Any], recorded: dict[str, Any],
                tolerance: float = 0.0) -> list[str]:
    """What dropped below the recorded report: a chapter's score, or an item's number of
    detected operators (counting only operators both reports ran)."""
    problems = []
    for key, floor in recorded["chapters"].items():
        if key == "all" and report.get("selection") != recorded.get("selection"):
            continue    # another selection: only its chapters compare
        now = report["chapters"].get(key)
        if floor["score"] is None or now is None or now["score"] is None:
            continue
        if now["score"] + tolerance < floor["score"]:
            problems.append(f"chapter {key}: score {now['score']:.3f} below the recorded "
                            f"{floor['score']:.3f}")
    shared = set(report["operators"]) & set(recorded["operators"])
    for item, floor_entry in recorded["items"].items():
        entry = report["items"].get(item)
        if entry is None:
            if item in report["excluded"]:
                problems.append(f"{item}: did not pass unchanged ({report['excluded'][item]})")
            continue

        def detected(e: dict[str, Any]) -> set[str]:
            return {name for name, o in e["operators"].items()
                    if name in shared and o["status"] == "detected"}

        was, now_found = detected(floor_entry), detected(entry)
        if len(now_found) < len(was):
            problems.append(f"{item}: detects {len(now_found)} operator(s), recorded "
                            f"{len(was)} (no longer: {', '.join(sorted(was - now_found))})")
    return problems
