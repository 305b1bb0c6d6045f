"""Every way a check can end maps to the right verdict, in the JSON report and on the terminal."""

from __future__ import annotations

import pytest

from .conftest import read_report, verdicts, write_checks

CHECKS = """
import socket

import pytest
import requests

from pytest_sca.capabilities import TargetError


@pytest.mark.clause("6.1.a")
def test_pass(sca):
    sca.evidence("listing", {"tenants": 2})


@pytest.mark.clause("6.1.b")
def test_assertion_is_fail():
    assert 2 == 1, "[6.1.b] quota 1 GPU not enforced: job requesting 2 GPUs reached Running"


@pytest.mark.clause("6.1.c")
def test_connection_refused_is_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    requests.get(f"http://127.0.0.1:{port}/", timeout=2)


@pytest.mark.clause("6.2.a")
def test_missing_capability_is_not_assessed(jobs):
    pass


@pytest.mark.clause("6.2.b")
def test_bare_skip_is_error():
    pytest.skip("not today")


@pytest.mark.clause("6.2.c")
@pytest.mark.skip(reason="flaky")
def test_skip_marker_is_error():
    pass


@pytest.mark.clause("6.2.d")
def test_target_5xx_is_error():
    raise TargetError("POST /api/v1/clusters answered 503")


@pytest.mark.clause("6.2.e")
def test_explicit_not_assessed(sca):
    sca.not_assessed("target declares no accelerator inventory")


@pytest.mark.clause("6.2.f")
@pytest.mark.parametrize("node", ["a", "b", "c"])
def test_worst_of_several(node):
    assert node != "b", f"[6.2.f] node {node} has no mount"


@pytest.mark.clause("6.2.g")
def test_failed_undo_is_error(cleanup):
    def undo():
        raise RuntimeError("delete refused")
    cleanup.add("delete probe job 7", undo)


@pytest.mark.clause("10.2.a")
def test_evidence_only(sca):
    sca.not_assessed("physical security has no API")


@pytest.mark.clause("6.3.a")
def test_waived_failure():
    assert False, "[6.3.a] no preset images"


@pytest.mark.clause("6.3.b")
def test_expired_waiver_is_ignored():
    assert False, "[6.3.b] custom images cannot be pushed"


@pytest.mark.clause("6.3.c")
def test_evidence_never_hides_a_failure():
    assert False, "[6.3.c] second pull not faster"
# Alternative routes to an item: each route is judged whole; a route the target cannot
# serve (all not_assessed) is not taken.
@pytest.mark.clause("6.4.a")
def test_main_route_unserved(sca):
    sca.not_assessed("no object storage")


@pytest.mark.clause("6.4.a", route="files")
def test_files_route_passes(sca):
    pass


@pytest.mark.clause("6.4.b")
def test_main_route_unserved_too(sca):
    sca.not_assessed("no object storage")


@pytest.mark.clause("6.4.b", route="files")
def test_files_route_unserved(sca):
    sca.not_assessed("no files API")


@pytest.mark.clause("6.4.c")
def test_main_route_passes(sca):
    pass


@pytest.mark.clause("6.4.c", route="files")
def test_files_route_fails(sca):
    assert False, "[6.4.c] another key read the file"


@pytest.mark.clause("6.4.d")
@pytest.mark.parametrize("part", ["one", "two"])
def test_main_route_half_served(sca, part):
    if part == "two":
        sca.not_assessed("no bucket policy")


@pytest.mark.clause("6.4.d", route="files")
def test_files_route_served(sca):
    pass
"""

TARGET = """
name: verdicts
evidence:
  "10.2.a": {verdict: pass, reviewer: Wang Fang, date: 2026-10-30, document: "audit report 3.2"}
  "6.3.c": {verdict: pass, reviewer: Wang Fang, date: 2026-10-30, document: "vendor claim"}
  "7.1.a": {verdict: fail, reviewer: Wang Fang, date: 2026-10-30, document: "site visit"}
waivers:
  "6.3.a": {reason: "images come from the customer's registry", expires: 2099-12-31}
  "6.3.b": {reason: "was accepted last year", expires: 2020-01-01}
"""


@pytest.fixture
def report(pytester: pytest.Pytester) -> dict:  # type: ignore[type-arg]
    write_checks(pytester, CHECKS)
    pytester.makefile(".yaml", target=TARGET)
    pytester.runpytest("--sca-target=target.yaml", "checks",
                       "-p", "no:cacheprovider")
    return read_report(pytester)


@pytest.mark.parametrize(("item", "verdict", "reason"), [
    ("6.1.a", "pass", ""),
    ("6.1.b", "fail", "[6.1.b] quota 1 GPU not enforced: job requesting 2 GPUs reached Running"),
    ("6.1.c", "error", "ConnectionError"),
    ("6.2.a", "not_assessed", "the target serves no `jobs` capability: add `adapters.platform` "
     "or `adapters.kubernetes` or `adapters.slurm` to target.yaml"),
    ("6.2.b", "error", "a clause check was skipped (not today)"),
    ("6.2.c", "error", "a clause check was skipped (flaky)"),
    ("6.2.d", "error", "TargetError: POST /api/v1/clusters answered 503"),
    ("6.2.e", "not_assessed", "target declares no accelerator inventory"),
    ("6.2.f", "fail", "[6.2.f] node b has no mount"),
    ("6.2.g", "error", "cleanup failed: delete probe job 7: RuntimeError: delete refused"),
    ("10.2.a", "manual", "manual pass by Wang Fang on 2026-10-30 (audit report 3.2)"),
    ("6.3.a", "waived", "waived until 2099-12-31: images come from the customer's registry"),
    ("6.3.b", "fail", "[6.3.b] custom images cannot be pushed"),
    ("6.3.c", "fail", "[6.3.c] second pull not faster"),
    ("6.4.a", "pass", ""),
    ("6.4.b", "not_assessed", "no object storage; nor along route 'files': no files API"),
    ("6.4.c", "fail", "[6.4.c] another key read the file"),
    ("6.4.d", "pass", ""),
])
def test_verdict_and_reason(report: dict, item: str, verdict: str, reason: str  # type: ignore[type-arg]
                            ) -> None:
    entry = next(i for i in report["items"] if i["id"] == item)
    assert entry["verdict"] == verdict
    assert reason in entry["reason"]


def test_verdict_details(report: dict) -> None:  # type: ignore[type-arg]
    items = {i["id"]: i for i in report["items"]}
    assert items["6.1.a"]["evidence"][0]["name"] == "listing"
    assert [t["outcome"] for t in items["6.2.f"]["tests"]] == ["pass", "fail", "pass"]
    assert items["6.3.a"]["automated_verdict"] == "fail" and items["6.3.a"]["conformant"]
    assert items["6.3.b"]["notes"] == ["waiver expired on 2020-01-01 and was ignored"]
    assert "evidence entry not applied" in items["6.3.c"]["notes"][0]
    assert items["10.2.a"]["conformant"] and items["10.2.a"]["manual"]["reviewer"] == "Wang Fang"
    assert "7.1.a" not in items  # evidence alone does not put an item in scope
    assert report["cleanup_failures"][0]["description"] == "delete probe job 7"
    assert items["6.4.a"]["notes"] == ["not assessed along its main route: no object storage"]
    assert sorted(t["route"] for t in items["6.4.a"]["tests"]) == ["", "files"]
    # A route half served is not taken: the item is judged by the route served whole.
    assert items["6.4.d"]["notes"] == ["not assessed along its main route: no bucket policy"]


def test_an_unknown_route_is_a_usage_error(pytester: pytest.Pytester) -> None:
    write_checks(pytester, """
        import pytest

        @pytest.mark.clause("6.1.a", route="ftp")
        def test_x():
            pass
        """)
    pytester.makefile(".yaml", target="name: routes\n")
    result = pytester.runpytest("--sca-target=target.yaml", "checks", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*route 'ftp' of its clause marker is not a route of "
                                 "pytest_sca.collection.ROUTES*"])


def test_terminal_shows_verdicts_apart(pytester: pytest.Pytester) -> None:
    write_checks(pytester, CHECKS)
    pytester.makefile(".yaml", target=TARGET)
    result = pytester.runpytest("--sca-target=target.yaml", "checks", "-p", "no:cacheprovider",
                                "-rN")
    out = result.stdout.str()
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "*sca evaluation: verdicts*",
        "domain*items*pass*fail*err*n/a*man*waiv*score*conformant",
        "scheduling 资源调度及管理*",
        "overall*",
        "no grade: partial evaluation — not a grade: 18 of 97 items (checks)",
        "*shall items that failed or could not be checked*",
        "FAIL   6.1.b     ?6.1.b? quota 1 GPU not enforced*",
        "ERROR  6.1.c     ConnectionError*",
    ])
    assert "not_assessed" in out


def test_all_passing_run_exits_zero(pytester: pytest.Pytester, target_file) -> None:  # type: ignore[no-untyped-def]
    write_checks(pytester, """
        import pytest

        @pytest.mark.clause("6.1.a")
        def test_ok():
            pass
    """)
    result = pytester.runpytest(f"--sca-target={target_file}", "checks")
    assert result.ret == 0
    assert verdicts(read_report(pytester)) == {"6.1.a": "pass"}


def test_a_missing_field_is_named_not_a_bare_key_error() -> None:
    """A check reading a field the target's answer lacks ends ``error`` naming the field and
    where it was read, never a bare ``KeyError: 'status'``."""
    from pytest_sca.outcome import phase_verdict
    from pytest_sca.verdicts import Verdict

    answer: dict[str, str] = {"id": "job-1"}
    try:
        answer["status"]
    except KeyError:
        info = pytest.ExceptionInfo.from_current()
    verdict, reason = phase_verdict(info)
    assert verdict is Verdict.ERROR
    assert reason.startswith("the target's answer has no field 'status'"), reason
    assert "KeyError" not in reason
