"""What a run covered: the selection that produced it, and whether it is the whole evaluation.

Pure: no pytest import. A run is a *whole evaluation* when every item of the catalogue has
a result and every selected check ran; anything less (``-m``, ``-k``, paths, ``--lf``, a
run stopped by ``-x`` or Ctrl-C) is a *partial evaluation*: its scores stand for the items
it covered, and it carries no grade.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PARTIAL = "partial evaluation — not a grade"
WHOLE = "whole evaluation"


@dataclass
class Selection:
    """How the command line narrowed the run (filled by the plugin from pytest's options)."""

    markexpr: str = ""
    keyword: str = ""
    #: Command-line paths other than the shipped suites' root.
    paths: list[str] = field(default_factory=list)
    last_failed: bool = False
    stepwise: bool = False
    #: ``-x`` is 1; 0 is "never stop".
    maxfail: int = 0
    deselect: list[str] = field(default_factory=list)
    #: Node ids of the clause tests selected to run (``None`` until collection ends).
    selected: set[str] | None = None
    #: Node id → clause id of the selected checks this process collected (none under xdist's
    #: controller, which collects nothing).
    clauses: dict[str, str] = field(default_factory=dict)
    #: Why the session stopped before the end ("" when it did not).
    stopped: str = ""

    def options(self) -> list[str]:
        """The narrowing options as a reader would type them."""
        parts = []
        if self.markexpr:
            parts.append(f"-m {self.markexpr!r}" if " " in self.markexpr
                         else f"-m {self.markexpr}")
        if self.keyword:
            parts.append(f"-k {self.keyword!r}" if " " in self.keyword
                         else f"-k {self.keyword}")
        parts += self.paths
        if self.last_failed:
            parts.append("--lf")
        if self.stepwise:
            parts.append("--sw")
        if self.maxfail == 1:
            parts.append("-x")
        elif self.maxfail > 1:
            parts.append(f"--maxfail={self.maxfail}")
        parts += [f"--deselect {d}" for d in self.deselect]
        return parts


def scope_section(selection: Selection, catalogue: Iterable[str], results: Iterable[str],
                  chapters: Iterable[int], reported: Iterable[str]) -> dict[str, Any]:
    """The report's ``scope`` section: the selection, what is missing, and the statement
    every output prints (``whole evaluation`` or ``partial evaluation — not a grade``)."""
    catalogue_ids = list(catalogue)
    present = set(results)
    missing = [i for i in catalogue_ids if i not in present]
    not_run = sorted((selection.selected or set()) - set(reported))
    complete = not missing and not not_run and not selection.stopped
    reasons = selection.options()
    if not_run:
        reasons.append(f"{len(not_run)} selected check(s) did not run")
    if selection.stopped:
        reasons.append(f"stopped: {selection.stopped}")
    covered = len(present & set(catalogue_ids))
    if complete:
        statement = f"{WHOLE}: all {len(catalogue_ids)} items of the catalogue"
    else:
        statement = f"{PARTIAL}: {covered} of {len(catalogue_ids)} items"
        if reasons:
            statement += f" ({'; '.join(reasons)})"
    return {
        "complete": complete,
        "statement": statement,
        "catalogue_items": len(catalogue_ids),
        "items": covered,
        "missing": missing,
        "chapters": sorted(set(chapters)),
        "selection": {
            "markexpr": selection.markexpr,
            "keyword": selection.keyword,
            "paths": list(selection.paths),
            "last_failed": selection.last_failed,
            "stepwise": selection.stepwise,
            "maxfail": selection.maxfail,
            "deselect": list(selection.deselect),
            "not_run_tests": len(not_run),
            "stopped": selection.stopped,
        },
        "selection_text": "; ".join(reasons),
    }
