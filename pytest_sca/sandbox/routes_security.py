"""API routes of platform security: datasets (classification, masked view), assets, MFA policy.

The logic lives in :mod:`pytest_sca.sandbox.security_center` (which audits
reads of a dataset's content: the audit middleware records mutations only);
these routes check who may change what and answer.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StringConstraints

from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller, audit_resource, public
from pytest_sca.sandbox.models import Labels, Name
from pytest_sca.sandbox.schemas import documented
from pytest_sca.sandbox.store import Document


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
    security = platform.security

    @routes.post(f"{API}/datasets", name="dataset.create", **documented(Dataset, 201))
    def create_dataset(body: DatasetCreate, who: Caller, request: Request) -> Document:
        rules.require_write(who, who.tenant_id, allowed=("tenant_admin", "member"))
        dataset = security.create_dataset(who, body.name, body.content, body.labels)
        audit_resource(request, f"datasets/{dataset['id']}")
        return public(dataset)

    @routes.get(f"{API}/datasets", name="dataset.list", **documented(S.Items[Dataset]))
    def list_datasets(who: Caller) -> dict[str, Any]:
        return {"items": [public(d) for d in security.list_datasets(who)]}

    @routes.get(f"{API}/datasets/{{dataset_id}}", name="dataset.get", **documented(Dataset))
    def get_dataset(dataset_id: str, who: Caller) -> Document:
        return public(security.visible_dataset(who, dataset_id))

    @routes.get(f"{API}/datasets/{{dataset_id}}/content", name="dataset.read",
                **documented(DatasetContent))
    def read_dataset(dataset_id: str, who: Caller,
                     view: Literal["masked", "raw"] = "masked") -> dict[str, Any]:
        return security.read_dataset(who, security.visible_dataset(who, dataset_id), view)

    @routes.delete(f"{API}/datasets/{{dataset_id}}", name="dataset.delete",
                   **documented(None, 204))
    def delete_dataset(dataset_id: str, who: Caller) -> Response:
        dataset = security.visible_dataset(who, dataset_id)
        rules.require_write(who, dataset["tenant_id"], allowed=("tenant_admin", "member"),
                            owner=dataset["owner"])
        security.delete_dataset(dataset)
        return Response(status_code=204)

    @routes.get(f"{API}/assets", name="asset.list", **documented(S.Items[Asset]))
    def list_assets(
        who: Caller, tenant_id: Annotated[str | None, Query(max_length=128)] = None
    ) -> dict[str, Any]:
        return {"items": security.assets(who, tenant_id)}

    @routes.get(f"{API}/security/mfa", name="mfa.get", **documented(MfaAnswer))
    def get_mfa(who: Caller) -> dict[str, Any]:
        return {"console_mfa_required": security.mfa_required()}

    @routes.put(f"{API}/security/mfa", name="mfa.set", **documented(MfaAnswer))
    def set_mfa(body: MfaPolicy, who: Caller) -> dict[str, Any]:
        rules.require_write(who, None, allowed=())
        security.set_mfa_required(body.console_mfa_required)
        return {"console_mfa_required": body.console_mfa_required}

    @routes.post(f"{API}/console/sessions", name="console.login",
                 **documented(ConsoleSession, 201))
    def console_login(body: ConsoleLogin, who: Caller) -> dict[str, Any]:
        return security.console_login()

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
