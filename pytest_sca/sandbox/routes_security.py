"""API routes of platform security: datasets (classification, masked view), assets, MFA policy.

The logic lives in :mod:`pytest_sca.sandbox.security`; these routes store and
answer. Reads of a dataset's content are audited here (the audit middleware
records mutations only).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StringConstraints

from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller, audit_resource, public
from pytest_sca.sandbox.errors import ApiError, forbidden, not_found
from pytest_sca.sandbox.faults import Fault
from pytest_sca.sandbox.models import Labels, Name
from pytest_sca.sandbox.schemas import documented
from pytest_sca.sandbox.security import ASSET_KINDS, classify, mask, risk_of
from pytest_sca.sandbox.store import Document, new_id, utc_now

_MFA_META = "console_mfa_required"


class DatasetCreate(BaseModel):
    """POST /datasets: a small text dataset ingested into the platform."""

    name: Name
    content: Annotated[str, StringConstraints(max_length=1_000_000, pattern=r"^[^\x00]*$")]
    labels: Labels = Field(default_factory=dict)


class MfaPolicy(BaseModel):
    """PUT /security/mfa."""

    console_mfa_required: bool


class ConsoleLogin(BaseModel):
    """POST /console/sessions: the API key authenticates; ``otp`` is the second factor."""

    otp: Annotated[str, StringConstraints(max_length=16)] | None = None


class Dataset(S.Open):
    """An ingested dataset and its classification."""

    id: str
    name: str
    tenant_id: str
    classification: dict[str, Any]


class DatasetContent(S.Open):
    """A view of a dataset's content."""

    id: str
    view: str
    content: str


class Asset(S.Open):
    """One asset of the inventory."""

    id: str
    kind: str
    name: str
    tenant_id: str
    org_unit: str
    risk: dict[str, Any]


class MfaAnswer(S.Open):
    """The console MFA policy."""

    console_mfa_required: bool


class ConsoleSession(S.Open):
    """A console session."""

    session_id: str
    mfa: bool


def router(platform: SandboxPlatform) -> APIRouter:
    """The routes over ``platform``."""
    routes = APIRouter()
    rules = platform.permissions
    store = platform.store

    def visible_dataset(who: Any, dataset_id: str) -> Document:
        dataset = store.get("dataset", dataset_id)
        if dataset is None or not rules.can_read_tenant(
                who, dataset["tenant_id"], cross_tenant_kind=False):
            raise not_found(f"dataset {dataset_id}")
        return dataset

    @routes.post(f"{API}/datasets", name="dataset.create", **documented(Dataset, 201))
    def create_dataset(body: DatasetCreate, who: Caller, request: Request) -> Document:
        rules.require_write(who, who.tenant_id, allowed=("tenant_admin", "member"))
        dataset = {
            "id": new_id("ds"), "name": body.name, "tenant_id": who.tenant_id,
            "owner": who.user_id, "labels": body.labels, "created_at": utc_now(),
            "classification": classify(body.content), "_content": body.content,
        }
        store.put("dataset", dataset)
        audit_resource(request, f"datasets/{dataset['id']}")
        return public(dataset)

    @routes.get(f"{API}/datasets/{{dataset_id}}", name="dataset.get", **documented(Dataset))
    def get_dataset(dataset_id: str, who: Caller) -> Document:
        return public(visible_dataset(who, dataset_id))

    @routes.get(f"{API}/datasets/{{dataset_id}}/content", name="dataset.read",
                **documented(DatasetContent))
    def read_dataset(dataset_id: str, who: Caller,
                     view: Literal["masked", "raw"] = "masked") -> dict[str, Any]:
        dataset = visible_dataset(who, dataset_id)
        if view == "raw" and not who.is_platform_admin and who.role != "tenant_admin":
            platform.record_audit(who, "dataset.read", f"datasets/{dataset_id}", "denied", 403)
            raise forbidden(f"role {who.role} may read only the masked view")
        text = dataset["_content"] if view == "raw" else mask(dataset["_content"], platform.faults)
        platform.record_audit(who, "dataset.read", f"datasets/{dataset_id}", "success", 200)
        return {"id": dataset_id, "view": view, "content": text}

    @routes.delete(f"{API}/datasets/{{dataset_id}}", name="dataset.delete",
                   **documented(None, 204))
    def delete_dataset(dataset_id: str, who: Caller) -> Response:
        dataset = visible_dataset(who, dataset_id)
        rules.require_write(who, dataset["tenant_id"], allowed=("tenant_admin", "member"),
                            owner=dataset["owner"])
        store.delete("dataset", dataset_id)
        return Response(status_code=204)

    @routes.get(f"{API}/assets", name="asset.list", **documented(S.Items[Asset]))
    def list_assets(
        who: Caller, tenant_id: Annotated[str | None, Query(max_length=128)] = None
    ) -> dict[str, Any]:
        if tenant_id is not None and not rules.can_read_tenant(
                who, tenant_id, cross_tenant_kind=False):
            raise not_found(f"tenant {tenant_id}")
        scope = tenant_id or (None if who.is_platform_admin else who.tenant_id)
        units = {t["id"]: t["name"] for t in store.list("tenant")}
        items = []
        for kind, asset_kind in ASSET_KINDS.items():
            for doc in store.list(kind, tenant_id=scope):
                owner = doc.get("tenant_id") or "platform"
                risk = ({"status": "unknown", "findings": []}
                        if Fault.ASSET_RISK_NOT_ASSESSED in platform.faults
                        else risk_of(kind, doc))
                items.append({"id": doc["id"], "kind": asset_kind, "name": doc.get("name", ""),
                              "tenant_id": owner, "org_unit": units.get(owner, owner),
                              "labels": doc.get("labels", {}), "risk": risk})
        return {"items": items}

    @routes.get(f"{API}/security/mfa", name="mfa.get", **documented(MfaAnswer))
    def get_mfa(who: Caller) -> dict[str, Any]:
        return {"console_mfa_required": store.get_meta(_MFA_META) == "yes"}

    @routes.put(f"{API}/security/mfa", name="mfa.set", **documented(MfaAnswer))
    def set_mfa(body: MfaPolicy, who: Caller) -> dict[str, Any]:
        rules.require_write(who, None, allowed=())
        store.set_meta(_MFA_META, "yes" if body.console_mfa_required else "no")
        return {"console_mfa_required": body.console_mfa_required}

    @routes.post(f"{API}/console/sessions", name="console.login",
                 **documented(ConsoleSession, 201))
    def console_login(body: ConsoleLogin, who: Caller) -> dict[str, Any]:
        required = store.get_meta(_MFA_META) == "yes"
        if required and Fault.MFA_NOT_ENFORCED not in platform.faults:
            # No user has a second factor enrolled in the sandbox: every code is wrong.
            raise ApiError(401, "mfa_required",
                           "this console requires a second factor (TOTP) for every user")
        return {"session_id": "cs-" + secrets.token_hex(8), "mfa": False}

    return routes


def target_evidence(platform: SandboxPlatform) -> dict[str, Any]:
    """Evidence entries of the sandbox's target file for what no software can check.

    10.2.a's physical, network and process layers: the sandbox is one loopback
    process, so the review says what exists (and what does not) there.
    """
    return {"10.2.a": {
        "verdict": "pass",
        "reviewer": "pytest-sca sandbox maintainers",
        "date": "2026-11-28",
        "document": "docs/chapter10.md, section 'Sandbox evidence for 10.2.a'",
        "note": "physical, physical-network and operations layers reviewed for the sandbox "
                "(loopback only, one host); host and account layers are checked automatically",
    }}
