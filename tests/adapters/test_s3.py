"""The S3 adapter against moto's S3 server behind the sandbox's S3 gateway (SigV4, TLS)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import S3Config, S3Credentials
from pytest_sca.adapters.s3 import S3Adapter, S3Storage
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
def s3(moto: ObjectStorage, tmp_path: Path) -> Iterator[Callable[..., S3Storage]]:
    """Tenant A's storage (other tenant B) over a gateway started with the given faults."""
    started: list[tuple[S3Gateway, S3Adapter]] = []
    files = ensure_tls_material(tmp_path)

    def start(*faults: str) -> S3Storage:
        gateway = S3Gateway(moto.endpoint, KEYS.get, lambda: {b for _, b in KEYS.values()},
                            moto.client, frozenset(faults), server_ssl_context(files, frozenset()),
                            backend_key=moto.backend_key)
        gateway.start()
        (a_key, (a_secret, a_bucket)), (b_key, (b_secret, b_bucket)) = KEYS.items()
        adapter = S3Adapter(S3Config(
            endpoint=gateway.url, access_key=a_key, secret_key=a_secret, bucket=a_bucket,
            verify=str(files.ca),
            other_tenant=S3Credentials(access_key=b_key, secret_key=b_secret, bucket=b_bucket)),
            AdapterContext("t", None, "run"))
        started.append((gateway, adapter))
        return S3Storage(adapter)

    try:
        yield start
    finally:
        for gateway, adapter in started:
            adapter.context.ledger.sweep()
            adapter.close()
            gateway.stop()


@pytest.mark.slow
def test_objects_round_trip_encrypted_and_isolated(s3: Callable[..., S3Storage]) -> None:
    adapter = s3()
    assert adapter.put("sca-run/a b.txt", b"hello").allowed
    assert adapter.get("sca-run/a b.txt").body == b"hello"
    assert adapter.head("sca-run/a b.txt")["ServerSideEncryption"] == "AES256"
    assert adapter.put("sca-run/sse", b"x", sse="AES256").allowed
    assert adapter.anonymous_get("sca-run/a b.txt").status == 403
    assert adapter.get("sca-run/a b.txt", as_other_tenant=True).status == 403
    assert adapter.list_keys("sca-run/", as_other_tenant=True).status == 403
    assert adapter.bucket_policy() is None and adapter.public_grants() == []
    # 2 s, not 1: the signature's date has one-second resolution, so a URL signed late in a
    # second may have lived under a second when a loaded machine fetches it.
    url = adapter.presigned_get("sca-run/a b.txt", 2)
    assert adapter.fetch(url).body == b"hello"
    deadline = time.monotonic() + 7
    while adapter.fetch(url).allowed and time.monotonic() < deadline:
        time.sleep(0.2)
    assert adapter.fetch(url).status == 403
    adapter.delete("sca-run/a b.txt")
    assert adapter.get("sca-run/a b.txt").code == "NoSuchKey"


def test_wrong_secret_is_refused(s3: Callable[..., S3Storage]) -> None:
    good = s3()
    bad = S3Adapter(good.subject.config.model_copy(
        update={"secret_key": "not-the-secret-0123456789"}), AdapterContext("t", None, "run"))
    try:
        attempt = S3Storage(bad).put("sca-run/forged", b"x")
    finally:
        bad.close()
    assert (attempt.status, attempt.code) == (403, "SignatureDoesNotMatch")


def test_faults_make_the_bucket_public_and_unencrypted(moto: ObjectStorage,
                                                       s3: Callable[..., S3Storage]) -> None:
    client = moto.client()
    for _, bucket in KEYS.values():  # the module's buckets may carry the healthy defaults
        client.delete_bucket_encryption(Bucket=bucket)
    adapter = s3("public_bucket", "sse_disabled")
    assert adapter.put("sca-run/open", b"open").allowed
    assert adapter.head("sca-run/open").get("ServerSideEncryption") is None
    assert adapter.anonymous_get("sca-run/open").body == b"open"
    assert adapter.get("sca-run/open", as_other_tenant=True).allowed
    assert '"Principal": "*"' in (adapter.bucket_policy() or "")
    client.delete_bucket_policy(Bucket=adapter.bucket)


def test_written_objects_are_undone_and_swept(s3: Callable[..., S3Storage]) -> None:
    storage = s3()
    ledger = storage.subject.context.ledger
    assert storage.put("sca-run/kept", b"1").allowed
    assert storage.put("sca-run/deleted", b"2").allowed
    storage.delete("sca-run/deleted")
    assert [a.description for a in ledger.pending] == ["delete object sca-run/kept"]
    assert ledger.sweep() == []
    assert storage.get("sca-run/kept").code == "NoSuchKey"
    with pytest.raises(AssertionError, match="run's prefix"):
        storage.put("someone-elses/object", b"x")
    # A killed run's objects are found again by the run's prefix, nothing else.
    client = storage.subject.client()
    for key in ("sca-run/left-1", "sca-run-left-2", "sca-runner/kept", "sca-other/kept"):
        client.put_object(Bucket=storage.bucket, Key=key, Body=b"x")
    assert storage.subject.sweep("run") == []
    assert storage.get("sca-run/left-1").code == "NoSuchKey"
    assert storage.get("sca-run-left-2").code == "NoSuchKey"
    assert storage.get("sca-other/kept").allowed and storage.get("sca-runner/kept").allowed
    for key in ("sca-runner/kept", "sca-other/kept"):
        client.delete_object(Bucket=storage.bucket, Key=key)


def test_the_object_store_is_reached_through_the_gateway_only(moto: ObjectStorage) -> None:
    import boto3
    from botocore.exceptions import ClientError

    direct = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1",
                          aws_access_key_id="AKIAAAAAAAAAAAAAAAAA",
                          aws_secret_access_key="anything")
    with pytest.raises(ClientError) as refused:
        direct.list_objects_v2(Bucket="sca-tenant-a")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert moto.client().list_objects_v2(Bucket="sca-tenant-a")["ResponseMetadata"][
        "HTTPStatusCode"] == 200  # the store's own client carries the gateway's key


def test_copies_and_listings_stay_inside_the_tenant(s3: Callable[..., S3Storage]) -> None:
    from botocore.exceptions import ClientError

    storage = s3()
    tenant_b = storage.subject.client("other")
    tenant_b.put_object(Bucket="sca-tenant-b", Key="secret", Body=b"b's data")
    try:
        client = storage.subject.client()
        with pytest.raises(ClientError) as refused:
            client.copy_object(Bucket="sca-tenant-a", Key="sca-run/stolen",
                               CopySource={"Bucket": "sca-tenant-b", "Key": "secret"})
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        client.put_object(Bucket="sca-tenant-a", Key="sca-run/mine", Body=b"a")
        client.copy_object(Bucket="sca-tenant-a", Key="sca-run/copy",
                           CopySource={"Bucket": "sca-tenant-a", "Key": "sca-run/mine"})
        assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["sca-tenant-a"]
        assert [b["Name"] for b in tenant_b.list_buckets()["Buckets"]] == ["sca-tenant-b"]
        for key in ("sca-run/mine", "sca-run/copy"):
            client.delete_object(Bucket="sca-tenant-a", Key=key)
    finally:
        tenant_b.delete_object(Bucket="sca-tenant-b", Key="secret")


def test_storage_with_handed_out_credentials_writes_and_undoes(
        s3: Callable[..., S3Storage]) -> None:
    """``with_credentials``: tenant B's bucket with B's keys; its writes, and objects written
    through its presigned PUT URLs, are undone by the run's ledger."""
    import requests

    storage = s3()
    (b_key, (b_secret, b_bucket)) = list(KEYS.items())[1]
    other = storage.with_credentials({"access_key": b_key, "secret_key": b_secret,
                                      "bucket": b_bucket})
    assert other.bucket == b_bucket and not other.has_other_tenant
    assert other.put("sca-run/b-object", b"b").allowed
    assert storage.get("sca-run/b-object").code == "NoSuchKey"  # not in A's bucket
    url = other.presigned_put("sca-run/b-upload", 60)
    answer = requests.put(url, data=b"uploaded", verify=storage.subject.config.verify,
                          timeout=30)
    assert answer.status_code == 200
    assert other.get("sca-run/b-upload").body == b"uploaded"
    with pytest.raises(AssertionError, match="run's prefix"):
        other.presigned_put("someone-elses/object", 60)
    ledger = storage.subject.context.ledger
    assert ledger.sweep() == []
    assert other.get("sca-run/b-object").code == "NoSuchKey"
    assert other.get("sca-run/b-upload").code == "NoSuchKey"
