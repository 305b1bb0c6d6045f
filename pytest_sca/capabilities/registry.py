"""The one list of capabilities: name → the Protocol an implementation satisfies.

A check asks for a capability by its name (the fixture ``jobs``); an adapter
provides it by mapping the same name to an implementation (its
``implementations`` table). Which adapter provides what is read from the
adapters, never from this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from .accounting import Billing, Usage
from .development import DevMachines, DevTools
from .images import ImageCache, Images, Registry
from .inventory import Assets, Clusters, Compute, FileSystems, Telemetry, Topology
from .models import Files, FineTune, Inference, Models, ModelServices, ModelUsage
from .observability import Alerting, Audit, Diagnosis, Diagnostics, Metrics, Operations
from .security import Nodes, Security, Storage
from .tenancy import Tenancy
from .workflows import WorkflowApps, Workflows
from .workloads import Jobs, Network, Scheduling, Services, Training


@dataclass(frozen=True)
class Capability:
    """One capability: the fixture name checks use and the Protocol it is typed as."""

    name: str
    protocol: type


def _table(*entries: tuple[str, type]) -> dict[str, Capability]:
    return {name: Capability(name, protocol) for name, protocol in entries}


#: capability name → its Protocol. A check's fixture of the same name is typed as it.
CAPABILITIES: dict[str, Capability] = _table(
    ("tenancy", Tenancy),
    ("compute", Compute),
    ("clusters", Clusters),
    ("telemetry", Telemetry),
    ("topology", Topology),
    ("filesystems", FileSystems),
    ("assets", Assets),
    ("jobs", Jobs),
    ("training", Training),
    ("scheduling", Scheduling),
    ("network", Network),
    ("services", Services),
    ("devmachines", DevMachines),
    ("devtools", DevTools),
    ("images", Images),
    ("imagecache", ImageCache),
    ("registry", Registry),
    ("models", Models),
    ("model_services", ModelServices),
    ("finetune", FineTune),
    ("files", Files),
    ("model_usage", ModelUsage),
    ("inference", Inference),
    ("workflows", Workflows),
    ("workflow_apps", WorkflowApps),
    ("usage", Usage),
    ("billing", Billing),
    ("metrics", Metrics),
    ("alerting", Alerting),
    ("diagnosis", Diagnosis),
    ("diagnostics", Diagnostics),
    ("operations", Operations),
    ("audit", Audit),
    ("security", Security),
    ("storage", Storage),
    ("nodes", Nodes),
)
