"""Scores and grade from item results: pure functions, no pytest import.

score = conforming weight / weight in scope, per subdomain, domain and
overall; weights by level come from the grading scheme (data). A subdomain,
domain or the whole evaluation is conformant when every ``shall`` item in its
scope conforms (manual passes and unexpired waivers count, shown apart).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .catalog import Catalog, Clause
from .verdicts import ItemResult, Verdict


class GradingError(ValueError):
    """The grading scheme file is malformed (one line: file, field, fix)."""


@dataclass(frozen=True)
class GradeRule:
    grade: str
    min_score: float
    require_all_shall: bool


@dataclass(frozen=True)
class GradingScheme:
    """Weights per level and grade thresholds, from a YAML file."""

    id: str
    status: str
    weights: Mapping[str, float]
    grades: tuple[GradeRule, ...]

    def grade(self, score: float, all_shall_conform: bool) -> str:
        for rule in self.grades:
            if score >= rule.min_score and (all_shall_conform or not rule.require_all_shall):
                return rule.grade
        return self.grades[-1].grade


def load_grading(path: Path | str | None = None) -> GradingScheme:
    """Load a grading scheme (the shipped provisional one when ``path`` is None)."""
    file = Path(path) if path else Path(
        str(resources.files("pytest_sca") / "standards" / "grading-provisional.yaml"))
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
        weights = {str(k): float(v) for k, v in data["weights"].items()}
        for n, rule in enumerate(data["grades"]):
            if not isinstance(rule["grade"], str):
                kind = type(rule["grade"]).__name__
                raise GradingError(f"{file}: grades[{n}].grade must be text: quote it "
                                   f"(YAML reads {rule['grade']!r} as {kind})")
        rules = tuple(GradeRule(g["grade"], float(g["min_score"]),
                                bool(g.get("require_all_shall", False))) for g in data["grades"])
        scheme = GradingScheme(str(data["id"]), str(data.get("status", "")), weights, rules)
    except OSError as exc:
        raise GradingError(f"{file}: cannot read the grading scheme: {exc.strerror}") from None
    except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise GradingError(f"{file}: grading scheme needs id, weights (shall, may) and grades "
                           f"(grade, min_score): {type(exc).__name__} {exc}") from None
    if set(weights) != {"shall", "may"} or not rules:
        raise GradingError(f"{file}: weights must give exactly shall and may, and grades "
                           "at least one rule")
    return scheme


@dataclass
class Score:
    """Counts and score of one group of items (a subdomain, a domain, or all)."""

    items: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    weight: float = 0.0
    conforming_weight: float = 0.0
    shall_items: int = 0
    shall_conforming: int = 0

    @property
    def score(self) -> float:
        return self.conforming_weight / self.weight if self.weight else 0.0

    @property
    def conformant(self) -> bool:
        return self.shall_items == self.shall_conforming

    def add(self, clause: Clause, result: ItemResult, weights: Mapping[str, float]) -> None:
        self.items += 1
        self.counts[result.verdict.value] += 1
        self.weight += weights[clause.level]
        if result.conformant:
            self.conforming_weight += weights[clause.level]
        if clause.level == "shall":
            self.shall_items += 1
            self.shall_conforming += int(result.conformant)

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "counts": {v.value: self.counts.get(v.value, 0) for v in Verdict},
            "weight": round(self.weight, 6),
            "conforming_weight": round(self.conforming_weight, 6),
            "score": round(self.score, 6),
            "conformant": self.conformant,
            "shall_items": self.shall_items,
            "shall_conforming": self.shall_conforming,
        }


@dataclass
class ScoreSheet:
    """Scores per subdomain, per domain and overall, and the grade."""

    subdomains: dict[str, Score]
    domains: dict[str, Score]
    overall: Score
    grade: str
    scheme: GradingScheme


def score(catalog: Catalog, results: Iterable[ItemResult], scheme: GradingScheme) -> ScoreSheet:
    """Score the items that were in scope (those with a result)."""
    by_id = {r.id: r for r in results}
    in_scope: Sequence[Clause] = [c for c in catalog.items if c.id in by_id]
    subdomains: dict[str, Score] = {}
    domains: dict[str, Score] = {}
    overall = Score()
    for clause in in_scope:
        result = by_id[clause.id]
        for group in (subdomains.setdefault(clause.subdomain, Score()),
                      domains.setdefault(clause.domain, Score()), overall):
            group.add(clause, result, scheme.weights)
    grade = scheme.grade(overall.score, overall.conformant) if overall.items else "-"
    return ScoreSheet(subdomains, domains, overall, grade, scheme)
