"""10.2.b–d 身份鉴别、最小权限、操作审计 Authentication, least privilege, audit."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable
from functools import partial

import pytest

from pytest_sca.capabilities import (
    Audit,
    AuditRecord,
    RefusalReason,
    Refused,
    Security,
    TargetError,
    Tenancy,
    WaitTimeout,
    wait_for,
)
from pytest_sca.fixtures import CheckContext

from ..conftest import MakeProbeUser, ProbeUser
from ..library import (
    PROBE_COMMAND,
    SLEEPER,
    SMALL,
    CallWindow,
    jobs_named,
    leaked_internals,
    refusal_of,
    refusal_text,
)

#: Characters of the key's tail a wrong secret changes (the key id before them is kept).
SECRET_TAIL = 8


def wrong_secret(key: str) -> str:
    """The same key with its secret's tail changed: a real key id, a wrong secret, the same
    length and alphabet, as a guessing attacker or a stale copy would send."""
    head, tail = key[:-SECRET_TAIL], key[-SECRET_TAIL:]
    changed = []
    for char in tail:
        pool = (string.digits if char.isdigit() else string.ascii_lowercase if char.islower()
                else string.ascii_uppercase if char.isupper() else string.ascii_letters)
        changed.append(secrets.choice(pool.replace(char, "")))
    return head + "".join(changed)


def _refused_for_access(refusal: Refused | None, what: str, clause: str) -> Refused:
    """The refusal, after asserting it is an authorization refusal in the platform's
    documented error envelope (where the transport documents one) whose answer shows no
    server internals."""
    assert refusal is not None, f"[{clause}] {what} was accepted"
    assert refusal.is_authorization, (
        f"[{clause}] {what} was refused for another reason than access: {refusal}")
    # Both problems are reported together: one must not hide the other.
    # Reasons are cut at 300 characters: the short findings first, the refusal itself last.
    problems = []
    leaks = leaked_internals(refusal_text(refusal))
    if leaks:
        problems.append(f"shows server internals ({'; '.join(leaks)})")
    if refusal.enveloped is False:
        problems.append("is not in the platform's documented error envelope (no code and "
                        "message where the adapter documents them)")
    assert not problems, (f"[{clause}] the refusal of {what} " + " and ".join(problems)
                          + f": {refusal}")
    return refusal


def _no_credential(tenancy: Tenancy, probe_tenant: MakeProbeUser) -> tuple[str, str]:
    return "a request without a credential", ""


def _wrong_secret(tenancy: Tenancy, probe_tenant: MakeProbeUser) -> tuple[str, str]:
    user = probe_tenant("authn")
    if refusal_of(user.tenancy.whoami) is not None:  # control: the real key works
        raise TargetError(f"the probe user {user.user['id']}'s own key is refused")
    wrong = wrong_secret(user.user["api_key"])
    return "a real key id with a wrong secret", wrong


def _deleted_user(tenancy: Tenancy, probe_tenant: MakeProbeUser) -> tuple[str, str]:
    user = probe_tenant("revoked")
    key = user.user["api_key"]
    if refusal_of(user.tenancy.whoami) is not None:
        raise TargetError(f"the probe user {user.user['id']}'s own key is refused")
    tenancy.delete_user(user.tenant_id, user.user["id"])
    return "the key of a deleted user", key


#: Each credential the API must refuse, and how the check makes it.
CREDENTIALS: dict[str, Callable[[Tenancy, MakeProbeUser], tuple[str, str]]] = {
    "no-credential": _no_credential, "wrong-secret": _wrong_secret,
    "deleted-user": _deleted_user}


@pytest.mark.clause("10.2.b")
@pytest.mark.mutating
@pytest.mark.parametrize("credential", list(CREDENTIALS))
def test_api_refuses_missing_and_wrong_credentials(sca: CheckContext, tenancy: Tenancy,
                                                   probe_tenant: MakeProbeUser,
                                                   credential: str) -> None:
    """The platform API answers 401/403 — in its documented error envelope, with no server
    internals in the answer — to a request without a credential, with a real key id and a
    wrong secret, and with the key of a deleted user."""
    what, key = CREDENTIALS[credential](tenancy, probe_tenant)
    sca.keep_secret(key)
    refusal = refusal_of(tenancy.acting_as(key).whoami)
    sca.evidence("refusal", {"credential": what, "status": refusal.status if refusal else
                             "accepted", "code": refusal.code if refusal else None,
                             "in the documented envelope": refusal.enveloped if refusal
                             else None})
    _refused_for_access(refusal, what, "10.2.b")


#: Words by which a refusal names the second factor (code or message): a console login refused
#: without them may have been refused for another reason (a locked account, a wrong role).
MFA_REFUSAL = re.compile(r"\bmfa|\b2fa|totp|\botp\b|second[ _-]?factor|two[ _-]?factor|"
                         r"multi[ _-]?factor|多因素|双因素|二次验证|动态口令",
                         re.IGNORECASE)


def names_second_factor(refusal: Refused) -> bool:
    """Whether a refusal says it is about the second factor (its code or its message)."""
    return MFA_REFUSAL.search(refusal_text(refusal)) is not None


def mfa_control(security: Security, console: Security) -> str:
    """Control: while MFA is not required the probe user logs in (else ``error``), so that a
    refusal once MFA is required is MFA's. A platform that already requires MFA is never
    made to stop (the suite does not lower a security policy, not even for a moment): it
    is assessed by the refusal naming the second factor."""
    if security.mfa_policy() is not False:
        return "not run: the platform already requires MFA (the suite never lowers it)"
    admitted = refusal_of(console.console_login)
    if admitted is not None:
        raise TargetError(f"[10.2.b] control failed: the probe user cannot log in to the "
                          f"console with MFA not required: {admitted}")
    return "logged in without a second factor while MFA was not required"


@pytest.mark.clause("10.2.b")
@pytest.mark.mutating
@pytest.mark.parametrize("factor", ["no-second-factor", "wrong-code"])
def test_console_can_require_mfa(sca: CheckContext, security: Security,
                                 probe_tenant: MakeProbeUser, factor: str) -> None:
    """The probe user logs in to the console while MFA is not required (control); with console
    MFA then required, its login without a second factor, or with a wrong code, is refused
    for access, by a refusal that names the second factor; the earlier policy is restored."""
    user = probe_tenant("mfa")
    console = security.acting_as(user.user["api_key"])
    control = mfa_control(security, console)
    assert security.set_mfa_policy(True) is True and security.mfa_policy() is True, (
        "[10.2.b] console MFA cannot be required: the policy does not read back as required")
    otp = None if factor == "no-second-factor" else f"{secrets.randbelow(10**6):06d}"
    what = "no second factor" if otp is None else "a wrong code"
    refusal = refusal_of(partial(console.console_login, otp=otp))
    sca.evidence("console login with MFA required", {
        "second factor": what, "control": control,
        "outcome": f"{refusal.status} {refusal.code}" if refusal else "logged in"})
    assert refusal is not None, (
        f"[10.2.b] MFA is required but a console login with {what} was admitted")
    _refused_for_access(refusal, f"a console login with {what}", "10.2.b")
    assert names_second_factor(refusal), (
        f"[10.2.b] with MFA required, a console login with {what} was refused without naming "
        f"the second factor (refused for another reason?): {refusal}")


#: A mutation a read-only user tries: what it is, the attempt, and what remains of it after
#: a refusal (None when nothing changed).
Mutation = tuple[str, Callable[[], object], Callable[[], "str | None"]]


def _mutations(sca: CheckContext, admin: ProbeUser, reader: ProbeUser, probe_image: str,
               job_id: str) -> dict[str, Mutation]:
    name, user_name = sca.name("rbac-ro"), sca.name("rbac-new")

    def job_state() -> str | None:
        try:
            status = admin.jobs.get(job_id).get("status")
        except Refused as refusal:
            if refusal.reason is RefusalReason.NOT_FOUND:
                return "the job is gone"
            raise
        return None if status == "running" else f"the job is {status}"

    def submitted() -> str | None:
        found = jobs_named(admin.jobs, name)
        return f"the job exists ({', '.join(found)})" if found else None

    def created() -> str | None:
        found = any(u.get("name") == user_name
                    for u in admin.tenancy.list_users(admin.tenant_id))
        return "the user exists" if found else None

    return {
        "submit-job": ("submit a job", lambda: reader.jobs.submit(
            name, probe_image, PROBE_COMMAND, SMALL, labels=sca.labels), submitted),
        "create-user": ("create a user", lambda: reader.tenancy.create_user(
            admin.tenant_id, user_name, "member", labels=sca.labels), created),
        "stop-job": ("stop another user's job", lambda: reader.jobs.stop(job_id), job_state),
        "delete-job": ("delete another user's job", lambda: reader.jobs.delete(job_id),
                       job_state),
    }


@pytest.mark.clause("10.2.c")
@pytest.mark.mutating
@pytest.mark.parametrize("mutation", ["submit-job", "create-user", "stop-job", "delete-job"])
def test_readonly_role_cannot_mutate(sca: CheckContext, probe_tenant: MakeProbeUser,
                                     probe_image: str, mutation: str) -> None:
    """A read-only user sees its tenant's running job but is refused for access — and the
    refusal holds: nothing changed — when it submits a job, creates a user, or stops or
    deletes another user's running job."""
    admin = probe_tenant("rbac", role="tenant_admin")
    reader = probe_tenant("rbac", role="readonly", tenant_id=admin.tenant_id)
    job = admin.jobs.submit(sca.name("rbac-job"), probe_image, SLEEPER, SMALL,
                            labels=sca.labels)
    admin.jobs.wait(job["id"], until={"running"}, timeout=sca.settings.perf.job_timeout_s)
    seen = refusal_of(reader.jobs.list_jobs) is None and job["id"] in {
        j.get("id") for j in reader.jobs.list_jobs()}
    assert seen, f"[10.2.c] a read-only user cannot read its tenant's job {job['id']}"
    what, attempt, remains = _mutations(sca, admin, reader, probe_image, job["id"])[mutation]
    refusal = refusal_of(attempt)
    sca.evidence("read-only mutation", {"tried": what, "refusal": str(refusal) if refusal
                                        else None})
    assert refusal is not None, f"[10.2.c] a read-only user could {what}"
    effect = remains()
    assert effect is None, (f"[10.2.c] a read-only user's attempt to {what} was refused "
                            f"({refusal.status}) but carried out: {effect}")
    _refused_for_access(refusal, f"a read-only user's attempt to {what}", "10.2.c")


@pytest.mark.clause("10.2.d")
@pytest.mark.mutating
def test_own_mutations_are_audited(sca: CheckContext, audit: Audit, probe_tenant: MakeProbeUser,
                                   probe_image: str) -> None:
    """The probe user's job submission and deletion appear in the audit log, each with the
    user as actor, its action, the job as resource and a time inside the call's window,
    within a bounded delay."""
    user = probe_tenant("audit", role="tenant_admin")
    window = CallWindow()
    job = user.jobs.submit(sca.name("audit-job"), probe_image, PROBE_COMMAND, SMALL,
                           labels=sca.labels)
    user.jobs.delete(job["id"])
    window.close()
    actor = user.user["id"]
    delay = sca.settings.audit.max_delay_s

    def entries() -> list[AuditRecord]:
        return [e for e in audit.records(actor=actor) if job["id"] in str(e.get("resource"))]

    def both(found: list[AuditRecord]) -> bool:
        actions = [str(e.get("action")).lower() for e in found]
        return any("delete" in a for a in actions) and any("delete" not in a for a in actions)

    try:
        found = wait_for(entries, both, delay, lambda found: f"{len(found)} entries")
    except WaitTimeout as timeout:
        found = timeout.last or []
    sca.evidence("audit entries of the probe job", found)
    assert both(found), (
        f"[10.2.d] the audit log holds {len(found)} of the 2 mutations of job {job['id']} by "
        f"{actor} after {delay:.0f} s (actions {[e.get('action') for e in found]})")
    for entry in found:
        assert entry.get("actor") == actor and window.holds(entry.get("time")), (
            f"[10.2.d] audit entry {entry.get('id')} does not name the user {actor} as actor "
            f"with a time inside the call's window: {entry}")
