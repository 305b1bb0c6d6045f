"""Fixtures a check uses: ``sca`` (run context, evidence, measurements), ``cleanup``,
and one fixture per capability (``jobs``, ``tenancy``…) provided by the target's adapters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any, NoReturn

import pytest

from .adapters.base import CAPABILITIES
from .cleanup import Cleanup
from .runstate import ScaRun
from .settings import Capabilities, Threshold
from .settings import declared as settings_declared
from .settings import threshold as settings_threshold
from .stash import RUN_KEY, evidence_of
from .verdicts import Measurement, NotAssessed

#: Evidence kept in the JSON report is cut here; Allure gets the whole (redacted) content.
EVIDENCE_EXCERPT = 4096


class CheckContext:
    """The ``sca`` fixture: what a check knows about the run, and how it reports evidence."""

    def __init__(self, run: ScaRun, item: pytest.Item) -> None:
        self._run = run
        self._item = item

    @property
    def run_id(self) -> str:
        """The run id; put it in a label, tag or name prefix of everything the check creates."""
        return self._run.run_id

    @property
    def labels(self) -> dict[str, str]:
        """Labels that mark a resource as created by this run."""
        return {"sca-run": self._run.run_id}

    def name(self, suffix: str) -> str:
        """A resource name that carries the run id, e.g. ``sca-20261128-ab12cd-quota``."""
        return f"sca-{self._run.run_id}-{suffix}".lower()

    @property
    def target(self) -> Any:
        return self._run.target

    @property
    def settings(self) -> Capabilities:
        """The target's ``capabilities:`` section, typed, defaults filled in
        (``sca.settings.perf.availability.seconds``); fields in ``pytest_sca/settings.py``."""
        return self._run.target.settings if self._run.target else Capabilities()

    def threshold(self, path: str) -> Threshold:
        """The number at ``capabilities.<path>`` a measurement is compared with, and its
        source: ``target file capabilities.<path>``, or ``default <value> (<meaning>)``."""
        return settings_threshold(self.settings, path)

    def declared(self, path: str, default: Any = None) -> Any:
        """Deprecated: read ``sca.settings.<path>`` or ``sca.threshold(path)`` instead.

        The value at ``capabilities.<path>`` through the typed settings (whose default wins);
        ``default`` only where the settings hold none. A path the settings do not define is
        a bug in the check: ``KeyError``.
        """
        return settings_declared(self.settings, path, default)

    def not_assessed(self, reason: str) -> NoReturn:
        """End the check with ``not_assessed``; the reason says how to make it assessable."""
        raise NotAssessed(reason)

    def evidence(self, name: str, content: Any, mime: str = "text/plain") -> None:
        """Record evidence (a request/response, a log, a listing) for this check, redacted."""
        text = content if isinstance(content, str) else json.dumps(
            content, indent=2, ensure_ascii=False, default=str)
        text = self._run.redact(text)
        evidence_of(self._item).append({
            "name": name, "mime": mime, "content": text[:EVIDENCE_EXCERPT],
            "truncated": len(text) > EVIDENCE_EXCERPT,
        })
        _attach_to_allure(name, text, mime)

    def measure(self, name: str, value: float, unit: str, *, threshold: float | None = None,
                comparison: str | None = None, threshold_source: str | None = None,
                reference: str | None = None) -> Measurement:
        """Record a measured value (performance items report these, not only a verdict)."""
        measurement = Measurement(name, float(value), unit, threshold, comparison,
                                  threshold_source, reference)
        evidence_of(self._item, "measurements").append(asdict(measurement))
        return measurement


def _attach_to_allure(name: str, text: str, mime: str) -> None:
    try:
        import allure
    except ImportError:  # allure-pytest is a core dependency, but a stripped install may lack it
        return
    types = allure.attachment_type
    kind = types.JSON if mime == "application/json" else types.TEXT
    allure.attach(text, name=name, attachment_type=kind)


def _run_of(request: pytest.FixtureRequest) -> ScaRun:
    run = request.config.stash.get(RUN_KEY, None)
    if run is None or not run.evaluating:
        raise NotAssessed("no target: run with --sca-target=FILE or --sca-target=sandbox")
    return run


@pytest.fixture
def sca(request: pytest.FixtureRequest) -> CheckContext:
    """The check's context: run id, target, declared capabilities, evidence, measurements."""
    return CheckContext(_run_of(request), request.node)


@pytest.fixture
def cleanup(request: pytest.FixtureRequest) -> Iterator[Cleanup]:
    """Register an undo for every resource the check creates; undone in reverse order."""
    registry = Cleanup(_run_of(request).ledger)
    yield registry
    registry.run()


def _capability_fixture(capability: str) -> Any:
    def provide(request: pytest.FixtureRequest) -> Any:
        return _run_of(request).adapter_for(capability)

    provide.__doc__ = (f"The target's `{capability}` capability (from "
                       f"{' or '.join(CAPABILITIES[capability])}); not_assessed when absent.")
    provide.__name__ = capability
    return pytest.fixture(scope="function", name=capability)(provide)


for _capability in CAPABILITIES:
    globals()[f"capability_{_capability}"] = _capability_fixture(_capability)
