"""Reach of the shipped Slurm example target: with every endpoint at a closed loopback port,
the whole evaluation gives a verdict other than ``not_assessed`` (here: ``error``, nothing
answers) to every item a configured adapter serves — at least 40 of the 97 — and passes
none. No Slurm is needed: reach is what the target's adapters claim to serve."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from .cluster import free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "targets" / "slurm-example.yaml"
#: Items the example target must reach (a verdict other than not_assessed).
MINIMUM_REACH = 40
#: Items a Slurm cluster alone brings to a verdict (the healthy cluster's verdicts in
#: test_evaluation.py; docs/slurm.md, "Items"); the example reaches more.
SLURM_ONLY = {"6.1.a", "6.1.b", "6.1.c", "6.2.a", "6.2.b", "6.2.e", "6.2.g", "6.5.a",
              "6.5.b", "6.5.d", "6.5.e", "6.6.a", "6.6.b", "6.6.d", "6.8.a", "6.8.b", "7.2.a",
              "7.2.b", "7.2.c", "7.2.d", "7.2.f", "7.3.c", "7.4.b", "9.1.a", "9.2.a", "9.2.b",
              "9.3.a", "9.4.2.a", "9.4.2.b", "9.4.2.c", "10.2.c"}


def _local_files(value: Any, folder: Path) -> Any:
    """``value`` with each home path (``~/.ssh/sca_ed25519``) an empty file under ``folder``:
    target files are validated at load, and the keys and known_hosts they name must exist
    (the user who copies the example has them; tests/test_target.py does the same)."""
    if isinstance(value, dict):
        return {key: _local_files(item, folder) for key, item in value.items()}
    if isinstance(value, list):
        return [_local_files(item, folder) for item in value]
    if isinstance(value, str) and value.startswith("~/"):
        file = folder / "home" / value[2:]
        file.parent.mkdir(parents=True, exist_ok=True)
        file.touch()
        return str(file)
    return value


def _closed(example: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The example with every address at a closed loopback port and short timeouts, and its
    local files existing."""
    example = _local_files(example, folder)
    adapters = example["adapters"]
    closed = f"127.0.0.1:{free_port()}"
    adapters["slurm"].update(url=f"http://{closed}/", timeout=2)
    known_hosts = folder / "known_hosts"
    known_hosts.write_text("")
    host, port = closed.split(":")
    adapters["slurm"]["login"].update(host=host, port=int(port), known_hosts=str(known_hosts))
    adapters["ssh"].update(known_hosts=str(known_hosts), timeout=2)
    for node in adapters["ssh"]["nodes"]:
        node.update(host=host, port=int(port))
    adapters["s3"]["endpoint"] = f"http://{closed}/"
    adapters["prometheus"].update(url=f"http://{closed}/", timeout=2)
    adapters["openai"].update(base_url=f"http://{closed}/v1", timeout=2)
    capabilities = example.setdefault("capabilities", {})
    capabilities.setdefault("perf", {})["availability"] = {"seconds": 1, "rate_per_s": 5}
    return example


def evaluate_closed(folder: Path) -> dict[str, str]:
    """Run the whole evaluation of the closed example; item → verdict."""
    text = EXAMPLE.read_text(encoding="utf-8")
    target = folder / "slurm-example.yaml"
    # In the example's order: the first adapter that serves a capability serves it.
    target.write_text(yaml.safe_dump(_closed(yaml.safe_load(text), folder), sort_keys=False),
                      encoding="utf-8")
    dummies = {name: f"dummy-{name.lower()}-value" for name in re.findall(r"\$\{(\w+)\}", text)}
    report = folder / "report.json"
    command = [sys.executable, "-m", "pytest", "-p", "pytest_sca.plugin",
               f"--sca-target={target}", "-p", "no:cacheprovider", f"--sca-json={report}",
               "--sca-disruptive",
               # Nothing answers on purpose: the preflight would end the run before the checks.
               "--sca-preflight=off"]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
                                 **dummies})
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(report.read_text(encoding="utf-8"))
    return {item["id"]: item["verdict"] for item in data["items"]}


@pytest.mark.slow
def test_example_target_reaches_forty_items_and_passes_none(tmp_path: Path) -> None:
    verdicts = evaluate_closed(tmp_path)
    assert len(verdicts) == 97
    reached = {item for item, verdict in verdicts.items() if verdict != "not_assessed"}
    counts = Counter(verdicts.values())
    assert "pass" not in counts, [i for i, v in verdicts.items() if v == "pass"]
    assert len(reached) >= MINIMUM_REACH, (len(reached), sorted(reached), counts)
    slurm_only = SLURM_ONLY - reached
    assert not slurm_only, f"items a Slurm cluster reaches, the example not: {slurm_only}"
