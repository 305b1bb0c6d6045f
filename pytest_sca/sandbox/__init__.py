"""The embedded reference AI platform: ``python -m pytest_sca.sandbox serve``.

A small but real platform on loopback: REST API (FastAPI, state in SQLite),
jobs that run as local processes, an S3 server (moto), SSH nodes (asyncssh)
and Prometheus metrics. Hardware the machine lacks is simulated and every
answer about it says ``simulated: true``. Start it from Python with
:func:`launch`; the faults it can misbehave with are the members of :class:`Fault`.
"""

from __future__ import annotations

from pytest_sca.sandbox.faults import Fault
from pytest_sca.sandbox.launcher import SandboxProcess, SandboxStartError, launch

__all__ = ["Fault", "SandboxProcess", "SandboxStartError", "launch"]
