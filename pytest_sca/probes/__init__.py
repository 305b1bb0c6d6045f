"""Probes: self-contained workload scripts shipped to the target, each printing ONE JSON line.

A probe runs wherever the target runs work (a platform job, an SSH node, the sandbox):
its source travels in the command itself (``python -c <source>``) and its arguments in the
``SCA_PROBE_ARGS`` environment variable, so no file has to reach the target first.

| probe | measures |
|---|---|
| ``gemm`` | matmul (fp32/bf16/fp16/tf32 where supported), attention, conv: TFLOP/s best/median |
| ``train`` | a small LM and a small vision model: FLOPs per step, per-step stage times, epochs |
| ``paced`` | a fixed-work sub-task (CPU GEMMs, or a simulated card's device time) |
| ``allreduce`` | all-reduce between ranks: algbw, busbw over sizes; or each rank's sum (verify) |

The package also holds in-process probes other chapters import (``tls``,
``personal_data``); only the scripts above are shipped to a target.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROBES_DIR = Path(__file__).parent
NAMES = ("gemm", "train", "paced", "allreduce")
ARGS_VARIABLE = "SCA_PROBE_ARGS"


class ProbeOutputMissing(Exception):
    """The probe's output holds no result line (it crashed, or its logs were lost)."""


#: A probe's import of a shared module marked so is replaced by that module's source
#: (``from pytest_sca.probes.host import cpu_info  # sca: inline``): see ``probes/host.py``.
_INLINE = re.compile(r"^from pytest_sca\.probes\.(\w+) import [\w, ]+  # sca: inline$",
                     re.MULTILINE)


def source(name: str) -> str:
    """The probe's Python source, self-contained: what it imports ``# sca: inline`` is in it."""
    if name not in NAMES:
        raise ValueError(f"unknown probe {name!r}: {', '.join(NAMES)}")
    text = (PROBES_DIR / f"{name}.py").read_text(encoding="utf-8")
    return _INLINE.sub(
        lambda m: (PROBES_DIR / f"{m.group(1)}.py").read_text(encoding="utf-8"), text)


def module(name: str, args: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Probe ``name``'s module namespace with ``args`` (its ``main()`` not run): its sizes and
    helpers as a run with those arguments would see them, for tests and benchmarks."""
    namespace: dict[str, Any] = {"__name__": f"sca_probe_{name}"}
    previous = os.environ.get(ARGS_VARIABLE)
    os.environ[ARGS_VARIABLE] = json.dumps(dict(args or {}))
    try:
        exec(source(name), namespace)  # noqa: S102 - our own probe, not as __main__
    finally:
        if previous is None:
            del os.environ[ARGS_VARIABLE]
        else:
            os.environ[ARGS_VARIABLE] = previous
    return namespace


def job_spec(name: str, args: Mapping[str, Any] | None = None,
             env: Mapping[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """``(command, env)`` of a job that runs probe ``name`` with ``args``."""
    merged = {**(env or {}), ARGS_VARIABLE: json.dumps(dict(args or {}))}
    return ["python", "-c", source(name)], merged


def parse_result(output: str, name: str) -> dict[str, Any]:
    """The probe's JSON result line in ``output`` (the last one, if it printed several)."""
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line.startswith("{") and f'"probe": "{name}"' in line:
            try:
                result = json.loads(line)
            except ValueError:
                continue
            if result.get("probe") == name:
                return dict(result)
    tail = output.strip().splitlines()[-3:]
    raise ProbeOutputMissing(f"no {name} probe result in the output (last lines: {tail})")


def run_here(name: str, args: Mapping[str, Any] | None = None, timeout: float = 120.0,
             env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run probe ``name`` in a local subprocess (the sandbox's way, and the tests'); its result."""
    command, extra = job_spec(name, args, env)
    completed = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True,
                               timeout=timeout, env={**os.environ, **extra}, check=False)
    if completed.returncode != 0:
        raise ProbeOutputMissing(f"probe {name} exited {completed.returncode}: "
                                 f"{completed.stderr.strip()[-500:]}")
    return parse_result(completed.stdout, name)
