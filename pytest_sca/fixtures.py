"""Fixtures a check uses: ``sca`` (run context, evidence, measurements), ``cleanup``,
and one fixture per capability (``jobs``, ``tenancy``…) served by the target's adapters,
typed as its Protocol (:data:`pytest_sca.capabilities.CAPABILITIES`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, NoReturn

import pytest

from .capabilities import CAPABILITIES, RUN_LABEL, Capability
from .cleanup import Cleanup
from .runstate import ScaRun
from .settings import Capabilities, Threshold
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
        return {RUN_LABEL: self._run.run_id}

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

    def keep_secret(self, *values: object) -> None:
        """Mask these values (a key, a presigned URL the check obtained) in every output."""
        self._run.redact.add([str(value) for value in values if value])

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
def cleanup(request: pytest.FixtureRequest) -> Cleanup:
    """The running check's undo scope: adapters register what they create in it by
    themselves; a check adds an undo by hand only for a change no adapter undoes."""
    run = _run_of(request)
    scope = run.ledger.scope
    if scope is None:  # not a clause check (the plugin opens scopes for those)
        raise NotAssessed("cleanup is for clause checks (marked @pytest.mark.clause)")
    return scope


def _capability_fixture(capability: Capability) -> Any:
    def provide(request: pytest.FixtureRequest) -> object:
        return _run_of(request).adapter_for(capability.name)

    protocol = capability.protocol
    provide.__doc__ = (f"The target's `{capability.name}` capability (a "
                       f"{protocol.__module__}.{protocol.__qualname__}); not_assessed when no "
                       "configured adapter serves it.")
    provide.__name__ = capability.name
    provide.__annotations__ = {"request": pytest.FixtureRequest, "return": protocol}
    return pytest.fixture(scope="function", name=capability.name)(provide)


#: One fixture per capability of the contract (pytest finds them as module attributes).
for _capability in CAPABILITIES.values():
    globals()[f"capability_{_capability.name}"] = _capability_fixture(_capability)
