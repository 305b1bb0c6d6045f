"""Fixtures for the sandbox's own tests: real sandboxes on loopback, stopped afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from .helpers import RunningSandbox, start_sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    """One healthy sandbox shared by a test module."""
    running = start_sandbox()
    try:
        yield running
    finally:
        running.process.stop()


@pytest.fixture
def faulty_sandbox() -> Iterator[Callable[[str], RunningSandbox]]:
    """Start sandboxes with one fault each; all stopped at the end of the test."""
    started: list[RunningSandbox] = []

    def start(fault: str) -> RunningSandbox:
        running = start_sandbox((fault,))
        started.append(running)
        return running

    try:
        yield start
    finally:
        for running in started:
            running.process.stop()
