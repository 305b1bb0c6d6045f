"""Capabilities ``security`` (data protection, console MFA) and ``assets`` over the platform API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pytest_sca.adapters.capabilities import Record
from pytest_sca.adapters.platform import Facade


class Security(Protocol):
    """Data protection (ingest, classify, mask) and the console's MFA policy."""

    def ingest(self, name: str, content: str, labels: Mapping[str, str] | None = None
               ) -> Record:
        """Ingest a text dataset: ``{id, name, tenant_id, classification: {sensitive,
        level, categories}}``; removed at the end of the run."""
        ...

    def dataset(self, dataset_id: str) -> Record:
        """A dataset's record and classification."""
        ...

    def read(self, dataset_id: str, view: str = "masked") -> str:
        """A dataset's content in ``view`` (``masked`` or ``raw``)."""
        ...

    def delete_dataset(self, dataset_id: str) -> None:
        """Remove a dataset."""
        ...

    def mfa_policy(self) -> bool:
        """Whether console logins require a second factor."""
        ...

    def set_mfa_policy(self, required: bool) -> bool:
        """Require (or not) a second factor for console logins; the new setting."""
        ...

    def console_login(self, otp: str | None = None) -> Record:
        """Open a console session as the caller; ApiError when refused."""
        ...


class Assets(Protocol):
    """The asset inventory by organisation unit, with risk status."""

    def list_assets(self, tenant_id: str | None = None) -> list[Record]:
        """``{id, kind, name, tenant_id, org_unit, risk: {status, findings}}``."""
        ...


class PlatformSecurity(Facade):
    """:class:`Security` over the platform API."""

    def ingest(self, name: str, content: str, labels: Mapping[str, str] | None = None
               ) -> Record:
        created: Record = self.adapter.create(
            "datasets.create", "datasets.delete", {"dataset_id": "id"},
            name=name, content=content, labels=dict(labels or {}))
        return created

    def dataset(self, dataset_id: str) -> Record:
        return self.adapter.call("datasets.get", dataset_id=dataset_id)  # type: ignore[no-any-return]

    def read(self, dataset_id: str, view: str = "masked") -> str:
        answer: dict[str, Any] = self.adapter.call("datasets.read", dataset_id=dataset_id,
                                                   view=view)
        return str(answer["content"])

    def delete_dataset(self, dataset_id: str) -> None:
        self.adapter.remove("datasets.delete", dataset_id=dataset_id)

    def mfa_policy(self) -> bool:
        return bool(self.adapter.call("mfa.get")["console_mfa_required"])

    def set_mfa_policy(self, required: bool) -> bool:
        return bool(self.adapter.call("mfa.set", console_mfa_required=required)
                    ["console_mfa_required"])

    def console_login(self, otp: str | None = None) -> Record:
        return self.adapter.call("console.login", otp=otp)  # type: ignore[no-any-return]


class PlatformAssets(Facade):
    """:class:`Assets` over the platform API."""

    def list_assets(self, tenant_id: str | None = None) -> list[Record]:
        return self.adapter.call("assets.list", tenant_id=tenant_id)  # type: ignore[no-any-return]


FACADES: dict[str, type[Facade]] = {"security": PlatformSecurity, "assets": PlatformAssets}
