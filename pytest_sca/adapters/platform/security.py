"""``security`` over the platform API: data protection and the console's MFA policy."""

from __future__ import annotations

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.platform.client import PlatformClient
from pytest_sca.capabilities import ConsoleSession, Dataset, Labels


class PlatformSecurity(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Security` over the platform API."""

    def ingest(self, name: str, content: str, labels: Labels | None = None) -> Dataset:
        return self.subject.create(
            "datasets.create", "datasets", "datasets.delete", {"dataset_id": "id"},
            name=name, content=content, labels=dict(labels or {}))

    def dataset(self, dataset_id: str) -> Dataset:
        return self.subject.call("datasets.get", dataset_id=dataset_id)

    def read(self, dataset_id: str, view: str = "masked") -> str:
        answer = self.subject.call("datasets.read", dataset_id=dataset_id, view=view)
        return str(answer["content"])

    def delete_dataset(self, dataset_id: str) -> None:
        self.subject.remove("datasets.delete", dataset_id=dataset_id)

    def mfa_policy(self) -> bool:
        return bool(self.subject.call("mfa.get")["console_mfa_required"])

    def set_mfa_policy(self, required: bool) -> bool:
        before = self.mfa_policy()
        now = bool(self.subject.call("mfa.set", console_mfa_required=required)
                   ["console_mfa_required"])
        if now != before:
            # The platform's policy is not the run's: the check's change is taken back.
            self.subject.context.created(
                "", f"restore the console MFA policy ({before})",
                lambda: self.subject.call("mfa.set", console_mfa_required=before))
        return now

    def console_login(self, otp: str | None = None) -> ConsoleSession:
        return self.subject.call("console.login", otp=otp)
