"""10.2.b–d 身份鉴别、最小权限、操作审计 Authentication, least privilege, audit."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest

from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext

from ..library import PROBE_COMMAND, SMALL, refusal_of

WRONG_KEY = "sk-sca-invalid-credential-of-the-conformance-probe"


@pytest.mark.clause("10.2.b")
def test_api_refuses_missing_and_wrong_credentials(sca: CheckContext, tenancy: Any) -> None:
    """The platform API answers 401/403 to a request without a credential and with a wrong one."""
    answers = {}
    for what, credential in (("no credential", ""), ("a wrong credential", WRONG_KEY)):
        refusal = refusal_of(tenancy.acting_as(credential).whoami)
        answers[what] = refusal.status if refusal else "accepted"
    sca.evidence("unauthenticated requests", answers)
    accepted = [what for what, status in answers.items() if status not in (401, 403)]
    assert not accepted, (f"[10.2.b] requests with {' and '.join(accepted)} were not refused "
                          f"with 401/403: {answers}")


@pytest.mark.clause("10.2.b")
@pytest.mark.mutating
def test_console_can_require_mfa(sca: CheckContext, security: Any, probe_tenant: Any,
                                 cleanup: Cleanup) -> None:
    """With console MFA required, a user's console login without or with a wrong second factor
    is refused; the earlier policy is restored afterwards."""
    assert security.set_mfa_policy(True) is True and security.mfa_policy() is True, (
        "[10.2.b] console MFA cannot be required: the policy does not read back as required")
    user = probe_tenant("mfa")
    console = security.acting_as(user.user["api_key"])
    outcomes = {}
    for what, otp in (("no second factor", None), ("a wrong code", "000000")):
        refusal = refusal_of(partial(console.console_login, otp=otp))
        outcomes[what] = refusal.status if refusal else "logged in"
    sca.evidence("console logins with MFA required", outcomes)
    admitted = [what for what, status in outcomes.items() if status not in (401, 403)]
    assert not admitted, (f"[10.2.b] MFA is required but a console login with "
                          f"{' and '.join(admitted)} was admitted: {outcomes}")


@pytest.mark.clause("10.2.c")
@pytest.mark.mutating
def test_readonly_role_cannot_mutate(sca: CheckContext, probe_tenant: Any, probe_image: str,
                                     cleanup: Cleanup) -> None:
    """A read-only user can read its tenant but cannot create users, submit, stop or delete jobs."""
    admin = probe_tenant("rbac", role="tenant_admin")
    reader = probe_tenant("rbac", role="readonly", tenant_id=admin.tenant_id)
    job = admin.jobs.submit(sca.name("rbac-job"), probe_image,
                            ["python", "-c", "import time; time.sleep(30)"], SMALL,
                            labels=sca.labels)
    assert refusal_of(reader.jobs.list_jobs) is None, "[10.2.c] a read-only user cannot read jobs"

    def submit() -> None:
        reader.jobs.submit(sca.name("rbac-ro"), probe_image, PROBE_COMMAND, SMALL,
                           labels=sca.labels)

    def create_user() -> None:
        reader.tenancy.create_user(admin.tenant_id, sca.name("rbac-new"), "member",
                                   labels=sca.labels)

    attempts = {"submit a job": submit, "create a user": create_user,
                "stop another user's job": lambda: reader.jobs.stop(job["id"])}
    allowed = [what for what, call in attempts.items() if refusal_of(call) is None]
    sca.evidence("read-only mutations", {"allowed": allowed, "tried": list(attempts)})
    assert not allowed, f"[10.2.c] a read-only user could {', '.join(allowed)}"


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@pytest.mark.clause("10.2.d")
@pytest.mark.mutating
def test_own_mutations_are_audited(sca: CheckContext, audit: Any, probe_tenant: Any,
                                   probe_image: str, cleanup: Cleanup) -> None:
    """The probe user's job submission and deletion appear in the audit log with actor, action,
    resource and a time inside the call's window, within a bounded delay."""
    user = probe_tenant("audit", role="tenant_admin")
    started = datetime.now(timezone.utc) - timedelta(seconds=1)
    job = user.jobs.submit(sca.name("audit-job"), probe_image, PROBE_COMMAND, SMALL,
                           labels=sca.labels)
    user.jobs.delete(job["id"])
    finished = datetime.now(timezone.utc) + timedelta(seconds=1)
    actor = user.user["id"]
    delay = sca.settings.audit.max_delay_s
    deadline = time.monotonic() + delay
    while True:
        entries = [e for e in audit.records(actor=actor) if job["id"] in str(e.get("resource"))]
        if len(entries) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    sca.evidence("audit entries of the probe job", entries)
    assert len(entries) >= 2, (
        f"[10.2.d] the audit log holds {len(entries)} of the 2 mutations of job {job['id']} by "
        f"{actor} after {delay:.0f} s")
    for entry in entries:
        when = _parse_time(str(entry.get("time")))
        assert entry.get("action") and when is not None and started <= when <= finished, (
            f"[10.2.d] audit entry {entry.get('id')} lacks an action or a time inside the call's "
            f"window: {entry}")
