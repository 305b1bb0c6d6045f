"""The plugin drives the sandbox: `--sca-target=sandbox` starts it, evaluates it, stops it."""

from __future__ import annotations

import os
import re
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from pytest_sca import providers
from pytest_sca.options import SANDBOX_WORKERS

from .conftest import read_report, verdicts


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that contain ``text`` (the process table)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def _state_dir(output: str) -> str:
    match = re.search(r"sca: sandbox started, state in (\S+)", output)
    assert match, output
    return match.group(1)


@pytest.mark.slow
def test_sandbox_run_starts_evaluates_and_leaves_nothing_running(
        pytester: pytest.Pytester) -> None:
    # Items that start the sandbox's processes (a job, a development machine behind SSH):
    # the checks' own verdicts are the chapter tests' concern, the run's life cycle is here.
    result = pytester.runpytest_subprocess(
        "--sca-target=sandbox", "-p", "no:cacheprovider", "-n", "0",
        "-m", "clause(id='6.1.a') or clause(id='7.1.a') or clause(id='7.2.d')")
    out = result.stdout.str()
    state = _state_dir(out)
    assert "sca evaluation: sandbox" in out
    report = read_report(pytester)
    assert verdicts(report) == {"6.1.a": "pass", "7.1.a": "pass", "7.2.d": "pass"}, out[-3000:]
    assert report["target"]["name"] == "sandbox"
    assert not _processes_mentioning(state), "sandbox processes left running"
    assert not Path(state).exists(), "the temporary state folder was left behind"


@pytest.mark.slow
def test_sandbox_with_xdist_is_started_once(pytester: pytest.Pytester) -> None:
    """Without ``-n`` a sandbox evaluation runs side by side (``-n 0`` above: one after
    another); the workers share the one sandbox the controller started."""
    result = pytester.runpytest_subprocess("--sca-target=sandbox", "-m",
                                           "clause(subdomain='6.1')", "-p", "no:cacheprovider")
    out = result.stdout.str()
    assert f"created: {SANDBOX_WORKERS}/{SANDBOX_WORKERS} workers" in out, out[-3000:]
    assert f"checks ran side by side on {SANDBOX_WORKERS} workers" in out
    assert out.count("sca: sandbox started") == 1
    assert verdicts(read_report(pytester)) == {"6.1.a": "pass", "6.1.b": "pass", "6.1.c": "pass"}
    assert not _processes_mentioning(_state_dir(out))


@pytest.mark.slow
def test_target_file_can_start_the_sandbox_with_faults_and_evidence(
        pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", broken="""
        name: broken-sandbox
        sandbox: {faults: [quota_not_enforced]}
        waivers:
          "6.1.c": {reason: "accepted for the demo", expires: 2099-01-01}
    """)
    pytester.runpytest_subprocess("--sca-target=broken.yaml", "-m", "clause(subdomain='6.1')")
    report = read_report(pytester)
    assert report["target"]["name"] == "broken-sandbox"
    assert verdicts(report) == {"6.1.a": "pass", "6.1.b": "fail", "6.1.c": "waived"}


@pytest.mark.slow
def test_state_folder_keeps_the_platform_across_runs(pytester: pytest.Pytester,
                                                     tmp_path: Path) -> None:
    state = tmp_path / "state"
    pytester.makefile(".yaml", kept=f"name: kept\nsandbox: {{state: {state}}}\n")
    for _ in range(2):
        result = pytester.runpytest_subprocess("--sca-target=kept.yaml", "-m",
                                               "clause(id='6.1.a')")
        assert verdicts(read_report(pytester)) == {"6.1.a": "pass"}, result.stdout.str()
    assert (state / "platform.sqlite3").is_file()
    assert not _processes_mentioning(str(state))


@pytest.mark.slow
@pytest.mark.parametrize(("args", "message"), [
    (["--sca-target=sandbox", "--sca-sandbox-fault=gremlins"],
     "ERROR: sandbox: sandbox.faults: unknown sandbox fault 'gremlins': known faults are*"),
    (["--sca-target=t.yaml", "--sca-sandbox-fault=logs_dropped"],
     "ERROR: --sca-sandbox-fault needs --sca-target=sandbox"),
])
def test_bad_sandbox_options_are_one_line_errors(pytester: pytest.Pytester, args: list[str],
                                                 message: str) -> None:
    pytester.makefile(".yaml", t="name: t\n")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


@pytest.mark.slow
def test_sandbox_credentials_are_masked_like_any_secret(pytester: pytest.Pytester) -> None:
    checks = pytester.path / "checks" / "test_leak.py"
    checks.parent.mkdir()
    checks.write_text(
        "import os, pathlib\nimport pytest\n\n"
        "@pytest.mark.clause('6.1.a')\n"
        "def test_leak(sca):\n"
        "    token = sca.target.adapters['platform'].token\n"
        "    # handed to the test through a file, which is no output of the suite\n"
        "    pathlib.Path('token.txt').write_text(os.environ['SCA_SANDBOX_TOKEN'])\n"
        "    print('token is', token)\n"
        "    sca.evidence('token', token)\n"
        "    assert not token, f'token {token}'\n", encoding="utf-8")
    result = pytester.runpytest_subprocess("--sca-target=sandbox", "checks",
                                           "--junitxml=junit.xml", "-o", "junit_logging=all")
    token = (pytester.path / "token.txt").read_text()
    assert len(token) > 8
    outputs = {"terminal": result.stdout.str() + result.stderr.str(),
               "json": (pytester.path / "reports" / "sca-report.json").read_text(),
               "junit": (pytester.path / "junit.xml").read_text()}
    assert "token is ***" in outputs["junit"]
    for name, text in outputs.items():
        assert token not in text, f"the sandbox token leaked into {name}"


@pytest.mark.slow
def test_disruptive_checks_run_on_the_throwaway_sandbox(pytester: pytest.Pytester) -> None:
    """The sandbox exists only for the run: disruptive checks need no consent flag there
    (on a real target they do: tests/test_safety.py), serially and on xdist workers."""
    for extra in (["-n", "0"], ["-n", "2"]):
        # Two of the quickest disruptive checks (6.6.c took 7 s of each run).
        result = pytester.runpytest_subprocess("--sca-target=sandbox", "-m",
                                               "clause(id='6.5.b') or clause(id='7.3.c')",
                                               *extra)
        report = read_report(pytester)
        assert verdicts(report) == {"6.5.b": "pass", "7.3.c": "pass"}, result.stdout.str()
        assert report["run"]["disruptive"] is True


def test_the_sandbox_is_found_through_its_target_provider_entry_point() -> None:
    from pytest_sca.sandbox.launcher import PROVIDER

    provider = providers.load_provider("sandbox")
    assert provider is PROVIDER
    assert isinstance(provider, providers.TargetProvider)


def test_a_provider_that_is_not_installed_is_a_one_line_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "entry_points", lambda group: [])
    with pytest.raises(providers.ProviderUnavailable,
                       match=r"^the sandbox is not available: install pytest-sca\[sandbox\]$"):
        providers.load_provider("sandbox")
    broken = EntryPoint("sandbox", "pytest_sca_no_such_module:PROVIDER",
                        providers.ENTRY_POINT_GROUP)
    monkeypatch.setattr(providers, "entry_points", lambda group: [broken])
    with pytest.raises(providers.ProviderUnavailable,
                       match=r"^the sandbox is not available: No module named "
                             r"'pytest_sca_no_such_module': install pytest-sca\[sandbox\]$"):
        providers.load_provider("sandbox")


@pytest.mark.slow
def test_without_the_sandbox_provider_the_plugin_says_what_to_install(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(hide_providers="""
        import pytest_sca.providers

        pytest_sca.providers.entry_points = lambda group: []
    """)
    result = pytester.runpytest_subprocess("-p", "hide_providers", "--sca-target=sandbox")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: sandbox: the sandbox is not available: install pytest-sca[sandbox]"])
    assert "Traceback" not in result.stderr.str()
