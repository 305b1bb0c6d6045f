"""Classification, scores and the floor of the mutation report, on made-up runs."""

from __future__ import annotations

from typing import Any

from pytest_sca.mutate import report
from pytest_sca.mutate.harness import Run

TESTS = {"8.1.a": ["a.py::t1"], "8.1.b": ["a.py::t2"], "9.1.a": ["b.py::t3"],
         "9.1.b": ["b.py::t4"]}
CHAPTERS = {"8.1.a": 8, "8.1.b": 8, "9.1.a": 9, "9.1.b": 9}
DONE = [n for nodeids in TESTS.values() for n in nodeids]


def make(operator: str, verdicts: dict[str, str], fired: dict[str, dict[str, int]],
         **kwargs: Any) -> Run:
    return Run(operator=operator, seconds=1.0, exit_code=0,
               timed_out=kwargs.pop("timed_out", False), restarted=False,
               verdicts=verdicts, chapters=CHAPTERS, tests=TESTS, fired=fired,
               finished=kwargs.pop("finished", DONE), **kwargs)


BASELINE = make("none", {"8.1.a": "pass", "8.1.b": "pass", "9.1.a": "pass", "9.1.b": "fail"},
                {})


def test_statuses_and_scores() -> None:
    drop = make("drop_field", {"8.1.a": "fail", "8.1.b": "pass", "9.1.a": "error",
                               "9.1.b": "fail"},
                {"a.py::t1": {"drop_field": 2}, "a.py::t2": {"drop_field": 1}})
    slow = make("delay", {"8.1.a": "pass", "8.1.b": "error", "9.1.a": "error",
                          "9.1.b": "fail"},
                {"a.py::t2": {"delay": 1}, "b.py::t3": {"delay": 3}}, limited=["b.py::t3"])
    built = report.build(BASELINE, [drop, slow], {"target": "x"})
    status = {item: {op: o["status"] for op, o in entry["operators"].items()}
              for item, entry in built["items"].items()}
    assert status == {
        "8.1.a": {"drop_field": "detected", "delay": "not_applicable"},
        "8.1.b": {"drop_field": "survived", "delay": "detected"},
        "9.1.a": {"drop_field": "unexplained", "delay": "time_limit"},
    }
    assert built["excluded"] == {"9.1.b": "fail"}
    assert built["chapters"]["8"] == {"detected": 2, "detected_fail": 1, "applicable": 3,
                                      "score": 0.667,
                                      "time_limit": 0, "inconclusive": 0, "unexplained": 0}
    assert built["chapters"]["9"]["score"] is None
    assert built["chapters"]["all"]["detected"] == 2
    table = report.render(built)
    assert "8.1.a   F  .   drop_field" in table and "8.1.b   s  E   delay" in table
    assert "67 %" in table


def test_a_run_that_ended_early_leaves_its_unfinished_items_inconclusive() -> None:
    cut = make("truncate_lists", {"8.1.a": "fail", "8.1.b": "error"},
               {"a.py::t1": {"truncate_lists": 1}, "a.py::t2": {"truncate_lists": 1}},
               finished=["a.py::t1"], timed_out=True)
    built = report.build(BASELINE, [cut], {})
    assert built["items"]["8.1.a"]["operators"]["truncate_lists"]["status"] == "detected"
    assert built["items"]["8.1.b"]["operators"]["truncate_lists"]["status"] == "inconclusive"


def test_floor() -> None:
    drop = make("drop_field", {"8.1.a": "fail", "8.1.b": "fail", "9.1.a": "pass"},
                {"a.py::t1": {"drop_field": 1}, "a.py::t2": {"drop_field": 1}})
    recorded = report.build(BASELINE, [drop], {})
    assert report.below_floor(recorded, recorded) == []
    weaker = make("drop_field", {"8.1.a": "fail", "8.1.b": "pass", "9.1.a": "pass"},
                  {"a.py::t1": {"drop_field": 1}, "a.py::t2": {"drop_field": 1}})
    now = report.build(BASELINE, [weaker], {})
    problems = report.below_floor(now, recorded)
    assert any(p.startswith("chapter 8: score 0.500 below the recorded 1.000") for p in problems)
    assert "8.1.b: detects 0 operator(s), recorded 1 (no longer: drop_field)" in problems
    assert report.below_floor(now, recorded, tolerance=0.5) == [
        "8.1.b: detects 0 operator(s), recorded 1 (no longer: drop_field)"]


def test_a_floor_of_two_runs_keeps_only_what_both_detected() -> None:
    """An operator one run caught and the other missed is not part of the floor, and either
    run passes it."""
    caught = make("drop_field", {"8.1.a": "fail", "8.1.b": "fail", "9.1.a": "pass"},
                  {"a.py::t1": {"drop_field": 1}, "a.py::t2": {"drop_field": 1}})
    missed = make("drop_field", {"8.1.a": "fail", "8.1.b": "pass", "9.1.a": "pass"},
                  {"a.py::t1": {"drop_field": 1}, "a.py::t2": {"drop_field": 1}})
    one, other = (report.build(BASELINE, [run], {}) for run in (caught, missed))
    floor = report.floor_of([one, other])
    assert floor["items"]["8.1.a"]["operators"]["drop_field"]["status"] == "detected"
    assert floor["items"]["8.1.b"]["operators"]["drop_field"]["status"] == "survived"
    assert floor["chapters"]["8"]["score"] == 0.5
    assert report.below_floor(one, floor) == report.below_floor(other, floor) == []
    assert report.below_floor(other, one) != []
