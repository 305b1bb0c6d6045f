"""Capabilities of monitoring and scheduling policy over the platform API: ``alerting``,
``diagnosis``, ``imagecache``, ``filesystems`` and ``scheduling``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from pytest_sca.adapters.capabilities import ActsAs, Record
from pytest_sca.adapters.platform import Facade


@runtime_checkable
class Alerting(Protocol):
    """Alert rules, the alerts they raise and the notifications sent."""

    def create_rule(
        self, name: str, metric: str, threshold: float, *, op: str = ">",
        matchers: Mapping[str, str] | None = None, severity: str = "warning",
        channel: str = "default", labels: Mapping[str, str] | None = None,
    ) -> Record:
        """Fire when a sample of ``metric`` (labels including ``matchers``) ``op`` ``threshold``.

        The rule is removed at the end of the run. Answer: ``{id, name, metric, op,
        threshold, channel}``.
        """
        ...

    def delete_rule(self, rule_id: str) -> None:
        """Delete a rule."""
        ...

    def rules(self) -> list[Record]:
        """Rules the caller may see."""
        ...

    def alerts(self) -> list[Record]:
        """Firing alerts: ``{rule_id, name, state, labels, value}``."""
        ...

    def notifications(self) -> list[Record]:
        """Notifications sent: ``{id, rule_id, channel, time, message}``."""
        ...


@runtime_checkable
class Diagnosis(ActsAs, Protocol):
    """One-click fault diagnosis."""

    def diagnose_cluster(self, cluster_id: str) -> Record:
        """``{cluster_id, verdict, nodes: [{node_id, verdict, components: [{component,
        status: ok|warning|error, detail}]}]}``."""
        ...


@runtime_checkable
class ImageCache(Protocol):
    """Image pulls onto a node, as an instance start does them."""

    def pull(self, node_id: str, image: str, mode: str = "full") -> Record:
        """Pull ``image`` (``name:tag``) onto a node; ``mode`` ``full`` or ``lazy`` (start as
        soon as the layers needed to start are there). Answer: ``{seconds,
        bytes_transferred, image_bytes, layers, layers_cached}``."""
        ...


@runtime_checkable
class FileSystems(Protocol):
    """High-performance file systems whose clients the platform deploys onto nodes."""

    def list_filesystems(self) -> list[Record]:
        """``{id, name, type, mount_path, nodes: [node ids with the client mounted]}``."""
        ...


@runtime_checkable
class Scheduling(ActsAs, Protocol):
    """Scheduling policy: priority queues, burst policy."""

    def submit_queued(
        self, name: str, image: str, command: Sequence[str], resources: Mapping[str, Any],
        *, priority: int, queue: str = "default", workers: int = 1,
        labels: Mapping[str, str] | None = None,
    ) -> Record:
        """Submit a job into ``queue`` with ``priority`` (higher first); removed at the end."""
        ...

    def burst_policy(self) -> Record:
        """``{enabled, rules: [{source, target, weight, threshold_utilization}]}``."""
        ...


class PlatformAlerting(Facade):
    """Alerting over the platform API."""

    def create_rule(
        self, name: str, metric: str, threshold: float, *, op: str = ">",
        matchers: Mapping[str, str] | None = None, severity: str = "warning",
        channel: str = "default", labels: Mapping[str, str] | None = None,
    ) -> Record:
        return self.adapter.create(
            "alerts.rules.create", "alerts.rules.delete", {"rule_id": "id"},
            name=name, metric=metric, threshold=threshold, op=op,
            matchers=dict(matchers or {}), severity=severity, channel=channel,
            labels=dict(labels or {}),
        )

    def delete_rule(self, rule_id: str) -> None:
        self.adapter.remove("alerts.rules.delete", rule_id=rule_id)

    def rules(self) -> list[Record]:
        return self.adapter.call("alerts.rules.list")

    def alerts(self) -> list[Record]:
        return self.adapter.call("alerts.list")

    def notifications(self) -> list[Record]:
        return self.adapter.call("alerts.notifications")


class PlatformDiagnosis(Facade):
    """Diagnosis over the platform API."""

    def diagnose_cluster(self, cluster_id: str) -> Record:
        return self.adapter.call("clusters.diagnose", cluster_id=cluster_id)


class PlatformImageCache(Facade):
    """Image pulls over the platform API."""

    def pull(self, node_id: str, image: str, mode: str = "full") -> Record:
        return self.adapter.call("images.pull", node_id=node_id, image=image, mode=mode)


class PlatformFileSystems(Facade):
    """File systems over the platform API."""

    def list_filesystems(self) -> list[Record]:
        return self.adapter.call("filesystems.list")


class PlatformScheduling(Facade):
    """Scheduling policy over the platform API."""

    def submit_queued(
        self, name: str, image: str, command: Sequence[str], resources: Mapping[str, Any],
        *, priority: int, queue: str = "default", workers: int = 1,
        labels: Mapping[str, str] | None = None,
    ) -> Record:
        return self.adapter.create(
            "jobs.submit_queued", "jobs.delete", {"job_id": "id"},
            name=name, image=image, command=list(command), resources=dict(resources),
            workers=workers, env=None, labels=dict(labels or {}), priority=priority, queue=queue,
        )

    def burst_policy(self) -> Record:
        return self.adapter.call("scheduling.burst_policy")


FACADES: dict[str, type[Facade]] = {
    "alerting": PlatformAlerting,
    "diagnosis": PlatformDiagnosis,
    "imagecache": PlatformImageCache,
    "filesystems": PlatformFileSystems,
    "scheduling": PlatformScheduling,
}
