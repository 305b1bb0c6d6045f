"""10.2.g 资产管理与风险分析 Permissions and assets by organisation, with risk analysis."""

from __future__ import annotations

import pytest

from pytest_sca.capabilities import Asset, Assets, Security, Tenancy
from pytest_sca.fixtures import CheckContext
from pytest_sca.probes.personal_data import probe_document, synthetic_people

from ..conftest import MakeProbeUser

#: Risk statuses in increasing order; anything else is not an assessment.
RISK_ORDER = ("low", "medium", "high", "critical")


def tenant_org_units(tenancy: Tenancy, tenant_id: str) -> set[str]:
    """The names the probe tenant's organisation unit may go by: the org unit its record
    declares, else the tenant itself (its id or its name)."""
    tenant = tenancy.get_tenant(tenant_id)
    declared = tenant.get("org_unit")
    if declared:
        return {str(declared)}
    return {str(name) for name in (tenant_id, tenant.get("id"), tenant.get("name")) if name}


@pytest.mark.clause("10.2.g")
@pytest.mark.mutating
def test_assets_are_inventoried_with_risk(sca: CheckContext, security: Security, assets: Assets,
                                          tenancy: Tenancy, probe_tenant: MakeProbeUser) -> None:
    """Two probe datasets (one with synthetic personal data) appear in the asset inventory under
    one org unit, that of the probe tenant, each with a risk status; the sensitive one ranks
    higher."""
    user = probe_tenant("assets")
    data = security.acting_as(user.user["api_key"])
    created = {
        "plain": data.ingest(sca.name("asset-plain"), "id,value\n1,alpha\n2,beta\n",
                             labels=sca.labels),
        "sensitive": data.ingest(sca.name("asset-pii"), probe_document(synthetic_people(2)),
                                 labels=sca.labels),
    }
    listed = {a["id"]: a for a in assets.list_assets(tenant_id=user.tenant_id)}
    found: dict[str, Asset | None] = {what: listed.get(item["id"])
                                      for what, item in created.items()}
    sca.evidence("inventory entries of the probe datasets", found)
    missing = [what for what, asset in found.items() if asset is None]
    assert not missing, f"[10.2.g] the asset inventory lacks the {' and '.join(missing)} dataset"
    statuses: dict[str, int] = {}
    units = set()
    for what, asset in found.items():
        assert asset is not None and asset.get("org_unit"), (
            f"[10.2.g] the {what} dataset is listed without an org unit: {asset}")
        units.add(asset["org_unit"])
        status = (asset.get("risk") or {}).get("status")
        assert status in RISK_ORDER, (
            f"[10.2.g] the {what} dataset has no risk status (got {status!r})")
        statuses[what] = RISK_ORDER.index(str(status))
    # Two datasets of one tenant belong to one organisation unit: the tenant's own.
    assert len(units) == 1, f"[10.2.g] the probe tenant's two datasets are in org units {units}"
    expected = tenant_org_units(tenancy, user.tenant_id)
    sca.evidence("org unit of the probe tenant", {"expected": sorted(expected),
                                                   "listed": sorted(units)})
    assert units <= expected, (
        f"[10.2.g] the probe tenant's datasets are listed under org unit {units.pop()!r}, not "
        f"the probe tenant's ({' or '.join(sorted(expected))})")
    assert statuses["sensitive"] > statuses["plain"], (
        "[10.2.g] a dataset holding personal data is rated no riskier than a plain one")
