"""10.1 数据安全 Data security: encryption, tenant data access control, data protection.

The synthetic personal data these checks ingest never leaves the check: evidence
and messages carry counts and categories, never values.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from pytest_sca.capabilities import (
    Attempt,
    Audit,
    AuditRecord,
    Files,
    Refused,
    Security,
    Storage,
    TargetError,
    Unsupported,
    WaitTimeout,
    classify,
    wait_for,
)
from pytest_sca.fixtures import CheckContext
from pytest_sca.probes.personal_data import probe_document, synthetic_people
from pytest_sca.probes.tls import probe_endpoint

from ..conftest import MakeProbeUser
from ..library import READ_DENIED, CallWindow, refusal_of

PEOPLE = 5


@pytest.mark.clause("10.1.c")
@pytest.mark.mutating
def test_sensitive_data_is_identified_masked_and_audited(
        sca: CheckContext, security: Security, audit: Audit, probe_tenant: MakeProbeUser
) -> None:
    """Ingest a file of synthetic phone, ID-card and bank-card numbers: the platform flags it
    sensitive, its masked view keeps every record but shows none of the values, and the
    read is in the audit log under the reader, at a time inside the read's window."""
    people = synthetic_people(PEOPLE)
    user = probe_tenant("dlp")
    data = security.acting_as(user.user["api_key"])
    dataset = data.ingest(sca.name("dlp-probe"), probe_document(people), labels=sca.labels)
    stored = data.dataset(dataset["id"])
    classification = stored.get("classification") or dataset.get("classification") or {}
    sca.evidence("classification", classification)
    assert classification.get("sensitive") is True, (
        f"[10.1.c] a file of {PEOPLE} phone, ID-card and bank-card numbers was not classified "
        f"sensitive: {classification}")

    window = CallWindow()
    masked = data.read(dataset["id"], view="masked")
    window.close()
    values = [v for person in people for v in person.values()]
    shown = sum(1 for value in values if value in masked)
    records = sum(1 for index in range(PEOPLE) if f"probe-person-{index}" in masked)
    sca.evidence("masked view", {"values": len(values), "in clear": shown,
                                 "records kept": records, "length": len(masked)})
    assert shown == 0, (f"[10.1.c] the masked view shows {shown} of {len(values)} personal "
                        "values in clear")
    assert records == PEOPLE, (f"[10.1.c] the masked view keeps {records} of {PEOPLE} records: "
                               "masking hides the values, not the data")

    actor = user.user["id"]
    delay = sca.settings.audit.max_delay_s

    def reads() -> list[AuditRecord]:
        return [e for e in audit.records(actor=actor)
                if dataset["id"] in str(e.get("resource")) and "read" in str(e.get("action"))
                and e.get("actor") == actor]

    try:
        found = wait_for(reads, bool, delay, lambda _: "no audit entry of the read")
    except WaitTimeout as timeout:
        found = timeout.last or []
    sca.evidence("audit entries of the read", found)
    assert found, (f"[10.1.c] the read of sensitive dataset {dataset['id']} by {actor} is not "
                   f"in the audit log after {delay:.0f} s")
    assert any(window.holds(e.get("time")) for e in found), (
        f"[10.1.c] no audit entry of the read of dataset {dataset['id']} has a time inside the "
        f"read's window ({window.started:%H:%M:%S}–{window.finished:%H:%M:%S} UTC): "
        f"{[e.get('time') for e in found]}")


#: Transports whose endpoint is an HTTP(S) URL, with the config field that holds it.
URL_FIELDS = {"platform": "url", "openai": "base_url", "comfyui": "url", "registry": "url",
              "prometheus": "url", "s3": "endpoint"}
#: Transports browsers reach: these must also send HSTS.
WEB_TRANSPORTS = {"platform", "comfyui"}
#: Server-side encryption an S3 API may report for an object; anything else is not one.
SSE_ALGORITHMS = {"AES256", "aws:kms", "aws:kms:dsse", "SM4"}


@pytest.mark.clause("10.1.a")
def test_every_endpoint_uses_tls_1_2_or_later(sca: CheckContext) -> None:
    """Each HTTP endpoint of the target file: HTTPS with TLS ≥ 1.2 only (1.0/1.1 handshakes
    refused), a certificate valid for the host, no plain-HTTP answer, HSTS on web endpoints.
    An endpoint that cannot be reached shows nothing: that is an error, never a fail."""
    endpoints: dict[str, tuple[str, bool | str]] = {
        name: (str(getattr(config, field)), getattr(config, "verify", True))
        for name, config in sca.target.adapters.items()
        if (field := URL_FIELDS.get(name)) and getattr(config, field, None)}
    if not endpoints:
        sca.not_assessed("the target file names no HTTP endpoint: configure adapters.platform")
    problems: dict[str, list[str]] = {}
    unreachable: dict[str, str] = {}
    for name, (url, verify) in endpoints.items():
        report = probe_endpoint(url, verify)
        sca.evidence(f"transport security of {name}", {
            "url": url, "versions": report.versions, "certificate": report.certificate_problem
            or "valid", "plain http": report.plain_http, "hsts": report.hsts,
            "unreachable": report.unreachable})
        if report.unreachable:
            unreachable[name] = report.unreachable
            continue
        found = [p for p in report.problems()
                 if name in WEB_TRANSPORTS or not p.startswith("no Strict-Transport")]
        if found:
            problems[name] = found
    # Problems seen at one endpoint are a fail even when another could not be reached.
    assert not problems, "[10.1.a] transport not secure: " + "; ".join(
        f"{name} {endpoints[name][0]}: {', '.join(found)}" for name, found in problems.items())
    if unreachable:
        raise TargetError("[10.1.a] could not probe " + "; ".join(
            f"{name} {endpoints[name][0]}: {why}" for name, why in unreachable.items()))


@pytest.mark.clause("10.1.a")
@pytest.mark.mutating
@pytest.mark.parametrize("requested", [None, "AES256"], ids=["sse-default", "sse-requested"])
def test_objects_are_encrypted_at_rest(sca: CheckContext, storage: Storage,
                                       requested: str | None) -> None:
    """An object written without asking is stored with server-side encryption (the bucket's
    default), and what HEAD reports agrees with the bucket's default-encryption configuration
    (GetBucketEncryption; where the object storage does not implement it or refuses it, HEAD
    alone decides, said in the evidence); an explicit SSE-S3 request is honoured and
    reported."""
    key = sca.name("sse-asked" if requested else "sse-default")
    written = storage.put(key, b"sca encryption probe", sse=requested)
    if not written.allowed:
        raise TargetError(f"[10.1.a] the probe object could not be written ({written})")
    reported = storage.head(key).get("ServerSideEncryption")
    if requested is not None:
        sca.evidence("server-side encryption", {"asked": requested, "reported": reported})
        assert reported == requested, (
            f"[10.1.a] an SSE-S3 request was not honoured (reported {reported!r})")
        return
    try:
        default, unread = storage.default_encryption(), None
    except Unsupported as why:
        default, unread = None, str(why)
    sca.evidence("server-side encryption", {
        "asked": None, "reported by HEAD": reported,
        "bucket default (GetBucketEncryption)": default if unread is None
        else f"not read, HEAD alone decides: {unread}"})
    assert reported in SSE_ALGORITHMS, (
        f"[10.1.a] an object written without an SSE header is stored unencrypted (no "
        f"default encryption reported: {reported!r}"
        + (f"; the bucket's default encryption is {default}" if default else "") + ")")
    if unread is None:
        # Two statements of the same platform about the same object: where they differ, at
        # least one is false, and an encryption report that cannot be trusted is no evidence
        # of encryption at rest.
        assert default == reported, (
            f"[10.1.a] HEAD reports an object written without an SSE header as {reported}, "
            f"but the bucket's default encryption is "
            f"{default or 'none (GetBucketEncryption: no configuration)'}: the two contradict "
            "each other")


#: How long a presigned URL of the probe lives, and how long past that it may still work.
PRESIGN_S = 2
PRESIGN_GRACE_S = 5.0


def _exposure(attempt: Attempt, what: str) -> str | None:
    """None when the attempt was refused for access (401/403, or 404 hiding the object);
    else what it exposed, or the other reason it was refused for (not a denial of access)."""
    if attempt.allowed:
        return what
    if attempt.status >= 500 or attempt.status == 0:
        raise TargetError(f"{what} answered {attempt.status} {attempt.code}: the target could "
                          "not answer, nothing was learnt about access")
    reason = classify(attempt.status, attempt.code or None)
    if reason in READ_DENIED:
        return None
    return f"{what} refused for another reason ({attempt.status} {attempt.code or reason})"


def _anonymous_read(storage: Storage, key: str) -> str | None:
    return _exposure(storage.anonymous_get(key), "anonymous read of the object")


def _other_tenant(storage: Storage) -> None:
    if not storage.has_other_tenant:
        raise Unsupported("the target file gives no second tenant's object-storage keys: set "
                          "adapters.s3.other_tenant to check reads across tenants")


def _other_tenant_read(storage: Storage, key: str) -> str | None:
    _other_tenant(storage)
    return _exposure(storage.get(key, as_other_tenant=True), "read by another tenant's key")


def _other_tenant_list(storage: Storage, key: str) -> str | None:
    _other_tenant(storage)
    return _exposure(storage.list_keys(key, as_other_tenant=True),
                     "listing by another tenant's key")


def _public_policy(storage: Storage, key: str) -> str | None:
    policy = storage.bucket_policy()
    if not policy:
        return None
    try:
        statements = json.loads(policy).get("Statement") or []
    except (ValueError, AttributeError):
        raise TargetError(f"the bucket policy is not a JSON policy document: {policy[:200]}"
                          ) from None
    if isinstance(statements, dict):
        statements = [statements]
    public = [s for s in statements if s.get("Effect") == "Allow"
              and s.get("Principal") in ("*", {"AWS": "*"}, {"AWS": ["*"]})]
    return "a bucket policy granting everyone" if public else None


def _public_acl(storage: Storage, key: str) -> str | None:
    grants = storage.public_grants()
    return f"ACL grants {', '.join(grants)}" if grants else None


def _presigned_expiry(storage: Storage, key: str) -> str | None:
    url = storage.presigned_get(key, PRESIGN_S)
    fresh = storage.fetch(url)
    if not fresh.allowed:
        raise TargetError(f"a fresh presigned URL of the probe object was refused "
                          f"({fresh.status}): its expiry cannot be observed")
    try:
        late = wait_for(lambda: storage.fetch(url), lambda answer: not answer.allowed,
                        PRESIGN_S + PRESIGN_GRACE_S, lambda answer: f"status {answer.status}",
                        first=0.5, longest=1.0)
    except WaitTimeout:
        return (f"a presigned URL still works {PRESIGN_S + PRESIGN_GRACE_S:.0f} s after it "
                f"was to expire in {PRESIGN_S} s")
    return _exposure(late, "a presigned URL after its expiry")


#: Each way another principal could read the probe object: one case each.
EXPOSURES: dict[str, Callable[[Storage, str], str | None]] = {
    "anonymous-read": _anonymous_read, "other-tenant-read": _other_tenant_read,
    "other-tenant-list": _other_tenant_list, "public-policy": _public_policy,
    "public-acl": _public_acl, "presigned-expiry": _presigned_expiry}


#: The probe object's content: the owner must read exactly this back.
ISOLATION_PROBE = b"sca isolation probe"


def owner_reads_back(storage: Storage, key: str, content: bytes, when: str) -> None:
    """Control: the owner reads the probe object back with its content, so that a refusal to
    another principal is about access, not about an object that is not there (else
    ``error``: nothing was learnt)."""
    read = storage.get(key)
    if not read.allowed or read.body != content:
        got = f"{len(read.body)} bytes" if read.body is not None else "no body"
        raise TargetError(f"[10.1.b] control failed {when}: the owner cannot read back the probe "
                          f"object {key} ({read.status} {read.code or ''}, {got})")


@pytest.mark.clause("10.1.b")
@pytest.mark.mutating
@pytest.mark.parametrize("way", list(EXPOSURES))
def test_tenant_objects_are_not_readable_by_others(sca: CheckContext, storage: Storage,
                                                   way: str) -> None:
    """The probe object, read back by its owner before and after (control), cannot be read
    anonymously or with another tenant's key (refused for access, not for another reason),
    the bucket has no public policy or ACL grant, and a presigned URL works fresh and stops
    working once expired."""
    key = sca.name(f"isolation-{way}")
    written = storage.put(key, ISOLATION_PROBE)
    if not written.allowed:
        raise TargetError(f"[10.1.b] the probe object could not be written ({written})")
    owner_reads_back(storage, key, ISOLATION_PROBE, "before the probe")
    leak = EXPOSURES[way](storage, key)
    sca.evidence("exposure of the probe object", {"way": way, "found": leak or "none"})
    assert leak is None, f"[10.1.b] tenant data is exposed: {leak}"
    owner_reads_back(storage, key, ISOLATION_PROBE, "after the probe")


# -- the files route: tenant data stored as files (a model service's /files) -------------


def _file_exposure(call: Callable[[], object], what: str) -> str | None:
    """None when ``call`` was refused for access (401/403, or 404 hiding the file); else what
    it exposed, or the other reason it was refused for. No answer or a 5xx propagates as
    ``error``: nothing was learnt about access."""
    refusal = refusal_of(call)
    return what if refusal is None else _not_for_access(refusal, what)


def _not_for_access(refusal: Refused, what: str) -> str | None:
    if refusal.reason in READ_DENIED:
        return None
    return f"{what} refused for another reason ({refusal.status} {refusal.code or refusal.reason})"


def _file_reads(files: Files, file_id: str, with_content: bool, who: str) -> str | None:
    found = _file_exposure(lambda: files.get(file_id), f"{who} read of the file's record")
    if found is None and with_content:
        found = _file_exposure(lambda: files.content(file_id), f"{who} read of its content")
    return found


def _file_anonymous_read(files: Files, file_id: str, with_content: bool) -> str | None:
    return _file_reads(files.acting_as(""), file_id, with_content, "an anonymous")


def _file_other_tenant_read(files: Files, file_id: str, with_content: bool) -> str | None:
    return _file_reads(files.as_other_tenant(), file_id, with_content, "another tenant's")


def _file_other_tenant_list(files: Files, file_id: str, with_content: bool) -> str | None:
    try:
        listed = {f.get("id") for f in files.as_other_tenant().list_files()}
    except Refused as refusal:
        return _not_for_access(refusal, "listing by another tenant's key")
    return "another tenant's file list shows the file" if file_id in listed else None


def _file_other_tenant_delete(files: Files, file_id: str, with_content: bool) -> str | None:
    found = _file_exposure(lambda: files.as_other_tenant().delete(file_id),
                           "deletion by another tenant's key")
    if found is None and refusal_of(lambda: files.get(file_id)) is not None:
        return "deletion by another tenant's key was refused, but the file is gone"
    return found


#: Each way another principal could reach the probe file: one case each.
FILE_EXPOSURES: dict[str, Callable[[Files, str, bool], str | None]] = {
    "anonymous-read": _file_anonymous_read, "other-tenant-read": _file_other_tenant_read,
    "other-tenant-list": _file_other_tenant_list,
    "other-tenant-delete": _file_other_tenant_delete}


def owner_reads_file_back(files: Files, file_id: str, content: bytes, when: str) -> bool:
    """Control: the owner reads the probe file's record (the right size) back, so that a
    refusal to another principal is about access, not about a file that is not there (else
    ``error``). Whether the owner may read the content too (some vendors refuse to hand
    back uploaded files): only then are others' content reads probed."""
    refusal = refusal_of(lambda: files.get(file_id))
    if refusal is not None:
        raise TargetError(f"[10.1.b] control failed {when}: the owner cannot read the probe "
                          f"file {file_id}'s record ({refusal})")
    size = files.get(file_id).get("bytes")
    if size is not None and size != len(content):
        raise TargetError(f"[10.1.b] control failed {when}: the probe file {file_id} has "
                          f"{size} bytes, not the {len(content)} uploaded")
    read: list[bytes] = []
    if refusal_of(lambda: read.append(files.content(file_id))) is not None:
        return False
    if read[0] != content:
        raise TargetError(f"[10.1.b] control failed {when}: the probe file {file_id}'s "
                          f"content reads back as {len(read[0])} other bytes")
    return True


@pytest.mark.clause("10.1.b", route="files")
@pytest.mark.mutating
@pytest.mark.parametrize("way", list(FILE_EXPOSURES))
def test_tenant_files_are_not_readable_by_others(sca: CheckContext, files: Files,
                                                 way: str) -> None:
    """The probe file, read back by its owner before and after (control), cannot be read
    (record, and content where the owner may read it) without a key or with another tenant's
    key, is absent from another tenant's file list, and another tenant's key cannot delete
    it (refused for access, and the file is still there)."""
    written = files.upload(f"{sca.name('isolation-' + way)}.txt", ISOLATION_PROBE)
    file_id = written["id"]
    with_content = owner_reads_file_back(files, file_id, ISOLATION_PROBE, "before the probe")
    leak = FILE_EXPOSURES[way](files, file_id, with_content)
    sca.evidence("exposure of the probe file", {
        "way": way, "content probed": with_content, "found": leak or "none"})
    assert leak is None, f"[10.1.b] tenant data is exposed: {leak}"
    after = owner_reads_file_back(files, file_id, ISOLATION_PROBE, "after the probe")
    if after != with_content:
        raise TargetError("[10.1.b] control failed after the probe: the owner could read the "
                          "probe file's content before, not after")
