"""What every transport adapter is: a connection to one part of a target that serves
named capabilities through implementations of the capability contract.

A check asks for a capability fixture (``jobs``, ``tenancy``…), never for a
transport. Each adapter class lists, in ``implementations``, the capabilities it
serves and the class that implements each (a :class:`Facade` over the adapter);
``provides`` is derived from that table, and a test proves every implementation
satisfies its capability's Protocol (:mod:`pytest_sca.capabilities`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel

from ..capabilities import Unsupported
from ..cleanup import CleanupLedger, UndoAction
from ..redaction import Redactor

if TYPE_CHECKING:
    from typing_extensions import Self


@dataclass
class AdapterContext:
    """What an adapter may know about the run besides its own configuration."""

    target_name: str
    target_path: Path | None
    run_id: str
    #: Replaces every secret by ``***``; an adapter registers secrets it learns at run
    #: time (an API key the platform returns) with ``redact.add([...])``.
    redact: Redactor = field(default_factory=Redactor)
    #: Where the adapter registers the undo of everything it creates (the running check's
    #: scope, or the run's when no check runs).
    ledger: CleanupLedger = field(default_factory=CleanupLedger)

    def created(self, kind: str, description: str, undo: Callable[[], object]) -> UndoAction:
        """Register the undo of something just created (``kind`` is ``transport:collection``,
        the sweep's unit); cancel the returned action when the thing is deleted on purpose."""
        return self.ledger.register(description, undo, kind=kind)


@dataclass(frozen=True)
class Finding:
    """One thing a probe established about an adapter (``python -m pytest_sca doctor``).

    ``check`` names what was checked (``reachable``, ``tls``, ``api``, ``credentials``,
    ``offers``…); ``status`` is ``ok``, ``warn`` (usable, but look), ``fail`` (the adapter
    cannot serve the evaluation) or ``info``; ``detail`` is one line, free of secrets.
    """

    check: str
    status: Literal["ok", "warn", "fail", "info"]
    detail: str


class _Provides:
    """``Adapter.provides``: read from the class's ``implementations`` whenever asked, so that
    a table completed after the class body (its implementations need the class) counts."""

    def __get__(self, instance: object, owner: type[Adapter]) -> frozenset[str]:
        return frozenset(owner.implementations)


class Adapter:
    """Base class of transport adapters.

    Subclasses set ``transport`` (the key under ``adapters:`` in a target file),
    ``config_model`` (the pydantic model of that section) and ``implementations``
    (capability name → the class that implements it, constructed with the adapter);
    they release what they hold in :meth:`close`. Construction must not touch the
    network: a target that is down makes the checks ``error``, not the whole run.
    """

    transport: ClassVar[str] = ""
    config_model: ClassVar[type[BaseModel]]
    #: capability name → implementation class (called with :meth:`subject`).
    implementations: ClassVar[Mapping[str, Callable[[Any], object]]] = {}
    #: The capabilities this adapter serves: the keys of ``implementations``.
    provides = _Provides()
    #: Kinds of resource (``transport:collection``) :meth:`sweep` can find by run label.
    sweeps: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: Any, context: AdapterContext) -> None:
        self.config = config
        self.context = context

    def subject(self) -> object:
        """What an implementation is constructed with: the adapter itself by default."""
        return self

    @classmethod
    def unconfigured(cls, config: Any, name: str) -> str | None:
        """Why this adapter, which implements capability ``name``, cannot serve it with
        ``config`` (a setting it needs is not set), or None when it can. A capability an
        adapter cannot serve goes to the next adapter of the target file that provides it:
        the Kubernetes adapter without ``comfyui_service`` leaves ``workflows`` to
        ``adapters.comfyui``."""
        return None

    def capability(self, name: str) -> object:
        """The object a check gets for capability ``name`` (one of ``provides``)."""
        try:
            implementation = self.implementations[name]
        except KeyError:
            raise KeyError(f"the {self.transport} adapter does not provide {name!r}") from None
        return implementation(self.subject())

    def probe(self, timeout: float) -> list[Finding]:
        """Check, within ``timeout`` seconds per request and changing nothing, that the
        adapter can serve an evaluation: credentials accepted, the API (groups, versions,
        operations) it offers. The doctor checks reachability and TLS of every URL in the
        configuration itself; an adapter without a probe (the default) gets only that."""
        return []

    def sweep(self, run_id: str) -> list[str]:
        """Remove what run ``run_id`` left (everything labelled with it, nothing else);
        one line per thing that could not be removed. Adapters that create nothing sweep
        nothing."""
        return []

    def close(self) -> None:
        """Release connections and sessions; called once at the end of the run."""


_Subject = TypeVar("_Subject")


class Facade(Generic[_Subject]):
    """Base of a capability implementation: calls its transport, may act as another user."""

    def __init__(self, subject: _Subject) -> None:
        self.subject = subject

    def acting_as(self, credential: str) -> Self:
        """The same capability, authenticated with ``credential``."""
        acting = getattr(self.subject, "acting_as", None)
        if acting is None:
            raise TypeError(f"{type(self.subject).__name__} cannot act as another principal")
        return type(self)(acting(credential))

    def unretried(self) -> Self:
        """The same capability whose every request is sent once, never retried (for
        measurements); :class:`~pytest_sca.capabilities.Unsupported` where the transport
        cannot turn its retries off."""
        unretried = getattr(self.subject, "unretried", None)
        if unretried is None:
            raise Unsupported(f"the {type(self.subject).__name__} transport cannot send a "
                              "request without retrying it: a measurement through it would "
                              "hide failed requests")
        return type(self)(unretried())
