"""Verdicts and the records that carry them, and the rules that combine them.

Pure: no pytest import. A test's verdict comes from how the check ended; an
item's verdict combines its tests (worst wins, along the routes the target
could serve), then the target file's evidence (``manual``) and waivers
(``waived``).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn


class Verdict(str, enum.Enum):
    """The outcome of a clause item (see the design's verdict table)."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    NOT_ASSESSED = "not_assessed"
    MANUAL = "manual"
    WAIVED = "waived"

    def __str__(self) -> str:
        return self.value


#: Ranking used when several tests cover one item: the worst one wins.
_WORST_FIRST = (Verdict.FAIL, Verdict.ERROR, Verdict.NOT_ASSESSED, Verdict.PASS)


class NotAssessed(Exception):
    """Raised by a check (or a capability fixture) when the target gives no means to check.

    The message is the reason shown to the user and should say how to make the
    item assessable ("add `adapters.kubernetes` to mycloud.yaml").
    """


def not_assessed(reason: str) -> NoReturn:
    """End the current check with verdict ``not_assessed`` and this reason."""
    raise NotAssessed(reason)


@dataclass
class Measurement:
    """A measured value a check reports (chapter 9 items carry these)."""

    name: str
    value: float
    unit: str
    threshold: float | None = None
    comparison: str | None = None  # ">=" or "<="
    threshold_source: str | None = None
    reference: str | None = None


@dataclass
class TestRecord:
    """The verdict of one test (one pytest item) of a clause item."""

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    clause: str
    verdict: Verdict
    reason: str = ""
    #: The route this test takes to its item ("": the main route; see ``combine_tests``).
    route: str = ""
    duration: float = 0.0
    evidence: list[dict[str, Any]] = field(default_factory=list)
    measurements: list[dict[str, Any]] = field(default_factory=list)
    #: What this test shows once the item's evidence and waiver apply to it alone (set by
    #: :func:`resolve_item`): the verdict pytest, JUnit and Allure give the test.
    shown: Verdict | None = None
    shown_reason: str = ""
    shown_conformant: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        data["shown"] = self.shown.value if self.shown else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TestRecord:
        values = dict(data)
        values["verdict"] = Verdict(values["verdict"])
        if values.get("shown") is not None:
            values["shown"] = Verdict(values["shown"])
        return cls(**values)


@dataclass
class ItemResult:
    """The verdict of one clause item, with everything that led to it."""

    id: str
    verdict: Verdict
    reason: str
    conformant: bool
    tests: list[TestRecord] = field(default_factory=list)
    #: The verdict of the automated checks alone, before evidence and waivers.
    automated_verdict: Verdict | None = None
    evidence: dict[str, Any] | None = None
    waiver: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def worst(verdicts: Iterable[Verdict]) -> Verdict | None:
    """The worst verdict (fail > error > not_assessed > pass), or None for none."""
    present = set(verdicts)
    return next((v for v in _WORST_FIRST if v in present), None)


def routes_taken(tests: Iterable[TestRecord]) -> tuple[list[TestRecord], list[str]]:
    """The tests an item's verdict comes from, and a note for each route not taken.

    A check may be one of several alternative *routes* to its item, each a complete check
    on one platform shape (object storage or a files API for tenant data). A route all of
    whose tests are ``not_assessed`` is not taken: the target cannot serve it. The item is
    then judged by the routes taken, every test of each counting (worst wins); when no
    route is taken, by all its tests (``not_assessed``). An item with one route — almost
    every item — is judged by all its tests, as before.
    """
    records = list(tests)
    by_route: dict[str, list[TestRecord]] = {}
    for record in records:
        by_route.setdefault(record.route, []).append(record)
    if len(by_route) < 2:
        return records, []
    taken = {route: group for route, group in by_route.items()
             if worst(t.verdict for t in group) is not Verdict.NOT_ASSESSED}
    if not taken:
        return records, []
    notes = [f"not assessed along {_route_name(route)}: "
             f"{next(t.reason for t in group if t.verdict is Verdict.NOT_ASSESSED)}"
             for route, group in sorted(by_route.items()) if route not in taken]
    return [t for t in records if t.route in taken], notes


def _route_name(route: str) -> str:
    return f"route {route!r}" if route else "its main route"


def combine_tests(tests: Iterable[TestRecord]) -> tuple[Verdict, str]:
    """An item's automated verdict and reason from its tests (along the routes taken)."""
    return _combine(routes_taken(tests)[0])


def _combine(records: list[TestRecord]) -> tuple[Verdict, str]:
    """The verdict and reason of the tests an item is judged by (:func:`routes_taken`)."""
    verdict = worst(t.verdict for t in records)
    if verdict is None:
        return Verdict.NOT_ASSESSED, "no check implemented yet"
    first = next(t for t in records if t.verdict is verdict)
    if verdict is Verdict.PASS:
        return verdict, ""
    if verdict is Verdict.NOT_ASSESSED:
        # Every route's reason, the main route's first: each says what would make the item
        # assessable.
        unserved = [next(t for t in records
                         if t.route == route and t.verdict is Verdict.NOT_ASSESSED)
                    for route in sorted({t.route for t in records})]
        return verdict, "; ".join([unserved[0].reason, *(
            f"nor along {_route_name(t.route)}: {t.reason}" for t in unserved[1:])])
    return verdict, first.reason


def resolve_item(
    item_id: str,
    tests: Iterable[TestRecord],
    evidence: Mapping[str, Any] | None = None,
    waiver: Mapping[str, Any] | None = None,
    today: dt.date | None = None,
) -> ItemResult:
    """Combine an item's tests, its evidence entry and its waiver into its result.

    - Evidence (an evaluator's recorded verdict) gives ``manual``, unless an
      automated check observed a failure or could not finish: a document
      never hides an observed ``fail`` or ``error``.
    - An unexpired waiver gives ``waived`` whatever the checks said; the
      automated verdict stays in the record. An expired waiver is ignored and
      the result says so.

    Each test record also gets what it shows on its own (``shown``): the same rules
    applied to that test alone, which is what pytest, JUnit and Allure report for it.
    """
    records = sorted(tests, key=lambda t: t.nodeid)
    for record in records:
        alone = _resolve(item_id, [record], evidence, waiver, today)
        record.shown, record.shown_reason = alone.verdict, alone.reason
        record.shown_conformant = alone.conformant
    return _resolve(item_id, records, evidence, waiver, today)


def _resolve(
    item_id: str,
    records: list[TestRecord],
    evidence: Mapping[str, Any] | None,
    waiver: Mapping[str, Any] | None,
    today: dt.date | None,
) -> ItemResult:
    taken, notes = routes_taken(records)
    automated, reason = _combine(taken)
    result = ItemResult(item_id, automated, reason, automated is Verdict.PASS, records, automated)
    result.notes.extend(notes)
    if evidence is not None:
        if automated in (Verdict.FAIL, Verdict.ERROR):
            result.notes.append("evidence entry not applied: an automated check gave " + automated)
        else:
            recorded = str(evidence["verdict"])
            result.verdict = Verdict.MANUAL
            result.conformant = recorded == "pass"
            result.evidence = dict(evidence)
            result.reason = (
                f"manual {recorded} by {evidence['reviewer']} on {evidence['date']}"
                f" ({evidence['document']})"
            )
    if waiver is not None:
        expires = waiver["expires"]
        if expires < (today or dt.date.today()):
            result.notes.append(f"waiver expired on {expires} and was ignored")
        else:
            result.verdict = Verdict.WAIVED
            result.conformant = True
            result.waiver = dict(waiver)
            result.reason = f"waived until {expires}: {waiver['reason']}"
    return result
