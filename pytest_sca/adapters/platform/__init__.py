"""The platform REST adapter: the reference API, or a vendor's API through a declarative
mapping (docs/mapping.md), serving every capability the platform API has.

One code path (:class:`~pytest_sca.adapters.platform.client.PlatformClient`) turns
operation names into requests; the capability implementations, one module per group
of capabilities, call it; the reference API's operations are data
(``reference-api.yaml``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pytest_sca.adapters.base import Adapter, AdapterContext
from pytest_sca.adapters.config import PlatformConfig
from pytest_sca.adapters.platform.accounting import PlatformBilling, PlatformUsage
from pytest_sca.adapters.platform.client import SWEEPS, PlatformClient
from pytest_sca.adapters.platform.development import PlatformDevMachines, PlatformDevTools
from pytest_sca.adapters.platform.images import PlatformImageCache, PlatformImages
from pytest_sca.adapters.platform.inventory import (
    PlatformAssets,
    PlatformClusters,
    PlatformCompute,
    PlatformFileSystems,
    PlatformTelemetry,
    PlatformTopology,
)
from pytest_sca.adapters.platform.models import (
    PlatformFineTune,
    PlatformModels,
    PlatformModelServices,
    PlatformModelUsage,
)
from pytest_sca.adapters.platform.observability import (
    PlatformAlerting,
    PlatformAudit,
    PlatformDiagnosis,
    PlatformDiagnostics,
    PlatformMetrics,
    PlatformOperations,
)
from pytest_sca.adapters.platform.security import PlatformSecurity
from pytest_sca.adapters.platform.tenancy import PlatformTenancy
from pytest_sca.adapters.platform.workflows import PlatformWorkflowApps
from pytest_sca.adapters.platform.workloads import (
    PlatformJobs,
    PlatformNetwork,
    PlatformScheduling,
    PlatformServices,
    PlatformTraining,
)


class PlatformAdapter(Adapter):
    """Speaks the platform REST API (docs/platform-api.md), or a vendor's through its mapping."""

    transport: ClassVar[str] = "platform"
    config_model: ClassVar[type[PlatformConfig]] = PlatformConfig
    implementations: ClassVar[Mapping[str, Callable[[Any], object]]] = {
        "tenancy": PlatformTenancy,
        "compute": PlatformCompute,
        "clusters": PlatformClusters,
        "telemetry": PlatformTelemetry,
        "topology": PlatformTopology,
        "filesystems": PlatformFileSystems,
        "assets": PlatformAssets,
        "jobs": PlatformJobs,
        "training": PlatformTraining,
        "scheduling": PlatformScheduling,
        "network": PlatformNetwork,
        "services": PlatformServices,
        "devmachines": PlatformDevMachines,
        "devtools": PlatformDevTools,
        "images": PlatformImages,
        "imagecache": PlatformImageCache,
        "models": PlatformModels,
        "model_services": PlatformModelServices,
        "finetune": PlatformFineTune,
        "model_usage": PlatformModelUsage,
        "workflow_apps": PlatformWorkflowApps,
        "usage": PlatformUsage,
        "billing": PlatformBilling,
        "metrics": PlatformMetrics,
        "alerting": PlatformAlerting,
        "diagnosis": PlatformDiagnosis,
        "diagnostics": PlatformDiagnostics,
        "operations": PlatformOperations,
        "audit": PlatformAudit,
        "security": PlatformSecurity,
    }
    sweeps: ClassVar[frozenset[str]] = frozenset(f"platform:{kind}" for kind in SWEEPS)

    def __init__(self, config: PlatformConfig, context: AdapterContext) -> None:
        super().__init__(config, context)
        #: The target's principal; ``client.acting_as(key)`` is another user's view.
        self.client = PlatformClient(config, context)

    def subject(self) -> PlatformClient:
        return self.client

    def sweep(self, run_id: str) -> list[str]:
        return self.client.sweep(run_id)

    def close(self) -> None:
        self.client.close()


__all__ = ["PlatformAdapter", "PlatformClient"]
