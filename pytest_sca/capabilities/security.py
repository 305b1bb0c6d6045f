"""Data and host security: capabilities ``security`` (data protection, console MFA),
``storage`` (S3-compatible object storage) and ``nodes`` (hosts reached over SSH)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypedDict, runtime_checkable

from .common import ActsAs, Labels
from .tenancy import StorageCredentials


class Classification(TypedDict, total=False):
    """How the platform classified a dataset's sensitivity."""

    sensitive: bool
    level: str
    categories: list[str]


class Dataset(TypedDict, total=False):
    """An ingested dataset and its classification."""

    id: str
    name: str
    tenant_id: str
    classification: Classification
    labels: dict[str, str]


class ConsoleSession(TypedDict, total=False):
    """A console session the platform opened."""

    session: str
    user_id: str
    mfa: bool
    expires_at: str


@dataclass(frozen=True)
class Attempt:
    """The outcome of one object-storage request: HTTP status, S3 error code ('' on
    success), the body if one was read."""

    status: int
    code: str = ""
    body: bytes | None = None

    @property
    def allowed(self) -> bool:
        """Whether the request succeeded."""
        return 200 <= self.status < 300


class CommandResult(NamedTuple):
    """What a command run on a node did."""

    exit_status: int
    stdout: str
    stderr: str


@runtime_checkable
class Security(ActsAs, Protocol):
    """Data protection (ingest, classify, mask) and the console's MFA policy."""

    def ingest(self, name: str, content: str, labels: Labels | None = None) -> Dataset:
        """Ingest a text dataset (removed at the end of the check)."""
        ...

    def dataset(self, dataset_id: str) -> Dataset:
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
        """Require (or not) a second factor for console logins; the new setting. A policy the
        check changed is restored at the end of the check."""
        ...

    def console_login(self, otp: str | None = None) -> ConsoleSession:
        """Open a console session as the caller; :class:`Refused` when refused."""
        ...


@runtime_checkable
class Storage(Protocol):
    """Object storage as a tenant, and the attempts another principal would make."""

    @property
    def bucket(self) -> str:
        """The bucket the run may write probe objects to."""
        ...

    @property
    def has_other_tenant(self) -> bool:
        """Whether the target gives a second tenant's credentials."""
        ...

    def put(self, key: str, data: bytes, sse: str | None = None) -> Attempt:
        """Write an object as the tenant (removed at the end of the check); ``sse`` asks for
        that server-side encryption."""
        ...

    def head(self, key: str) -> dict[str, Any]:
        """The object's metadata as the tenant (``ServerSideEncryption`` among it)."""
        ...

    def get(self, key: str, as_other_tenant: bool = False) -> Attempt:
        """Read an object as the tenant, or with the second tenant's credentials."""
        ...

    def list_keys(self, prefix: str, as_other_tenant: bool = False) -> Attempt:
        """List keys under ``prefix``."""
        ...

    def delete(self, key: str) -> None:
        """Remove an object as the tenant."""
        ...

    def object_url(self, key: str) -> str:
        """The object's path-style URL."""
        ...

    def anonymous_get(self, key: str) -> Attempt:
        """Read an object with a plain unsigned HTTP GET."""
        ...

    def presigned_get(self, key: str, expires_s: int) -> str:
        """A presigned GET URL of the object that expires after ``expires_s`` seconds."""
        ...

    def fetch(self, url: str) -> Attempt:
        """GET a URL without credentials (anonymous or presigned)."""
        ...

    def bucket_policy(self) -> str | None:
        """The bucket policy text, or None when the bucket has none."""
        ...

    def default_encryption(self) -> str | None:
        """The bucket's default server-side encryption algorithm (S3 GetBucketEncryption:
        ``AES256``, ``aws:kms``…), or None when the bucket has none; :class:`Unsupported`
        when the object storage does not implement it or refuses the tenant it."""
        ...

    def public_grants(self) -> list[str]:
        """ACL grants of the bucket to everyone or to every authenticated user."""
        ...

    def with_credentials(self, credentials: StorageCredentials) -> Storage:
        """The object storage as the holder of ``credentials`` (the endpoint, bucket and keys a
        platform hands a tenant, :meth:`Tenancy.storage_credentials`): what it writes is
        removed at the end of the check like the tenant's own writes, its keys masked."""
        ...

    def presigned_put(self, key: str, expires_s: int) -> str:
        """A presigned PUT URL of ``key`` that expires after ``expires_s`` seconds (a job
        writes through it without any key); the object is removed at the end of the check."""
        ...


@runtime_checkable
class Nodes(Protocol):
    """Hosts reached over SSH: commands, files, the SSH server's settings."""

    def nodes(self) -> list[str]:
        """Names of the nodes the target lists, in its order."""
        ...

    def run(self, node: str, command: str, timeout: float | None = None,
            stdin: bytes | None = None) -> CommandResult:
        """Run a shell command line on ``node``, bounded by ``timeout`` seconds."""
        ...

    def read_file(self, node: str, path: str) -> str:
        """The text of ``path`` on ``node``; FileNotFoundError if it is not there."""
        ...

    def sshd_settings(self, node: str) -> dict[str, str]:
        """The node's effective sshd settings, keys lower-case."""
        ...

    def auth_methods(self, node: str, user: str = "root") -> list[str]:
        """Authentication methods the node's SSH server offers to ``user``."""
        ...

    def world_writable(self, node: str, paths: list[str] | None = None,
                       max_depth: int = 3) -> list[str]:
        """Files and directories under the system ``paths`` that every user may write."""
        ...
