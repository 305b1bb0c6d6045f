"""A target with only an ``openai`` adapter: which items reach a verdict, and that each
newly reachable item fails against a server that breaks it.

The server is the OpenAI API double (``tests/adapters/openai_double.py``, written to
OpenAI's API reference: no real server here serves files, fine-tuning or usage); the
evaluation runs in a subprocess with ``--sca-json``, as a user runs it.
``tests/adapters/test_inference_llamacpp.py`` runs the same kind of target against
llama.cpp's real server.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..adapters.openai_double import ADMIN_KEY, KEY_A, KEY_B, PRINCIPALS, DoubleServer

#: Items an OpenAI-compatible API alone can reach (docs/chapter08.md, "Model-as-a-service").
REACHABLE = {"7.4.a", "7.4.b", "8.1.a", "8.1.b", "8.2.a", "8.2.b", "8.3.a", "8.3.b", "10.1.a"}
#: With a second key and the user id usage counts it under: usage per user, model, period;
#: and tenant data isolation along the files route (10.1.b: the second key's reads).
REACHABLE_WITH_OTHER_KEY = REACHABLE | {"8.8.a", "8.8.b", "10.1.b"}


def target_file(folder: Path, base_url: str, *, other_key: bool = True,
                console: str | None = None) -> Path:
    """An openai-only target file; keys by ${VAR}, as a user writes them."""
    section: dict[str, Any] = {"base_url": base_url, "api_key": "${DOUBLE_KEY}",
                               "admin_key": "${DOUBLE_ADMIN_KEY}", "timeout": 30}
    if other_key:
        section["other_key"] = "${DOUBLE_OTHER_KEY}"
        section["other_user_id"] = PRINCIPALS[KEY_B][1]
    if console:
        section["console_url"] = console
    document = {"name": "openai-double", "standard": "saia-aicloud-2025-04-29",
                "adapters": {"openai": section},
                # The double meters each answer as it is sent.
                "capabilities": {"finetune": {"timeout_s": 30}, "usage": {"max_delay_s": 5}}}
    path = folder / "target.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def evaluate(folder: Path, target: Path, items: Iterable[str] = (),
             preflight: bool = True) -> dict[str, Any]:
    """``pytest --sca-target=FILE`` (on ``items``, or everything); the JSON report.
    ``preflight=False`` lets the checks meet a dead endpoint themselves."""
    selection = " or ".join(f"clause(id='{i}')" for i in sorted(items))
    command = [sys.executable, "-m", "pytest", f"--sca-target={target}", "-p",
               "no:cacheprovider", "--sca-json=report.json", "-q",
               *([] if preflight else ["--sca-preflight=off"]),
               *(["-m", selection] if selection else [])]
    env = {**os.environ, "DOUBLE_KEY": KEY_A, "DOUBLE_OTHER_KEY": KEY_B,
           "DOUBLE_ADMIN_KEY": ADMIN_KEY}
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600,
                            env=env)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    for key in (KEY_A, KEY_B, ADMIN_KEY):
        assert key not in result.stdout + result.stderr, "a key appeared in the output"
    report = (folder / "report.json").read_text(encoding="utf-8")
    assert all(key not in report for key in (KEY_A, KEY_B, ADMIN_KEY)), "a key in the report"
    return json.loads(report)  # type: ignore[no-any-return]


def verdicts(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {i["id"]: (i["verdict"], i["reason"]) for i in report["items"]}


@pytest.fixture
def double() -> Iterator[DoubleServer]:
    server = DoubleServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_openai_only_target_reaches_its_items(tmp_path: Path, double: DoubleServer) -> None:
    """The whole catalogue against an openai-only target: the reachable items reach a verdict
    (and pass where the server conforms), every other item is not_assessed, and what the
    run created is gone from the server."""
    report = verdicts(evaluate(tmp_path, target_file(tmp_path, double.base_url,
                                                     console=double.url + "/")))
    assert len(report) == 97
    reached = {item for item, (verdict, _) in report.items() if verdict != "not_assessed"}
    assert reached == REACHABLE_WITH_OTHER_KEY, {
        i: report[i] for i in reached ^ REACHABLE_WITH_OTHER_KEY}
    # All pass on a conforming server but 10.1.a: the double is plain HTTP on loopback.
    wrong = {i: report[i] for i in reached - {"10.1.a"} if report[i][0] != "pass"}
    assert not wrong, wrong
    assert report["10.1.a"][0] == "fail" and "plain HTTP" in report["10.1.a"][1]
    assert "import" in report["8.4.a"][1], report["8.4.a"]
    assert not double.double.files and not double.double.tuned, "the run left files or models"
    assert all(job.status in ("succeeded", "cancelled") for job in double.double.jobs.values())


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_unreachable_endpoint_passes_nothing(tmp_path: Path) -> None:
    """With nothing listening at base_url, no item passes: the reachable ones are error (or
    fail), never pass, never not_assessed-as-if-absent."""
    base = f"http://127.0.0.1:{_closed_port()}"
    report = verdicts(evaluate(tmp_path, target_file(tmp_path, base + "/v1",
                                                     console=base + "/"), preflight=False))
    passed = {i for i, (v, _) in report.items() if v == "pass"}
    assert not passed, passed
    unreached = {i: report[i] for i in REACHABLE if report[i][0] not in ("error", "fail")}
    assert not unreached, unreached


#: Newly reachable item → (what the double does wrong, words its fail reason contains). The
#: faults of one group break only their own item, so a group runs in one evaluation.
BREAKS = {
    "8.1.b": ("model_info_missing", "lack basic information"),
    "8.3.b": ("finetuned_model_not_served", "does not answer"),
    "7.4.a": ("console_down", "not an HTML page"),
    "7.4.b": ("errors_leak_traces", "stack trace"),
}
#: The job's failure also leaves 8.3.b without a model: its own run.
BREAKS_ALONE = {"8.3.a": ("finetune_fails", "ended failed")}
#: Metering that misses every other request breaks both usage items (the second key's); a
#: checkpoint whose metrics lag its step breaks 8.3.a alone (its log still shows the loss
#: going down).
BREAKS_USAGE = {"8.8.a": ("usage_undercounted", "usage rose by"),
                "8.8.b": ("usage_undercounted", "rose by"),
                "8.3.a": ("checkpoint_metrics_lag", "checkpoints report other losses")}


@pytest.mark.slow
@pytest.mark.parametrize("breaks", [BREAKS, BREAKS_ALONE, BREAKS_USAGE],
                         ids=["grouped", "8.3.a", "usage-and-metrics"])
def test_items_fail_against_a_server_that_breaks_them(
        tmp_path: Path, breaks: dict[str, tuple[str, str]]) -> None:
    server = DoubleServer(frozenset(fault for fault, _ in breaks.values())).start()
    try:
        report = verdicts(evaluate(tmp_path, target_file(tmp_path, server.base_url,
                                                         console=server.url + "/"), breaks))
    finally:
        server.stop()
    wrong = {item: report[item] for item, (_, words) in breaks.items()
             if report[item][0] != "fail" or not report[item][1].startswith(f"[{item}]")
             or words not in report[item][1]}
    assert not wrong, wrong


@pytest.mark.slow
def test_a_job_reporting_no_loss_leaves_8_3_a_undecided(tmp_path: Path) -> None:
    """A job whose events and checkpoints carry no loss: 8.3.a cannot tell that it learned
    from the data, so it is error, never pass or fail."""
    server = DoubleServer(frozenset({"finetune_logs_empty"})).start()
    try:
        report = verdicts(evaluate(tmp_path, target_file(tmp_path, server.base_url), {"8.3.a"}))
    finally:
        server.stop()
    verdict, reason = report["8.3.a"]
    assert verdict == "error" and "0 loss values in the job's trainer log" in reason, reason


@pytest.mark.slow
def test_an_absent_endpoint_makes_its_items_not_assessed(tmp_path: Path) -> None:
    """A server without fine-tuning (OpenAI's 404 "Invalid URL") gives not_assessed naming
    it, never error; the file the check uploaded first is removed all the same."""
    server = DoubleServer(absent=frozenset({"fine_tuning"})).start()
    try:
        report = verdicts(evaluate(tmp_path, target_file(tmp_path, server.base_url),
                                   {"8.3.a", "8.3.b"}))
        assert not server.double.files
    finally:
        server.stop()
    for item in ("8.3.a", "8.3.b"):
        verdict, reason = report[item]
        assert verdict == "not_assessed" and "serves no fine-tuning" in reason, (item, reason)


#: 10.1.b along the files route: each way another principal could reach the probe file, and
#: the double's fault that opens that way (and only it, but for the shared files' deletion).
FILE_LEAKS = {"anonymous-read": "file_content_without_key",
              "other-tenant-read": "files_shared_between_projects",
              "other-tenant-list": "files_listed_across_projects",
              "other-tenant-delete": "files_deleted_across_projects"}


@pytest.mark.slow
@pytest.mark.parametrize("way", list(FILE_LEAKS))
def test_exposed_tenant_files_fail_10_1_b(tmp_path: Path, way: str) -> None:
    """A server that lets another principal reach a tenant's file fails 10.1.b, in the case
    of that way; the run's probe files are gone from the server all the same."""
    server = DoubleServer(frozenset({FILE_LEAKS[way]})).start()
    try:
        report = evaluate(tmp_path, target_file(tmp_path, server.base_url), {"10.1.b"})
        assert not server.double.files, "the run left its probe files"
    finally:
        server.stop()
    item = next(i for i in report["items"] if i["id"] == "10.1.b")
    failed = {t["nodeid"].rsplit("[", 1)[-1].rstrip("]"): t["reason"] for t in item["tests"]
              if t["outcome"] == "fail"}
    assert item["verdict"] == "fail" and way in failed, (item["verdict"], item["reason"])
    assert failed[way].startswith("[10.1.b] tenant data is exposed"), failed[way]
