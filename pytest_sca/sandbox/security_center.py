"""The security area's state: ingested datasets (classified, read masked), the asset
inventory with each asset's risk, and the console's MFA policy.

The rules themselves (classification, masking, risk) live in :mod:`security`;
this service keeps their results in the store and applies them to requests.
"""

from __future__ import annotations

import secrets

from pytest_sca.sandbox.audit import AuditLog
from pytest_sca.sandbox.auth import Permissions, Principal
from pytest_sca.sandbox.errors import ApiError, forbidden, not_found
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.security import ASSET_KINDS, classify, mask, risk_of
from pytest_sca.sandbox.store import Document, Store, new_id, utc_now

_MFA_META = "console_mfa_required"


class SecurityCenter:
    """Datasets, assets and the console MFA policy over the store."""

    def __init__(self, store: Store, permissions: Permissions, audit: AuditLog,
                 faults: Faults) -> None:
        self.store = store
        self.permissions = permissions
        self.audit = audit
        self.faults = faults

    # datasets -----------------------------------------------------------------------------

    def create_dataset(self, who: Principal, name: str, content: str,
                       labels: dict[str, str]) -> Document:
        """Ingest a text dataset into ``who``'s tenant, classified on the way in."""
        dataset = {
            "id": new_id("ds"), "name": name, "tenant_id": who.tenant_id,
            "owner": who.user_id, "labels": labels, "created_at": utc_now(),
            "classification": classify(content), "_content": content,
        }
        self.store.put("dataset", dataset)
        return dataset

    def list_datasets(self, who: Principal) -> list[Document]:
        """The datasets of ``who``'s tenant (every one for a platform admin)."""
        return [d for d in self.store.list("dataset") if self.permissions.can_read_tenant(
            who, d["tenant_id"], cross_tenant_kind=False)]

    def visible_dataset(self, who: Principal, dataset_id: str) -> Document:
        """A dataset of ``who``'s tenant (any for a platform admin), or 404."""
        dataset = self.store.get("dataset", dataset_id)
        if dataset is None or not self.permissions.can_read_tenant(
                who, dataset["tenant_id"], cross_tenant_kind=False):
            raise not_found(f"dataset {dataset_id}")
        return dataset

    def read_dataset(self, who: Principal, dataset: Document, view: str) -> Document:
        """The masked (or, for admins, raw) content; every read is audited, refusals too."""
        where = f"datasets/{dataset['id']}"
        if view == "raw" and not who.is_platform_admin and who.role != "tenant_admin":
            self.audit.record(who, "dataset.read", where, "denied", 403)
            raise forbidden(f"role {who.role} may read only the masked view")
        text = dataset["_content"] if view == "raw" else mask(dataset["_content"], self.faults)
        self.audit.record(who, "dataset.read", where, "success", 200)
        return {"id": dataset["id"], "view": view, "content": text}

    def delete_dataset(self, dataset: Document) -> None:
        """Forget a dataset."""
        self.store.delete("dataset", dataset["id"])

    # assets -------------------------------------------------------------------------------

    def assets(self, who: Principal, tenant_id: str | None) -> list[Document]:
        """Jobs, clusters, images and datasets with their risk, of one tenant or all visible."""
        if tenant_id is not None and not self.permissions.can_read_tenant(
                who, tenant_id, cross_tenant_kind=False):
            raise not_found(f"tenant {tenant_id}")
        scope = tenant_id or (None if who.is_platform_admin else who.tenant_id)
        units = {t["id"]: t["name"] for t in self.store.list("tenant")}
        items = []
        for kind, asset_kind in ASSET_KINDS.items():
            for doc in self.store.list(kind, tenant_id=scope):
                owner = doc.get("tenant_id") or "platform"
                risk = ({"status": "unknown", "findings": []}
                        if Fault.ASSET_RISK_NOT_ASSESSED in self.faults
                        else risk_of(kind, doc))
                unit = ("platform" if Fault.ASSETS_FILED_UNDER_PLATFORM in self.faults
                        else units.get(owner, owner))
                items.append({"id": doc["id"], "kind": asset_kind, "name": doc.get("name", ""),
                              "tenant_id": owner, "org_unit": unit,
                              "labels": doc.get("labels", {}), "risk": risk})
        return items

    # console MFA ----------------------------------------------------------------------------

    def mfa_required(self) -> bool:
        """Whether console logins need a second factor."""
        return self.store.get_meta(_MFA_META) == "yes"

    def set_mfa_required(self, required: bool) -> None:
        """Require (or stop requiring) a second factor for console logins."""
        self.store.set_meta(_MFA_META, "yes" if required else "no")

    def console_login(self) -> Document:
        """A console session for an authenticated key (401 while MFA is required)."""
        if self.mfa_required() and Fault.MFA_LOCKS_CONSOLE_ACCOUNTS in self.faults:
            raise ApiError(403, "account_locked", "this console account is locked")
        if self.mfa_required() and Fault.MFA_NOT_ENFORCED not in self.faults:
            # No user has a second factor enrolled in the sandbox: every code is wrong.
            raise ApiError(401, "mfa_required",
                           "this console requires a second factor (TOTP) for every user")
        return {"session_id": "cs-" + secrets.token_hex(8), "mfa": False}
