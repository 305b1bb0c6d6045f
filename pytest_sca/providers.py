"""Target providers: platforms pytest-sca starts itself for an evaluation (``--sca-target=NAME``).

A provider is an object registered under the entry-point group
``pytest_sca.targets``; pytest-sca's own embedded reference platform is
``sandbox`` (``pip install pytest-sca[sandbox]``). The plugin core knows only
this contract and finds a provider by name, never importing its code::

    provider = load_provider("sandbox")
    running = provider.start(faults=("logs_dropped",), state_dir=None)
    try:
        ...  # export running.env, load running.target_path
    finally:
        running.stop()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol, runtime_checkable

#: The entry-point group providers register under: ``name = "package.module:object"``.
ENTRY_POINT_GROUP = "pytest_sca.targets"
#: What to install for the providers pytest-sca ships.
_INSTALL = {"sandbox": "pytest-sca[sandbox]"}


class ProviderUnavailable(RuntimeError):
    """No provider of that name is installed, or it cannot be imported; one line for the user."""


class TargetStartError(RuntimeError):
    """A provider's target did not become ready; the message says why, in one line."""


@runtime_checkable
class RunningTarget(Protocol):
    """A target a provider started, until :meth:`stop`."""

    @property
    def target_path(self) -> Path:
        """The target file it wrote; secrets in it are ``${VAR}`` references to :attr:`env`."""

    @property
    def env(self) -> Mapping[str, str]:
        """The secrets the target file refers to, to export before loading it."""

    @property
    def state_dir(self) -> Path:
        """Where the target keeps its state (shown in the run's header)."""

    def stop(self) -> None:
        """Stop the target and everything it started; calling it again does nothing."""


@runtime_checkable
class TargetProvider(Protocol):
    """Starts a target for one evaluation."""

    def start(self, faults: Sequence[str] = (), state_dir: Path | None = None) -> RunningTarget:
        """Start the target with the named behavioural faults, its state in ``state_dir`` (a
        fresh temporary directory when ``None``), and wait (bounded) until it is ready.

        Raises ``ValueError`` naming an unknown fault and :class:`TargetStartError`
        when the target does not become ready.
        """


def load_provider(name: str) -> TargetProvider:
    """The provider registered as ``name``; :class:`ProviderUnavailable` if it is not installed."""
    install = f"install {_INSTALL.get(name, 'the package that provides it')}"
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        raise ProviderUnavailable(f"the {name} is not available: {install}")
    try:
        provider: TargetProvider = found[0].load()
    except ImportError as exc:
        raise ProviderUnavailable(f"the {name} is not available: {exc.msg}: {install}") from None
    return provider
