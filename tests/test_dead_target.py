"""A platform whose every endpoint is dead: the evaluation ends soon, and says nothing false.

Issue 16.3: each item is ``error`` (could not find out) or ``not_assessed``, none ``pass``
or ``fail``, and the whole run ends within two minutes.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _closed_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for probe in sockets:
        probe.bind(("127.0.0.1", 0))
    ports = [int(probe.getsockname()[1]) for probe in sockets]
    for probe in sockets:
        probe.close()  # nothing listens there any more: every connection is refused
    return ports


def _dead_target(path: Path) -> None:
    p = _closed_ports(7)
    path.write_text(f"""\
name: dead-platform
standard: saia-aicloud-2025-04-29
adapters:
  platform: {{url: "https://127.0.0.1:{p[0]}/", token: tok-0123456789}}
  s3: {{endpoint: "https://127.0.0.1:{p[1]}", access_key: AKIAAAAAAAAAAAAAAAAA,
        secret_key: secret-0123456789, bucket: sca-probe}}
  prometheus: {{url: "https://127.0.0.1:{p[2]}/"}}
  openai: {{base_url: "https://127.0.0.1:{p[3]}/v1", api_key: sk-0123456789}}
  comfyui: {{url: "https://127.0.0.1:{p[4]}/"}}
  registry: {{url: "https://127.0.0.1:{p[5]}/"}}
  ssh:
    nodes: [{{name: n1, host: 127.0.0.1, port: {p[6]}, user: sca, password: pw-0123456789}}]
""", encoding="utf-8")


@pytest.mark.slow
def test_a_dead_platform_gets_no_pass_no_fail_within_two_minutes(tmp_path: Path) -> None:
    target, report = tmp_path / "dead.yaml", tmp_path / "report.json"
    _dead_target(target)
    began = time.monotonic()
    run = subprocess.run(
        # Preflight off: every check meets the dead endpoints itself (the next test: on).
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-p", "no:xdist",
         "--sca-preflight=off", f"--sca-target={target}", f"--sca-json={report}",
         "--rootdir", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    took = time.monotonic() - began
    assert report.exists(), run.stdout[-2000:] + run.stderr[-2000:]
    items = json.loads(report.read_text(encoding="utf-8"))["items"]
    verdicts = Counter(item["verdict"] for item in items)
    wrong = {item["id"]: (item["verdict"], str(item.get("reason"))[:200])
             for item in items if item["verdict"] in ("pass", "fail")}
    assert not wrong, f"a dead platform got verdicts it cannot have earned: {wrong}"
    assert set(verdicts) <= {"error", "not_assessed"}, verdicts
    assert len(items) >= 97
    assert took < 120, f"the evaluation of a dead platform took {took:.0f} s"


@pytest.mark.slow
def test_with_the_preflight_a_dead_platform_is_reported_unevaluated_at_once(
        tmp_path: Path) -> None:
    target, report = tmp_path / "dead.yaml", tmp_path / "report.json"
    _dead_target(target)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-p", "no:xdist",
         f"--sca-target={target}", f"--sca-json={report}", "--rootdir", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 6, run.stdout[-2000:] + run.stderr[-2000:]
    assert "no adapter is usable" in run.stdout
    items = json.loads(report.read_text(encoding="utf-8"))["items"]
    assert len(items) >= 97
    assert {item["verdict"] for item in items} == {"error"}
    assert all(item["reason"].startswith("not evaluated: the preflight") for item in items)
