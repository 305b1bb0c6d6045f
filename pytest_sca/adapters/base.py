"""What every transport adapter is: a small object that provides named capabilities.

A check asks for a capability fixture (``jobs``, ``tenancy``…), never for a
transport. Each adapter class says which capabilities it provides; the plugin
builds the adapters the target file configures and hands each capability to
the first adapter that provides it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..redaction import Redactor

#: Every capability a check can ask for, with the transports that usually provide it.
#: The plugin creates one fixture per name; the text is used in not-assessed reasons.
CAPABILITIES: Mapping[str, tuple[str, ...]] = {
    "tenancy": ("platform", "kubernetes"),
    "compute": ("platform", "kubernetes"),
    "clusters": ("platform",),
    "images": ("platform", "registry"),
    "registry": ("registry",),
    "jobs": ("platform", "kubernetes"),
    "devmachines": ("platform", "kubernetes"),
    "devtools": ("platform",),
    "models": ("platform",),
    "services": ("platform", "kubernetes"),
    "training": ("platform", "kubernetes"),
    "operations": ("platform",),
    "finetune": ("platform",),
    "workflows": ("comfyui", "platform"),
    "workflow_apps": ("platform",),
    "model_services": ("platform",),
    "model_usage": ("platform",),
    "usage": ("platform",),
    "billing": ("platform",),
    "audit": ("platform",),
    "diagnosis": ("platform",),
    "topology": ("platform",),
    "diagnostics": ("platform",),
    "telemetry": ("platform",),
    "assets": ("platform",),
    "security": ("platform",),
    "nodes": ("ssh",),
    "storage": ("s3",),
    "inference": ("openai",),
    "metrics": ("prometheus", "platform"),
    "alerting": ("platform", "prometheus"),
    "imagecache": ("platform",),
    "filesystems": ("platform",),
    "scheduling": ("platform", "kubernetes"),
    "network": ("platform",),
}


class TargetError(Exception):
    """The target answered in a way that stops a check from finishing.

    A 5xx answer, a malformed body, an unexpected protocol state. The plugin
    reports it as ``error`` (never ``fail``): nothing was observed about the
    requirement itself.
    """


@dataclass
class AdapterContext:
    """What an adapter may know about the run besides its own configuration."""

    target_name: str
    target_path: Path | None
    run_id: str
    #: Replaces every secret by ``***``; an adapter registers secrets it learns at run
    #: time (an API key the platform returns) with ``redact.add([...])``.
    redact: Redactor = field(default_factory=Redactor)
    #: The target file's ``capabilities`` section (declared features, thresholds).
    declared: Mapping[str, Any] = field(default_factory=dict)


class Adapter:
    """Base class of transport adapters.

    Subclasses set ``transport`` (the key under ``adapters:`` in a target file)
    and ``provides`` (capability names from :data:`CAPABILITIES`), take their
    validated configuration model and the run context, and release what they
    hold in :meth:`close`. Construction must not touch the network: a target
    that is down makes the checks ``error``, not the whole run.
    """

    transport: ClassVar[str] = ""
    provides: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: Any, context: AdapterContext) -> None:
        self.config = config
        self.context = context

    def capability(self, name: str) -> Any:
        """The object a check gets for capability ``name`` (one of ``provides``).

        An adapter whose capabilities share method names (tenants and jobs both
        have ``list``) returns one facade per capability; the default is itself.
        """
        return self

    def close(self) -> None:
        """Release connections and sessions; called once at the end of the run."""
