"""S3-compatible object storage (boto3): the ``storage`` capability.

Probe objects go to the target's bucket under keys that start with the run's prefix
(``sca-<run id>``): each is deleted at the end of the check that wrote it, and the
sweep of a killed run finds them by that prefix.
Besides reads and writes as the tenant (or with credentials a platform handed out,
``with_credentials``), the adapter can try the same object
anonymously (a plain unsigned HTTP request) and with the second tenant's
credentials (``other_tenant``), so that checks can observe isolation.
Clients are built on first use, never in ``__init__``; requests are
signed with Signature V4.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from pytest_sca.adapters.base import Adapter, AdapterContext, Facade, Finding
from pytest_sca.adapters.config import S3Config
from pytest_sca.capabilities import Attempt, StorageCredentials, TargetError, Unsupported
from pytest_sca.cleanup import UndoAction


def run_prefix(run_id: str) -> str:
    """The key prefix of every object a run writes (``sca-<run id>``)."""
    return f"sca-{run_id}".lower()


def of_run(key: str, run_id: str) -> bool:
    """Whether ``key`` is a run's: its prefix, then a separator (never another run's id that
    merely starts the same way)."""
    prefix = run_prefix(run_id)
    return key.startswith(prefix) and key[len(prefix):][:1] in ("", "-", "/", ".", "_")


class S3Adapter(Adapter):
    """Object storage as the tenant (and, for isolation checks, as a second tenant)."""

    transport: ClassVar[str] = "s3"
    config_model: ClassVar[type[S3Config]] = S3Config
    sweeps: ClassVar[frozenset[str]] = frozenset({"s3:objects"})

    def __init__(self, config: S3Config, context: AdapterContext) -> None:
        super().__init__(config, context)
        self.config: S3Config = config
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        #: Adapters for credentials a platform handed out (:meth:`with_credentials`).
        self._derived: list[S3Adapter] = []
        #: key of an object the run wrote → the undo that deletes it
        self.undo: dict[str, UndoAction] = {}
        secrets = [config.secret_key] + (
            [config.other_tenant.secret_key] if config.other_tenant else [])
        context.redact.add(secrets)

    # --- clients -------------------------------------------------------------------------------

    def client(self, who: str = "tenant") -> Any:
        """The boto3 client of the tenant (``who="other"``: of the second tenant)."""
        with self._lock:
            if who not in self._clients:
                import boto3
                from botocore.config import Config

                if who == "tenant":
                    access, secret = self.config.access_key, self.config.secret_key
                else:
                    other = self.config.other_tenant
                    assert other is not None
                    access, secret = other.access_key, other.secret_key
                self._clients[who] = boto3.client(
                    "s3", endpoint_url=self.config.endpoint, region_name=self.config.region,
                    aws_access_key_id=access, aws_secret_access_key=secret,
                    verify=self.config.verify,
                    config=Config(signature_version="s3v4",
                                  connect_timeout=min(10.0, self.config.timeout),
                                  read_timeout=self.config.timeout,
                                  retries={"max_attempts": 2},
                                  s3={"addressing_style": self.config.addressing_style}))
            return self._clients[who]

    @property
    def bucket(self) -> str:
        """The bucket the run may write probe objects to."""
        if not self.config.bucket:
            raise TargetError("adapters.s3.bucket is not set: name a bucket the run may write to")
        return self.config.bucket

    @property
    def has_other_tenant(self) -> bool:
        """Whether the target file gives a second tenant's credentials."""
        return self.config.other_tenant is not None

    def attempt(self, call: Any) -> Attempt:
        """Run one S3 call: its status and error code (4xx), or TargetError (5xx, transport)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = call()
        except ClientError as exc:
            meta = exc.response.get("ResponseMetadata", {})
            status = int(meta.get("HTTPStatusCode") or 0)
            if status >= 500 or status == 0:
                raise TargetError(f"s3: {exc}") from None
            return Attempt(status, str(exc.response.get("Error", {}).get("Code", "")))
        except BotoCoreError as exc:
            raise TargetError(f"s3 {self.config.endpoint}: {exc}") from None
        body = answer.get("Body")
        return Attempt(int(answer["ResponseMetadata"]["HTTPStatusCode"]), "",
                       body.read() if body is not None else None)

    def probe(self, timeout: float) -> list[Finding]:
        """Doctor: the credentials list the bucket (one key; nothing is written), and the
        second tenant's theirs."""
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        config = self.config
        tenants = [("credentials", config.access_key, config.secret_key, config.bucket)]
        if config.other_tenant is not None:
            other = config.other_tenant
            tenants.append(("other tenant", other.access_key, other.secret_key, other.bucket))
        findings: list[Finding] = []
        for check, access, secret, bucket in tenants:
            s3 = boto3.client(
                "s3", endpoint_url=config.endpoint, region_name=config.region,
                aws_access_key_id=access, aws_secret_access_key=secret, verify=config.verify,
                config=Config(signature_version="s3v4", connect_timeout=timeout,
                              read_timeout=timeout, retries={"max_attempts": 1},
                              s3={"addressing_style": config.addressing_style}))
            try:
                if bucket:
                    s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
                    findings.append(Finding(check, "ok", f"lists bucket {bucket}"))
                else:
                    count = len(s3.list_buckets().get("Buckets", []))
                    findings.append(Finding(check, "warn", f"{count} bucket(s) visible, no "
                                            "`bucket` set: checks that write objects will "
                                            "end in error"))
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "?")
                findings.append(Finding(check, "fail" if check == "credentials" else "warn",
                                        f"bucket {bucket or '(list)'}: "
                                        f"refused ({code})"))
            except BotoCoreError as exc:
                findings.append(Finding(check, "fail" if check == "credentials" else "warn",
                                        f"{config.endpoint}: {exc}"))
            finally:
                s3.close()
        return findings

    def with_credentials(self, credentials: StorageCredentials) -> S3Adapter:
        """An adapter of the same run for other credentials (endpoint and bucket default to
        this one's); closed with this one."""
        if not credentials.get("access_key") or not credentials.get("secret_key"):
            raise TargetError("the storage credentials the platform handed out carry no key")
        config = self.config.model_copy(update={
            "endpoint": credentials.get("endpoint") or self.config.endpoint,
            "bucket": credentials.get("bucket") or self.config.bucket,
            "access_key": credentials["access_key"], "secret_key": credentials["secret_key"],
            "other_tenant": None})
        derived = S3Adapter(config, self.context)
        with self._lock:
            self._derived.append(derived)
        return derived

    def sweep(self, run_id: str) -> list[str]:
        """Delete every object of the bucket under the run's prefix."""
        from botocore.exceptions import BotoCoreError, ClientError

        failures: list[str] = []
        try:
            pages = self.client().get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=run_prefix(run_id))
            keys = [item["Key"] for page in pages for item in page.get("Contents", [])
                    if of_run(item["Key"], run_id)]
        except (ClientError, BotoCoreError, TargetError) as exc:
            return [f"list objects: {exc}"]
        for key in keys:
            attempt = self.attempt(lambda key=key: self.client().delete_object(
                Bucket=self.bucket, Key=key))
            if not attempt.allowed and attempt.status != 404:
                failures.append(f"delete object {key}: {attempt.status} {attempt.code}")
        return failures

    def close(self) -> None:
        """Drop the clients (and those of the adapters derived from this one)."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            derived, self._derived = self._derived, []
        for adapter in derived:
            adapter.close()


class S3Storage(Facade[S3Adapter]):
    """:class:`~pytest_sca.capabilities.Storage` over S3."""

    @property
    def bucket(self) -> str:
        """The bucket the run may write probe objects to."""
        return self.subject.bucket

    @property
    def has_other_tenant(self) -> bool:
        """Whether the target file gives a second tenant's credentials."""
        return self.subject.has_other_tenant

    def put(self, key: str, data: bytes, sse: str | None = None) -> Attempt:
        """Write an object as the tenant (``sse``: ask for that server-side encryption); it is
        deleted at the end of the check. ``key`` must start with the run's prefix."""
        self._check_run_prefix(key)
        extra = {"ServerSideEncryption": sse} if sse else {}
        written = self.subject.attempt(lambda: self.subject.client().put_object(
            Bucket=self.subject.bucket, Key=key, Body=data, **extra))
        if written.allowed:
            self._undo_write(key)
        return written

    def _check_run_prefix(self, key: str) -> None:
        run_id = self.subject.context.run_id
        if not of_run(key, run_id):
            raise AssertionError(f"bug: probe object {key!r} does not start with the run's "
                                 f"prefix {run_prefix(run_id)!r} (use sca.name())")

    def _undo_write(self, key: str) -> None:
        if key not in self.subject.undo:
            self.subject.undo[key] = self.subject.context.created(
                "s3:objects", f"delete object {key}", lambda: self._delete(key))

    def head(self, key: str) -> dict[str, Any]:
        """The object's metadata as the tenant (``ServerSideEncryption`` among it)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return dict(self.subject.client().head_object(Bucket=self.subject.bucket, Key=key))
        except (ClientError, BotoCoreError) as exc:
            raise TargetError(f"s3: cannot read the metadata of {key}: {exc}") from None

    def get(self, key: str, as_other_tenant: bool = False) -> Attempt:
        """Read an object as the tenant, or with the second tenant's credentials."""
        client = self.subject.client("other" if as_other_tenant else "tenant")
        return self.subject.attempt(lambda: client.get_object(Bucket=self.subject.bucket,
                                                              Key=key))

    def list_keys(self, prefix: str, as_other_tenant: bool = False) -> Attempt:
        """List keys under ``prefix`` (the body holds the names, one a line)."""
        client = self.subject.client("other" if as_other_tenant else "tenant")
        return self.subject.attempt(lambda: client.list_objects_v2(Bucket=self.subject.bucket,
                                                                   Prefix=prefix))

    def delete(self, key: str) -> None:
        """Remove an object as the tenant."""
        self._delete(key)
        action = self.subject.undo.pop(key, None)
        if action is not None:
            action.cancel()

    def _delete(self, key: str) -> None:
        deleted = self.subject.attempt(lambda: self.subject.client().delete_object(
            Bucket=self.subject.bucket, Key=key))
        if not deleted.allowed and deleted.status != 404:
            raise TargetError(f"s3: delete of {key} answered {deleted.status} {deleted.code}")

    def object_url(self, key: str) -> str:
        """The object's path-style URL."""
        return f"{self.subject.config.endpoint.rstrip('/')}/{self.subject.bucket}/{quote(key)}"

    def anonymous_get(self, key: str) -> Attempt:
        """Read an object with a plain unsigned HTTP GET."""
        return self.fetch(self.object_url(key))

    def presigned_get(self, key: str, expires_s: int) -> str:
        """A presigned GET URL of the object that expires after ``expires_s`` seconds."""
        url: str = self.subject.client().generate_presigned_url(
            "get_object", Params={"Bucket": self.subject.bucket, "Key": key},
            ExpiresIn=expires_s)
        return url

    def presigned_put(self, key: str, expires_s: int) -> str:
        """A presigned PUT URL of ``key`` (deleted at the end of the check, whoever writes it
        through the URL). ``key`` must start with the run's prefix."""
        self._check_run_prefix(key)
        url: str = self.subject.client().generate_presigned_url(
            "put_object", Params={"Bucket": self.subject.bucket, "Key": key},
            ExpiresIn=expires_s)
        self._undo_write(key)
        return url

    def with_credentials(self, credentials: StorageCredentials) -> S3Storage:
        """The storage as the holder of ``credentials`` (a tenant's, handed out by the
        platform): its writes are undone at the end of the check, its keys masked."""
        return S3Storage(self.subject.with_credentials(credentials))

    def fetch(self, url: str) -> Attempt:
        """GET a URL without credentials (anonymous or presigned)."""
        try:
            answer = requests.get(url, verify=self.subject.config.verify,
                                  timeout=self.subject.config.timeout)
        except requests.RequestException as exc:
            raise TargetError(f"s3 {self.subject.config.endpoint}: {type(exc).__name__}"
                              ) from None
        if answer.status_code >= 500:
            raise TargetError(f"s3: GET of an object URL answered {answer.status_code}")
        return Attempt(answer.status_code, "", answer.content if answer.ok else None)

    # --- bucket settings -----------------------------------------------------------------------

    def bucket_policy(self) -> str | None:
        """The bucket policy text, or None when the bucket has none."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.subject.client().get_bucket_policy(Bucket=self.subject.bucket)
            return str(answer["Policy"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchBucketPolicy":
                return None
            raise TargetError(f"s3: cannot read the bucket policy: {exc}") from None
        except BotoCoreError as exc:
            raise TargetError(f"s3: cannot read the bucket policy: {exc}") from None

    def default_encryption(self) -> str | None:
        """The bucket's default SSE algorithm (GetBucketEncryption), None when it has none;
        :class:`Unsupported` when the S3 does not implement it or refuses the tenant it."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.subject.client().get_bucket_encryption(Bucket=self.subject.bucket)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "ServerSideEncryptionConfigurationNotFoundError":
                return None
            if code in ("NotImplemented", "MethodNotAllowed") or status in (405, 501):
                raise Unsupported(f"s3 does not implement GetBucketEncryption ({code or status})"
                                  ) from None
            if code == "AccessDenied" or status == 403:
                raise Unsupported("s3 refuses the tenant GetBucketEncryption (AccessDenied): "
                                  "its key may not read the bucket's encryption settings"
                                  ) from None
            raise TargetError(f"s3: cannot read the bucket's default encryption: {exc}"
                              ) from None
        except BotoCoreError as exc:
            raise TargetError(f"s3: cannot read the bucket's default encryption: {exc}"
                              ) from None
        rules = (answer.get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
        for rule in rules:
            algorithm = (rule.get("ApplyServerSideEncryptionByDefault") or {}).get(
                "SSEAlgorithm")
            if algorithm:
                return str(algorithm)
        return None

    def public_grants(self) -> list[str]:
        """ACL grants of the bucket to everyone or to every authenticated AWS user."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            acl = self.subject.client().get_bucket_acl(Bucket=self.subject.bucket)
            grants = acl.get("Grants", [])
        except (ClientError, BotoCoreError) as exc:
            raise TargetError(f"s3: cannot read the bucket ACL: {exc}") from None
        return [f"{g['Grantee'].get('URI', '').rsplit('/', 1)[-1]}:{g.get('Permission')}"
                for g in grants
                if g.get("Grantee", {}).get("URI", "").endswith(("AllUsers",
                                                                  "AuthenticatedUsers"))]


#: The S3 adapter's capability (set here: its implementation needs the class).
S3Adapter.implementations = {"storage": S3Storage}
