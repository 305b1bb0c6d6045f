"""The harness's pytest plugin (``-p pytest_sca.mutate.recorder``).

It tells the proxies which check runs, so that each operator's changes are counted against
the check that saw them, and bounds each check: past its limit (from the unchanged run's
durations, in the file :data:`LIMITS_ENV` names) the check is ended with :class:`TimeLimit`
and the harness told, so that one check waiting on a changed answer does not use up the
whole run. Without :data:`CONTROL_ENV` the plugin does nothing.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from collections.abc import Generator
from types import FrameType
from typing import Any

import pytest

CONTROL_ENV = "SCA_MUTATE_CONTROL"
LIMITS_ENV = "SCA_MUTATE_LIMITS"
#: The limit of a check the unchanged run did not time.
DEFAULT_LIMIT = 120.0
#: The control endpoint is on loopback: never through an HTTP proxy of the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_limits: dict[str, float] | None = None


class TimeLimit(BaseException):
    """A check ran past the harness's limit (a BaseException: checks do not swallow it)."""


def _tell(what: str, nodeid: str) -> None:
    base = os.environ.get(CONTROL_ENV)
    if not base:
        return
    request = urllib.request.Request(
        f"{base}/{what}", data=json.dumps({"nodeid": nodeid}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with _OPENER.open(request, timeout=10) as answer:
        answer.read()


def _limit_of(nodeid: str) -> float:
    global _limits
    if _limits is None:
        path = os.environ.get(LIMITS_ENV)
        _limits = json.loads(open(path).read()) if path else {}  # noqa: SIM115
    return float(_limits.get(nodeid, DEFAULT_LIMIT))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Generator[None, None, None]:
    if not os.environ.get(CONTROL_ENV) or not hasattr(signal, "setitimer"):
        yield
        return
    limit = _limit_of(item.nodeid)

    def expire(signum: int, frame: FrameType | None) -> None:
        _tell("limit", item.nodeid)
        raise TimeLimit(f"mutation harness: check ran past its limit of {limit:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def pytest_runtest_logstart(nodeid: str, location: object) -> None:
    _tell("start", nodeid)


def pytest_runtest_logfinish(nodeid: str, location: object) -> None:
    _tell("finish", nodeid)
