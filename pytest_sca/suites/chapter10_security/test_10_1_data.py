"""10.1 数据安全 Data security: encryption, tenant data access control, data protection.

The synthetic personal data these checks ingest never leaves the check: evidence
and messages carry counts and categories, never values.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext
from pytest_sca.probes.personal_data import probe_document, synthetic_people

PEOPLE = 5


@pytest.mark.clause("10.1.c")
@pytest.mark.mutating
def test_sensitive_data_is_identified_masked_and_audited(
        sca: CheckContext, security: Any, audit: Any, probe_tenant: Any, cleanup: Cleanup
) -> None:
    """Ingest a file of synthetic phone, ID-card and bank-card numbers: the platform flags it
    sensitive, its masked view shows none of the values, and the read is in the audit log."""
    people = synthetic_people(PEOPLE)
    user = probe_tenant("dlp")
    data = security.acting_as(user.user["api_key"])
    dataset = data.ingest(sca.name("dlp-probe"), probe_document(people), labels=sca.labels)
    classification = dataset.get("classification") or data.dataset(dataset["id"]).get(
        "classification", {})
    sca.evidence("classification", classification)
    assert classification.get("sensitive") is True, (
        f"[10.1.c] a file of {PEOPLE} phone, ID-card and bank-card numbers was not classified "
        f"sensitive: {classification}")

    masked = data.read(dataset["id"], view="masked")
    values = [v for person in people for v in person.values()]
    shown = sum(1 for value in values if value in masked)
    sca.evidence("masked view", {"values": len(values), "in clear": shown,
                                 "length": len(masked)})
    assert shown == 0, (f"[10.1.c] the masked view shows {shown} of {len(values)} personal "
                        "values in clear")

    actor = user.user["id"]
    delay = sca.settings.audit.max_delay_s
    deadline = time.monotonic() + delay
    while True:
        reads = [e for e in audit.records(actor=actor)
                 if dataset["id"] in str(e.get("resource")) and "read" in str(e.get("action"))]
        if reads or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    sca.evidence("audit entries of the read", reads)
    assert reads, (f"[10.1.c] the read of sensitive dataset {dataset['id']} by {actor} is not "
                   f"in the audit log after {delay:.0f} s")


#: Transports whose endpoint is an HTTP(S) URL, with the config field that holds it.
URL_FIELDS = {"platform": "url", "openai": "base_url", "comfyui": "url", "registry": "url",
              "prometheus": "url", "s3": "endpoint"}
#: Transports browsers reach: these must also send HSTS.
WEB_TRANSPORTS = {"platform", "comfyui"}
#: How long a presigned URL of the probe lives, and how long past that it may still work.
PRESIGN_S = 2
PRESIGN_GRACE_S = 5.0


@pytest.mark.clause("10.1.a")
def test_every_endpoint_uses_tls_1_2_or_later(sca: CheckContext) -> None:
    """Each HTTP endpoint of the target file: HTTPS with TLS ≥ 1.2 only (1.0/1.1 handshakes
    refused), a certificate valid for the host, no plain-HTTP answer, HSTS on web endpoints."""
    from pytest_sca.probes.tls import probe_endpoint

    endpoints = {name: (getattr(config, field), getattr(config, "verify", True))
                 for name, config in sca.target.adapters.items()
                 if (field := URL_FIELDS.get(name)) and getattr(config, field, None)}
    if not endpoints:
        sca.not_assessed("the target file names no HTTP endpoint: configure adapters.platform")
    problems: dict[str, list[str]] = {}
    for name, (url, verify) in endpoints.items():
        report = probe_endpoint(url, verify)
        found = [p for p in report.problems()
                 if name in WEB_TRANSPORTS or not p.startswith("no Strict-Transport")]
        sca.evidence(f"transport security of {name}", {
            "url": url, "versions": report.versions, "certificate": report.certificate_problem
            or "valid", "plain http": report.plain_http, "hsts": report.hsts})
        if found:
            problems[name] = found
    assert not problems, "[10.1.a] transport not secure: " + "; ".join(
        f"{name} {endpoints[name][0]}: {', '.join(found)}" for name, found in problems.items())


@pytest.mark.clause("10.1.a")
@pytest.mark.mutating
def test_objects_are_encrypted_at_rest(sca: CheckContext, storage: Any,
                                       cleanup: Cleanup) -> None:
    """An object written without asking is stored with server-side encryption (bucket default),
    and an explicit SSE-S3 request is honoured and reported."""
    plain_key, asked_key = sca.name("sse-default"), sca.name("sse-asked")
    for key, sse in ((plain_key, None), (asked_key, "AES256")):
        written = storage.put(key, b"sca encryption probe", sse=sse)
        assert written.allowed, f"[10.1.a] the probe object could not be written ({written})"
    by_default = storage.head(plain_key).get("ServerSideEncryption")
    asked = storage.head(asked_key).get("ServerSideEncryption")
    sca.evidence("server-side encryption", {"default": by_default, "asked AES256": asked})
    assert by_default, ("[10.1.a] an object written without an SSE header is stored "
                        "unencrypted (no default encryption reported)")
    assert asked == "AES256", f"[10.1.a] an SSE-S3 request was not honoured (reported {asked!r})"


@pytest.mark.clause("10.1.b")
@pytest.mark.mutating
def test_tenant_objects_are_not_readable_by_others(sca: CheckContext, storage: Any,
                                                   cleanup: Cleanup) -> None:
    """The probe object cannot be read anonymously or with another tenant's key, the bucket has
    no public policy or ACL grant, and a presigned URL stops working once expired."""
    key = sca.name("isolation")
    written = storage.put(key, b"sca isolation probe")
    assert written.allowed, f"[10.1.b] the probe object could not be written ({written})"
    leaks = []
    if storage.anonymous_get(key).allowed:
        leaks.append("anonymous read of the object")
    if storage.has_other_tenant:
        if storage.get(key, as_other_tenant=True).allowed:
            leaks.append("read by another tenant's key")
        if storage.list_keys(key, as_other_tenant=True).allowed:
            leaks.append("listing by another tenant's key")
    policy = storage.bucket_policy()
    if policy and any(
            s.get("Effect") == "Allow" and s.get("Principal") in ("*", {"AWS": "*"})
            for s in (json.loads(policy).get("Statement") or [])):
        leaks.append("a bucket policy granting everyone")
    leaks += [f"ACL grant {grant}" for grant in storage.public_grants()]
    url = storage.presigned_get(key, PRESIGN_S)
    fresh = late = storage.fetch(url)
    deadline = time.monotonic() + PRESIGN_S + PRESIGN_GRACE_S
    # A presigned URL the platform refuses even when fresh cannot leak: nothing to wait for.
    while fresh.allowed and (late := storage.fetch(url)).allowed and time.monotonic() < deadline:
        time.sleep(0.5)
    if fresh.allowed and late.allowed:
        leaks.append(f"a presigned URL still works {PRESIGN_S + PRESIGN_GRACE_S:.0f} s after "
                     f"it was to expire in {PRESIGN_S} s")
    sca.evidence("isolation of the probe object", {
        "other tenant checked": storage.has_other_tenant, "presigned before expiry":
        fresh.status, "presigned after expiry": late.status, "leaks": leaks})
    assert not leaks, f"[10.1.b] tenant data is exposed: {', '.join(leaks)}"
