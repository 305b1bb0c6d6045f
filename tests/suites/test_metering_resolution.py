"""6.2.g reads a usage record's run time to the record's own resolution (answers written
here, no platform): Slurm's accounting writes whole seconds, so a 2.3 s run can be 3 s."""

from __future__ import annotations

from pytest_sca.capabilities import UsageRecord
from pytest_sca.suites.chapter06_scheduling.test_6_02_compute import _record_resolution


def test_whole_second_intervals_and_run_times_are_read_to_a_second() -> None:
    slurm: UsageRecord = {"start": "2026-11-30T17:00:01Z", "end": "2026-11-30T17:00:04Z",
                          "run_seconds": 3}
    assert _record_resolution(slurm) == 1.0
    assert _record_resolution({"run_seconds": 3.0}) == 1.0


def test_fractional_intervals_leave_no_extra_slack() -> None:
    fine: UsageRecord = {"start": "2026-11-30T17:00:01.250Z",
                         "end": "2026-11-30T17:00:03.310Z", "run_seconds": 2.06}
    assert _record_resolution(fine) == 0.001
    assert _record_resolution({"run_seconds": 2.06}) == 0.001
