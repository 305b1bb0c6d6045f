"""Chapter 10 checks: pass on the healthy sandbox, fail under the fault that breaks each.

The faults of this chapter break unrelated behaviours, so each group is
started in one sandbox (one start instead of one per fault); every item's
fail reason must name what its own fault broke.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_sca.capabilities import Attempt, Refused, TargetError
from pytest_sca.sandbox import launch
from pytest_sca.sandbox.netiso import NO_NAMESPACES_SWITCH, unsupported_reason
from pytest_sca.sandbox.security import TLS_SWITCH

from .matrix import evaluate, verdicts

#: clause item → (sandbox fault that breaks it, words the fail reason must contain)
BREAKS: dict[str, tuple[str, str]] = {
    "10.1.a": ("tls_legacy_enabled", "TLSv1 accepted"),
    "10.1.b": ("public_bucket", "anonymous read of the object"),
    "10.1.c": ("masking_off", "the masked view shows"),
    "10.2.a": ("root_password_login", "password authentication enabled"),
    "10.2.b": ("mfa_not_enforced", "MFA is required but a console login"),
    "10.2.c": ("readonly_role_can_write", "a read-only user could submit a job"),
    "10.2.d": ("audit_log_off", "the audit log holds 0 of the 2 mutations"),
    "10.2.e": ("root_password_login", "root password login allowed"),
    "10.2.f": ("network_isolation_off", "tenant A's job reached tenant B's service"),
    "10.2.g": ("asset_risk_not_assessed", "has no risk status"),
}
#: More faults that break an item's behaviour another way: (item, fault, words).
ALSO_BREAKS = [
    ("10.1.a", "plain_http_open", "served over plain HTTP"),
    ("10.1.a", "sse_disabled", "stored unencrypted"),
    ("10.2.e", "world_writable_system_file", "world-writable system paths: etc/crontab"),
    ("10.1.b", "presigned_urls_never_expire", "a presigned URL still works"),
    ("10.2.b", "api_key_secret_not_checked", "a real key id with a wrong secret was accepted"),
    ("10.2.b", "auth_errors_leak_internals", "shows server internals"),
    ("10.2.c", "readonly_stop_carried_out", "was refused (403) but carried out"),
    ("10.2.b", "mfa_locks_console_accounts", "refused without naming the second factor"),
    ("10.2.b", "auth_errors_unenveloped", "is not in the platform's documented error envelope"),
    ("10.2.g", "assets_filed_under_platform", "listed under org unit 'platform', not the probe"),
    ("10.1.c", "audit_clock_skewed", "has a time inside the read's window"),
    ("10.2.d", "audit_clock_skewed", "with a time inside the call's window"),
]
#: 10.1.a's encryption check under faults run apart, one sandbox start each (with
#: ``sse_disabled`` of :data:`ALSO_BREAKS` the bucket has no default either way): (fault, the
#: verdict, words of the reason, else of the evidence).
SSE_APART = [
    # HEAD reports encryption the bucket's configuration does not have.
    ("sse_reported_not_applied", "fail", "the two contradict each other"),
    # No GetBucketEncryption: HEAD alone decides, and the evidence says so.
    ("bucket_encryption_not_implemented", "pass", "not read, HEAD alone decides"),
]
#: Faults under which an item's check cannot find out and says so (``error``, never a pass
#: or a fail): (item, fault, words). One sandbox start runs them all.
INCONCLUSIVE = [
    # A node of the inventory reachable over SSH (and weak) that the target file omits.
    ("10.2.a", "ssh_node_unlisted", "['bm-3'] reachable over SSH"),
    ("10.2.e", "ssh_node_unlisted", "['bm-3'] reachable over SSH"),
]
#: Items the sandbox's target file settles by evidence (automated parts pass).
MANUAL = {"10.2.a"}
#: Items this machine cannot exercise: no network namespaces (not root, no iproute2) → the
#: sandbox declares ``network.isolation: unsupported`` and 10.2.f is not_assessed, honestly.
UNASSESSABLE_HERE = {"10.2.f"} if unsupported_reason() is not None else set()


@pytest.fixture(autouse=True)
def _sandbox_serves_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chapter 10 evaluates the sandbox with TLS on (its target file trusts the sandbox CA)."""
    monkeypatch.setenv(TLS_SWITCH, "1")


def _assert_fails(report: dict[str, object], item: str, words: str) -> None:
    entry = next(i for i in report["items"] if i["id"] == item)  # type: ignore[attr-defined]
    assert entry["verdict"] == "fail", entry
    reasons = [t["reason"] for t in entry["tests"] if t["outcome"] == "fail"]
    assert all(r.startswith(f"[{item}]") for r in reasons), reasons
    assert any(words in r for r in reasons), reasons


@pytest.mark.slow
def test_every_check_passes_on_the_healthy_sandbox(tmp_path: Path) -> None:
    found = verdicts(evaluate(tmp_path, BREAKS))
    assert {item: verdict for item, (verdict, _) in found.items()} == {
        item: "manual" if item in MANUAL else "not_assessed" if item in UNASSESSABLE_HERE
        else "pass" for item in BREAKS}, found


@pytest.mark.slow
def test_each_check_fails_under_its_fault_and_reports_hold_no_personal_data(
        tmp_path: Path) -> None:
    """Under masking_off the platform echoes the probe's personal data: the JSON report and the
    Allure results must still hold none of it."""
    from pytest_sca.sandbox.security import find_personal_data

    report = evaluate(tmp_path, BREAKS, sorted({fault for fault, _ in BREAKS.values()}),
                      ("--alluredir=allure",), plugins=("allure_pytest.plugin",))
    for item, (_, words) in BREAKS.items():
        if item not in UNASSESSABLE_HERE:
            _assert_fails(report, item, words)
    texts = [(tmp_path / "report.json").read_text(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8", errors="replace")
              for p in (tmp_path / "allure").glob("*") if p.is_file()]
    assert texts[1:], "no Allure results were written"
    leaked = [f for text in texts for f in find_personal_data(text)]
    assert not leaked, f"{len(leaked)} personal-data values in the reports"


@pytest.mark.slow
def test_checks_fail_under_other_faults(tmp_path: Path) -> None:
    report = evaluate(tmp_path, {i for i, _, _ in ALSO_BREAKS}, {f for _, f, _ in ALSO_BREAKS})
    for item, _, words in ALSO_BREAKS:
        _assert_fails(report, item, words)


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "verdict", "words"), SSE_APART, ids=[f for f, _, _ in SSE_APART])
def test_encryption_at_rest_against_the_bucket_configuration(
        tmp_path: Path, fault: str, verdict: str, words: str) -> None:
    report = evaluate(tmp_path, {"10.1.a"}, {fault}, ("-k", "encrypted"))
    entry = next(i for i in report["items"] if i["id"] == "10.1.a")
    assert entry["verdict"] == verdict, entry
    if verdict == "fail":
        _assert_fails(report, "10.1.a", words)
    else:
        assert any(words in e["content"] for e in entry["evidence"]), entry["evidence"]


@pytest.mark.slow
def test_checks_cannot_find_out_under_inconclusive_faults(tmp_path: Path) -> None:
    report = evaluate(tmp_path, {i for i, _, _ in INCONCLUSIVE}, {f for _, f, _ in INCONCLUSIVE})
    found = verdicts(report)
    for item, _, words in INCONCLUSIVE:
        verdict, reason = found[item]
        assert verdict == "error", (item, verdict, reason)
        assert reason.removeprefix("TargetError: ").startswith(f"[{item}]"), reason
        assert words in reason, reason


@pytest.mark.slow
def test_unreachable_endpoint_is_an_error_not_a_fail(tmp_path: Path) -> None:
    """An endpoint that cannot be reached shows nothing about its transport security: 10.1.a
    is ``error``, never a fail for "no TLS 1.2"."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = tmp_path / "unreachable.yaml"
    target.write_text(yaml.safe_dump({
        "name": "unreachable", "standard": "saia-aicloud-2025-04-29",
        "adapters": {"platform": {"url": f"https://127.0.0.1:{port}/",
                                  "token": "sca-unreachable-token"}}}), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pytest", f"--sca-target={target}", "-p",
                           "no:cacheprovider", "--sca-preflight=off", "-m", "clause(id='10.1.a')",
                           "--sca-json=report.json"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    entry = next(i for i in report["items"] if i["id"] == "10.1.a")
    outcomes = {t["nodeid"].rsplit("::", 1)[-1]: (t["outcome"], t["reason"])
                for t in entry["tests"]}
    tls = outcomes["test_every_endpoint_uses_tls_1_2_or_later"]
    assert tls[0] == "error" and "no TCP connection" in tls[1], outcomes
    assert entry["verdict"] == "error", entry



@pytest.mark.slow
def test_network_isolation_is_not_assessed_where_namespaces_cannot_be_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sandbox that cannot create namespaces declares isolation unsupported: never a pass."""
    monkeypatch.setenv(NO_NAMESPACES_SWITCH, "1")
    verdict, reason = verdicts(evaluate(tmp_path, {"10.2.f"}))["10.2.f"]
    assert verdict == "not_assessed", reason
    assert "cannot apply network isolation" in reason and NO_NAMESPACES_SWITCH in reason, reason


@pytest.mark.slow
def test_target_declaring_no_network_isolation_fails(tmp_path: Path) -> None:
    """A target file that declares ``network.isolation: none`` fails 10.2.f without probing."""
    sandbox = launch()
    try:
        target = yaml.safe_load(sandbox.target_path.read_text(encoding="utf-8"))
        target["capabilities"]["network"] = {"isolation": "none"}
        path = tmp_path / "target.yaml"
        path.write_text(yaml.safe_dump(target), encoding="utf-8")
        subprocess.run(
            [sys.executable, "-m", "pytest", f"--sca-target={path}", "-p", "no:cacheprovider",
             "-m", "clause(id='10.2.f')", "--sca-json=report.json"],
            cwd=tmp_path, env={**os.environ, **sandbox.env}, capture_output=True, timeout=300)
    finally:
        sandbox.stop()
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    verdict, reason = verdicts(report)["10.2.f"]
    assert (verdict, reason) == ("fail", "[10.2.f] target declares no network isolation: "
                                         "isolation='none'"), reason


@pytest.mark.parametrize(("text", "kind"), [
    ("invalid key: KeyError", "an exception class"),
    ("db at 10.0.3.7:5432 refused", "a host:port"),
    ("failed in /opt/platform/auth/keys.py:69", "a file path"),
    ("while running SELECT id FROM apikey", "SQL"),
    ("Traceback (most recent call last):\n  File x", "a stack trace"),
    ("psycopg2.OperationalError: timeout", "an exception class"),
])
def test_leaked_internals_are_found_in_any_form(text: str, kind: str) -> None:
    from pytest_sca.suites.library import leaked_internals

    assert any(found.startswith(kind) for found in leaked_internals(text)), text


@pytest.mark.parametrize("text", [
    "invalid API key", "missing bearer API key", "role readonly may not do this",
    "this console requires a second factor (TOTP) for every user", "Request has expired",
    "GET /api/v1/jobs/job-1 answered 404", "AccessDenied", "job job-1 already succeeded"])
def test_plain_refusals_leak_nothing(text: str) -> None:
    from pytest_sca.suites.library import leaked_internals

    assert leaked_internals(text) == []


def test_a_wrong_secret_keeps_the_key_id() -> None:
    from pytest_sca.suites.chapter10_security.test_10_2_access import SECRET_TAIL, wrong_secret

    key = "sk-sca-AbCdEfGhIjKlMnOpQrSt0123456789"
    wrong = wrong_secret(key)
    assert wrong != key and len(wrong) == len(key)
    assert wrong[:-SECRET_TAIL] == key[:-SECRET_TAIL]
    assert all(a != b for a, b in zip(wrong[-SECRET_TAIL:], key[-SECRET_TAIL:], strict=True))


@pytest.mark.parametrize(("detail", "isolated"), [
    ("timeout timed out", True),
    ("EHOSTUNREACH [Errno 113] No route to host", True),
    ("ECONNREFUSED [Errno 111] Connection refused", True),
    ("EPERM [Errno 1] Operation not permitted", True),
    ("ENETUNREACH [Errno 101] Network is unreachable", False),
    ("gaierror [Errno -2] Name or service not known", False),
    ("OSError something else", False),
])
def test_only_a_failure_isolation_causes_counts_as_isolation(detail: str, isolated: bool) -> None:
    """Tenant A's client stopped by a drop, a refusal or no route is isolation; its own network
    unreachable or a name not resolved says nothing about it (the check is ``error``)."""
    from pytest_sca.suites.chapter10_security.test_10_2_network import stopped_by_isolation

    assert stopped_by_isolation(("unreachable", detail)) is isolated
    assert stopped_by_isolation(("reached", "sca-net-1234")) is False


class _Storage:
    """Only what the owner-read control uses: ``get`` answers a fixed attempt."""

    def __init__(self, attempt: Attempt) -> None:
        self.attempt = attempt

    def get(self, key: str, as_other_tenant: bool = False) -> Attempt:
        return self.attempt


@pytest.mark.parametrize("attempt", [Attempt(404, "NoSuchKey"), Attempt(200, "", b"other"),
                                     Attempt(403, "AccessDenied")],
                         ids=["never-stored", "other-content", "owner-refused"])
def test_an_object_its_owner_cannot_read_back_is_inconclusive(attempt: Attempt) -> None:
    """A 404 to everyone for an object that was never stored is no proof of protection: the
    owner-read control makes 10.1.b ``error`` (TargetError), never a pass."""
    from pytest_sca.suites.chapter10_security.test_10_1_data import owner_reads_back

    with pytest.raises(TargetError, match=r"\[10\.1\.b\] control failed before the probe"):
        owner_reads_back(_Storage(attempt), "k", b"sca isolation probe",  # type: ignore[arg-type]
                         "before the probe")
    owner_reads_back(_Storage(Attempt(200, "", b"sca isolation probe")),  # type: ignore[arg-type]
                     "k", b"sca isolation probe", "before the probe")


@pytest.mark.parametrize(("code", "message", "names"), [
    ("mfa_required", "this console requires a second factor (TOTP) for every user", True),
    ("unauthorized", "请输入多因素认证动态口令", True),
    ("account_locked", "this console account is locked", False),
    ("forbidden", "wrong password", False),
])
def test_an_mfa_refusal_must_name_the_second_factor(code: str, message: str,
                                                    names: bool) -> None:
    from pytest_sca.suites.chapter10_security.test_10_2_access import names_second_factor

    refusal = Refused("POST /console/sessions", 401, code, message)
    assert names_second_factor(refusal) is names


class _Console:
    """Only what the MFA control uses: a policy (set_mfa_policy counts as lowering it), and a
    login."""

    def __init__(self, required: bool, login_refused: bool) -> None:
        self.required = required
        self.login_refused = login_refused
        self.policy_changes = 0

    def set_mfa_policy(self, required: bool) -> bool:
        self.policy_changes += 1
        self.required = required
        return self.required

    def mfa_policy(self) -> bool:
        return self.required

    def console_login(self, otp: str | None = None) -> dict[str, str]:
        if self.login_refused:
            raise Refused("POST /console/sessions", 403, "account_locked", "locked")
        return {"session": "cs-1"}


def test_the_mfa_control_never_lowers_the_policy() -> None:
    """MFA not required: the user must log in (else ``error``). MFA already required: the
    control is noted as not run and the policy is never switched off."""
    from pytest_sca.suites.chapter10_security.test_10_2_access import mfa_control

    works = _Console(required=False, login_refused=False)
    assert mfa_control(works, works).startswith("logged in")  # type: ignore[arg-type]
    locked = _Console(required=False, login_refused=True)
    with pytest.raises(TargetError, match=r"\[10\.2\.b\] control failed"):
        mfa_control(locked, locked)  # type: ignore[arg-type]
    required = _Console(required=True, login_refused=True)
    assert mfa_control(required, required).startswith("not run")  # type: ignore[arg-type]
    assert required.required and not required.policy_changes
