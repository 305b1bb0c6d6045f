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

from pytest_sca.adapters.base import Adapter, AdapterContext, Finding
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

    def probe(self, timeout: float) -> list[Finding]:
        """Doctor: ``platform.info`` answers (the API), ``platform.whoami`` accepts the token
        (the principal and its role), and how many operations the target maps. Requests go
        through the adapter's own path (mapping, auth forms, signers), bounded by
        ``timeout`` and never retried."""
        from pytest_sca.adapters.mapping import OPERATIONS
        from pytest_sca.adapters.platform.client import PlatformClient
        from pytest_sca.capabilities import Refused, TargetError, Unsupported

        config = self.config
        client = PlatformClient(config.model_copy(update={"timeout": timeout, "retries": 0}),
                                self.context)
        table = client.table
        findings: list[Finding] = []
        if not config.token and config.auth is None:
            findings.append(Finding("credentials", "warn", "no token: requests are anonymous"))
        try:
            for operation, check in (("platform.info", "api"), ("platform.whoami", "credentials")):
                try:
                    answer = client.call(operation)
                except Unsupported:
                    findings.append(Finding(check, "warn", f"{operation} is not mapped"))
                    continue
                except Refused as refusal:
                    which = "credentials" if refusal.status in (401, 403) else check
                    findings.append(Finding(which, "fail", f"{operation}: refused "
                                            f"{refusal.status}: {refusal.message}"))
                    continue
                except (TargetError, KeyError) as exc:
                    findings.append(Finding(check, "fail", f"{operation}: {exc}"))
                    continue
                answer = answer if isinstance(answer, dict) else {}
                if check == "api":
                    simulated = " (simulated)" if answer.get("simulated") else ""
                    findings.append(Finding("api", "ok", f"{operation}: "
                                            f"{answer.get('name', '?')} "
                                            f"{answer.get('version', '')}, API "
                                            f"{answer.get('api_version', '?')}{simulated}"))
                else:
                    who = answer.get("user_id") or answer.get("name") or "?"
                    findings.append(Finding("credentials", "ok", f"{operation}: {who}, role "
                                            f"{answer.get('role', '?')}, tenant "
                                            f"{answer.get('tenant_id', '?')}"))
        finally:
            client.close()
        mapped = 0
        for operation in OPERATIONS:
            try:
                table.get(operation)
                mapped += 1
            except Unsupported:
                pass
        source = "a vendor mapping" if config.mapping else "the reference API"
        findings.append(Finding("offers", "info", f"{mapped} of {len(OPERATIONS)} operations "
                                f"routed ({source})"))
        return findings

    def close(self) -> None:
        self.client.close()


__all__ = ["PlatformAdapter", "PlatformClient"]
