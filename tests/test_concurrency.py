"""Checks side by side under pytest-xdist: a check that measures or disturbs runs alone."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

import pytest

from pytest_sca import options
from pytest_sca.concurrency import CheckLock, runs_alone
from pytest_sca.suites.chapter09_performance import (
    test_9_1_operators,
    test_9_2_training,
    test_9_3_cluster,
    test_9_4_1_diagnosis,
    test_9_4_2_stability,
)

from .conftest import read_report, write_checks


def _holds_in_a_thread(lock: CheckLock, alone: bool) -> threading.Event:
    """Another worker's check taking ``lock`` (in a thread: it may wait); set once it holds."""
    held = threading.Event()

    def take() -> None:
        lock.acquire(alone=alone)
        held.set()

    threading.Thread(target=take, daemon=True).start()
    return held


def test_a_check_that_runs_alone_excludes_the_others(tmp_path: Path) -> None:
    """Two workers' holds on one lock (two open files, as two processes have): a shared
    hold waits while an exclusive one is held, and gets in once it is released."""
    alone, beside = CheckLock(tmp_path), CheckLock(tmp_path)
    alone.acquire(alone=True)
    entered = _holds_in_a_thread(beside, alone=False)
    assert not entered.wait(0.3), "a check ran beside one that runs alone"
    alone.release()
    assert entered.wait(10), "the other check never got in after the lone one finished"
    beside.close()
    alone.close()


def test_ordinary_checks_share_the_lock(tmp_path: Path) -> None:
    one, two = CheckLock(tmp_path), CheckLock(tmp_path)
    one.acquire(alone=False)
    assert _holds_in_a_thread(two, alone=False).wait(10), (
        "two ordinary checks could not run side by side")
    one.close()
    two.close()


class _Marked:
    """An item with these markers (``runs_alone`` reads only markers)."""

    def __init__(self, *markers: str) -> None:
        self.markers = set(markers)

    def get_closest_marker(self, name: str) -> object | None:
        return name if name in self.markers else None


def test_which_checks_run_alone() -> None:
    assert runs_alone(_Marked("measuring")) and runs_alone(_Marked("disruptive"))  # type: ignore[arg-type]
    assert not runs_alone(_Marked("chapter6", "scheduling", "mutating"))  # type: ignore[arg-type]
    assert not runs_alone(_Marked("performance", "chapter9"))  # type: ignore[arg-type]


#: The chapter 9 checks that go side by side: what they observe no other check's load moves.
CHAPTER9_SIDE_BY_SIDE = {"9.4.2.b", "9.4.2.c", "9.4.2.d"}
CHAPTER9_MODULES = (test_9_1_operators, test_9_2_training, test_9_3_cluster, test_9_4_1_diagnosis,
                    test_9_4_2_stability)


def test_chapter9_checks_that_measure_say_so() -> None:
    """Every chapter 9 check runs alone but the three that measure nothing: a new chapter 9
    check must choose (``measuring``, or a place in this list with why)."""
    side_by_side = set()
    for module in CHAPTER9_MODULES:
        for name, check in vars(module).items():
            marks = {mark.name: mark for mark in getattr(check, "pytestmark", [])}
            if name.startswith("test_") and "clause" in marks \
                    and not runs_alone(_Marked(*marks)):  # type: ignore[arg-type]
                side_by_side.add(marks["clause"].args[0])
    assert side_by_side == CHAPTER9_SIDE_BY_SIDE


def test_a_parametrization_id_is_no_marker(pytester: pytest.Pytester) -> None:
    """A case whose id reads like a marker (``[disruptive]``) does not run alone for it."""
    [item] = pytester.getitems(
        "import pytest\n\n"
        "@pytest.mark.parametrize('mode', ['disruptive'])\n"
        "def test_mode(mode):\n    pass\n")
    assert "disruptive" in item.keywords and not runs_alone(item)


CHECKS = """
import os
import time

import pytest

LOG = os.environ["SCA_TEST_LOG"]


def _span(name, seconds):
    start = time.monotonic()
    time.sleep(seconds)
    with open(LOG, "a") as log:
        log.write(f"{name} {start} {time.monotonic()}\\n")


@pytest.mark.clause("9.1.a")
@pytest.mark.measuring
def test_measures(sca):
    _span("alone", 1.0)


@pytest.mark.clause("6.3.c")
@pytest.mark.measuring
def test_measures_too(sca):
    _span("alone", 1.0)


@pytest.mark.clause("6.1.a")
@pytest.mark.parametrize("n", range(8))
def test_ordinary(sca, n):
    _span("ordinary", 0.3)
"""


@pytest.mark.slow
def test_under_xdist_measuring_checks_run_alone(pytester: pytest.Pytester, target_file: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """With two workers the ordinary checks run side by side, and nothing runs while a
    measuring check does; the report names the checks that ran alone."""
    log = pytester.path / "spans.log"
    monkeypatch.setenv("SCA_TEST_LOG", str(log))
    write_checks(pytester, CHECKS)
    result = pytester.runpytest_subprocess(f"--sca-target={target_file}", "checks", "-n", "2",
                                           "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()[-3000:]
    spans = [(name, float(a), float(b)) for name, a, b in
             (line.split() for line in log.read_text().splitlines())]
    lone = [s for s in spans if s[0] == "alone"]
    assert len(lone) == 2 and len(spans) == 10
    for _, start, end in lone:
        beside = [s for s in spans if s[1] < end and s[2] > start and (s[1], s[2]) != (start, end)]
        assert not beside, f"checks ran beside a measuring check: {beside}"
    ordinary = sorted(s[1:] for s in spans if s[0] == "ordinary")
    assert any(b[0] < a[1] for a, b in zip(ordinary, ordinary[1:], strict=False)), \
        "the ordinary checks never ran side by side"
    report = read_report(pytester)
    assert report["run"]["workers"] == 2
    assert [n.rsplit("::", 1)[1] for n in report["run"]["ran_alone"]] == [
        "test_measures", "test_measures_too"]
    result.stdout.fnmatch_lines(["checks ran side by side on 2 workers; 2 ran alone*"])


def _parsed(**given: object) -> argparse.Namespace:
    """The command line as pytest has parsed it when its plugins are loaded (xdist's
    defaults: no workers, no distribution)."""
    option = {"sca_target": "sandbox", "numprocesses": None, "dist": "no", "tx": [],
              "distload": False, "collectonly": False, "usepdb": False, "sca_list": False}
    return argparse.Namespace(**{**option, **given})


@pytest.mark.parametrize(("given", "xdist", "expected"), [
    ({}, True, ["-n", str(options.SANDBOX_WORKERS)]),
    ({}, False, []),                                  # pytest-xdist not installed, or -p no:xdist
    ({"sca_target": "platform.yaml"}, True, []),      # a real platform: the evaluator chooses
    ({"sca_target": None}, True, []),
    ({"numprocesses": 0}, True, []),                  # -n 0: one after another
    ({"numprocesses": 2}, True, []),
    ({"dist": "loadfile"}, True, []),
    ({"collectonly": True}, True, []),
    ({"usepdb": True}, True, []),
    ({"sca_list": True}, True, []),
    ({"stepwise": True}, True, []),
])
def test_a_sandbox_evaluation_runs_side_by_side_unless_told(
        given: dict[str, object], xdist: bool, expected: list[str]) -> None:
    assert options.default_workers(_parsed(**given), xdist) == expected
