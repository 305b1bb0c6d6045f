"""Safety: cleanup after failures and interruptions, read-only and disruptive gates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import read_report, verdicts, write_checks

INTERRUPTIBLE = """
import pathlib
import time

import pytest

WORK = pathlib.Path(__file__).parent.parent / "platform"


@pytest.mark.clause("6.1.a")
@pytest.mark.mutating
def test_creates_then_hangs(sca, cleanup):
    WORK.mkdir(exist_ok=True)
    for name in ("tenant", "job"):
        resource = WORK / f"{sca.name(name)}"
        resource.write_text("created by the run")
        cleanup.add(f"delete {resource.name}", resource.unlink)
    (WORK / "ready").write_text(sca.run_id)
    time.sleep(60)


@pytest.mark.clause("6.1.b")
def test_never_reached():
    pass
"""


def _run_until_ready(pytester: pytest.Pytester, target_file: Path,
                     platform: Path) -> subprocess.Popen[str]:
    """Start the evaluation of ``checks`` and wait (30 s at most) until its check wrote
    ``platform/ready``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", f"--sca-target={target_file}", "checks",
         "-p", "no:cacheprovider"],
        cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while not (platform / "ready").exists():
        if process.poll() is not None or time.monotonic() >= deadline:
            process.kill()
            output = process.communicate()[0]
            raise AssertionError(f"the check never started:\n{output}")
        time.sleep(0.05)
    return process


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_run_still_cleans_up(pytester: pytest.Pytester, target_file: Path,
                                         signum: int) -> None:
    write_checks(pytester, INTERRUPTIBLE)
    platform = pytester.path / "platform"
    platform.mkdir()
    (platform / "not-ours").write_text("a tenant the run did not create")
    process = _run_until_ready(pytester, target_file, platform)
    try:
        created = sorted(p.name for p in platform.iterdir() if p.name.startswith("sca-"))
        assert len(created) == 2
        os.kill(process.pid, signum)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    left = sorted(p.name for p in platform.iterdir())
    assert left == ["not-ours", "ready"], f"left behind: {left}\n{output}"
    report = read_report(pytester)
    # The interrupted check did not finish, the other never ran: both are in the report.
    assert verdicts(report) == {"6.1.a": "error", "6.1.b": "error"}
    reasons = {item["id"]: item["reason"] for item in report["items"]}
    assert "interrupted" in reasons["6.1.b"]
    assert "Traceback" not in output


SLOW_TO_UNDO = """
import pathlib
import time

import pytest

WORK = pathlib.Path(__file__).parent.parent / "platform"


@pytest.mark.clause("6.1.a")
@pytest.mark.mutating
def test_creates_then_hangs(sca, cleanup):
    WORK.mkdir(exist_ok=True)
    resource = WORK / sca.name("tenant")
    resource.write_text("created by the run")

    def undo_slowly():
        (WORK / "undoing").write_text("")
        time.sleep(2)
        resource.unlink()

    cleanup.add(f"delete {resource.name}", undo_slowly)
    (WORK / "ready").write_text(sca.run_id)
    time.sleep(60)
"""


@pytest.mark.slow
def test_a_second_ctrl_c_waits_for_cleanup_without_a_traceback(
        pytester: pytest.Pytester, target_file: Path) -> None:
    write_checks(pytester, SLOW_TO_UNDO)
    platform = pytester.path / "platform"
    platform.mkdir()
    process = _run_until_ready(pytester, target_file, platform)
    try:
        os.kill(process.pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while not (platform / "undoing").exists():
            assert time.monotonic() < deadline, "cleanup never started"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGINT)  # impatient: again, during the cleanup
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "Traceback" not in output, output
    assert "still undoing" in output
    assert sorted(p.name for p in platform.iterdir()) == ["ready", "undoing"], output
    assert verdicts(read_report(pytester)) == {"6.1.a": "error"}


def test_cleanup_runs_in_reverse_order_after_a_failure(pytester: pytest.Pytester,
                                                       target_file: Path) -> None:
    write_checks(pytester, """
        import pytest

        ORDER = []

        @pytest.mark.clause("6.1.a")
        def test_fails_after_creating(cleanup):
            for name in ("tenant", "user", "job"):
                cleanup.add(f"delete {name}", lambda name=name: ORDER.append(name))
            assert False, "[6.1.a] tenant B read tenant A's job"

        @pytest.mark.clause("6.1.b")
        def test_order():
            assert ORDER == ["job", "user", "tenant"]
    """)
    pytester.runpytest(f"--sca-target={target_file}", "checks", "-p", "no:randomly")
    assert verdicts(read_report(pytester)) == {"6.1.a": "fail", "6.1.b": "pass"}


GATED = """
import pytest

@pytest.mark.clause("6.1.a")
def test_reads():
    pass

@pytest.mark.clause("6.1.b")
@pytest.mark.mutating
def test_creates():
    pass

@pytest.mark.clause("6.6.c")
@pytest.mark.disruptive
def test_takes_a_link_down():
    pass
"""


@pytest.mark.parametrize(("flags", "expected"), [
    ((), {"6.1.a": ("pass", ""), "6.1.b": ("pass", ""),
          "6.6.c": ("not_assessed", "disruptive check: run with --sca-disruptive to allow it")}),
    (("--sca-disruptive",), {"6.1.a": ("pass", ""), "6.1.b": ("pass", ""),
                             "6.6.c": ("pass", "")}),
    (("--sca-readonly",), {
        "6.1.a": ("pass", ""),
        "6.1.b": ("not_assessed", "read-only run (--sca-readonly): this check changes the target"),
        "6.6.c": ("not_assessed", "read-only run (--sca-readonly): this check changes the target"),
    }),
    (("--sca-readonly", "--sca-disruptive"), {
        "6.1.a": ("pass", ""),
        "6.1.b": ("not_assessed", "read-only run (--sca-readonly): this check changes the target"),
        "6.6.c": ("not_assessed", "read-only run (--sca-readonly): this check changes the target"),
    }),
], ids=["default", "disruptive", "readonly", "readonly-wins"])
def test_readonly_and_disruptive_gates(pytester: pytest.Pytester, target_file: Path,
                                       flags: tuple[str, ...],
                                       expected: dict[str, tuple[str, str]]) -> None:
    write_checks(pytester, GATED)
    pytester.runpytest(f"--sca-target={target_file}", "checks", *flags)
    report = read_report(pytester)
    assert {i["id"]: (i["verdict"], i["reason"]) for i in report["items"]} == expected
    assert report["run"]["readonly"] == ("--sca-readonly" in flags)


def test_run_id_is_printed_and_reported(pytester: pytest.Pytester, target_file: Path) -> None:
    write_checks(pytester, GATED)
    result = pytester.runpytest(f"--sca-target={target_file}", "checks", "--sca-run-id=nightly-42")
    result.stdout.fnmatch_lines(["sca: run id nightly-42"])
    assert read_report(pytester)["run"]["id"] == "nightly-42"
    bad = pytester.runpytest(f"--sca-target={target_file}", "--sca-run-id=a b")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
