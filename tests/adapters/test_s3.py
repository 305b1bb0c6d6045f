"""The S3 adapter against moto's S3 server behind the sandbox's S3 gateway (SigV4, TLS)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import S3Config, S3Credentials
from pytest_sca.adapters.s3 import S3Adapter
from pytest_sca.sandbox.s3 import ObjectStorage
from pytest_sca.sandbox.s3_gateway import S3Gateway
from pytest_sca.sandbox.security import ensure_tls_material, server_ssl_context

KEYS = {"AKIAAAAAAAAAAAAAAAAA": ("secret-of-tenant-a-0123456789", "sca-tenant-a"),
        "AKIABBBBBBBBBBBBBBBB": ("secret-of-tenant-b-0123456789", "sca-tenant-b")}


@pytest.fixture(scope="module")
def moto() -> Iterator[ObjectStorage]:
    storage = ObjectStorage()
    storage.start()
    for _, bucket in KEYS.values():
        storage.ensure_bucket(bucket)
    try:
        yield storage
    finally:
        storage.stop()


@pytest.fixture
def s3(moto: ObjectStorage, tmp_path: Path) -> Iterator[Callable[..., S3Adapter]]:
    """An adapter of tenant A (other tenant B) over a gateway started with the given faults."""
    started: list[tuple[S3Gateway, S3Adapter]] = []
    files = ensure_tls_material(tmp_path)

    def start(*faults: str) -> S3Adapter:
        gateway = S3Gateway(moto.endpoint, KEYS.get, lambda: {b for _, b in KEYS.values()},
                            moto._s3, frozenset(faults), server_ssl_context(files, frozenset()))
        gateway.start()
        (a_key, (a_secret, a_bucket)), (b_key, (b_secret, b_bucket)) = KEYS.items()
        adapter = S3Adapter(S3Config(
            endpoint=gateway.url, access_key=a_key, secret_key=a_secret, bucket=a_bucket,
            verify=str(files.ca),
            other_tenant=S3Credentials(access_key=b_key, secret_key=b_secret, bucket=b_bucket)),
            AdapterContext("t", None, "run"))
        started.append((gateway, adapter))
        return adapter

    try:
        yield start
    finally:
        for gateway, adapter in started:
            adapter.close()
            gateway.stop()


def test_objects_round_trip_encrypted_and_isolated(s3: Callable[..., S3Adapter]) -> None:
    adapter = s3()
    assert adapter.put("probe/a b.txt", b"hello").allowed
    assert adapter.get("probe/a b.txt").body == b"hello"
    assert adapter.head("probe/a b.txt")["ServerSideEncryption"] == "AES256"
    assert adapter.put("probe/sse", b"x", sse="AES256").allowed
    assert adapter.anonymous_get("probe/a b.txt").status == 403
    assert adapter.get("probe/a b.txt", as_other_tenant=True).status == 403
    assert adapter.list_keys("probe/", as_other_tenant=True).status == 403
    assert adapter.bucket_policy() is None and adapter.public_grants() == []
    url = adapter.presigned_get("probe/a b.txt", 1)
    assert adapter.fetch(url).body == b"hello"
    deadline = time.monotonic() + 5
    while adapter.fetch(url).allowed and time.monotonic() < deadline:
        time.sleep(0.2)
    assert adapter.fetch(url).status == 403
    adapter.delete("probe/a b.txt")
    assert adapter.get("probe/a b.txt").code == "NoSuchKey"


def test_wrong_secret_is_refused(s3: Callable[..., S3Adapter]) -> None:
    good = s3()
    bad = S3Adapter(good.config.model_copy(update={"secret_key": "not-the-secret-0123456789"}),
                    AdapterContext("t", None, "run"))
    try:
        attempt = bad.put("probe/forged", b"x")
    finally:
        bad.close()
    assert (attempt.status, attempt.code) == (403, "SignatureDoesNotMatch")


def test_faults_make_the_bucket_public_and_unencrypted(moto: ObjectStorage,
                                                       s3: Callable[..., S3Adapter]) -> None:
    client = moto._s3()
    for _, bucket in KEYS.values():  # the module's buckets may carry the healthy defaults
        client.delete_bucket_encryption(Bucket=bucket)
    adapter = s3("public_bucket", "sse_disabled")
    assert adapter.put("probe/open", b"open").allowed
    assert adapter.head("probe/open").get("ServerSideEncryption") is None
    assert adapter.anonymous_get("probe/open").body == b"open"
    assert adapter.get("probe/open", as_other_tenant=True).allowed
    assert '"Principal": "*"' in (adapter.bucket_policy() or "")
    client.delete_bucket_policy(Bucket=adapter.bucket)
