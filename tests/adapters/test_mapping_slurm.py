"""slurmrestd, a real job API nobody here wrote, evaluated through a mapping only.

A real single-host Slurm cluster (slurm_cluster.py: munged, slurmctld, two slurmd,
slurmrestd with JWT) runs the jobs; ``targets/slurmrestd-jobs.yaml`` maps the ``jobs``
operations onto slurmrestd v0.0.38: an argv turned into a batch script, labels kept in
the job's comment and filtered after listing, an asynchronous cancel polled until the
job ended, a 500 that means "no such job" turned into a 404, JWT headers. No Slurm code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_sca.capabilities import RUN_LABEL, Refused

from .helpers import MakeAdapter, expand_env, unique
from .slurm_cluster import SlurmCluster, missing

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "targets" / "slurmrestd-jobs.yaml"
SMALL = {"cpu": 1, "memory_gib": 0.25, "accelerators": 0}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[SlurmCluster]:
    reason = missing()
    if reason:
        pytest.skip(reason)
    # Not under pytest's base temp (mode 0700): slurmrestd runs as nobody and reads the
    # configuration from here.
    folder = Path(tempfile.mkdtemp(prefix="sca-mapping-slurm-"))
    folder.chmod(0o755)
    running = SlurmCluster(folder)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _target(cluster: SlurmCluster) -> dict[str, Any]:
    """The shipped target file, its constants pointed at this cluster's job folder and at
    this Python (the checks' probes run ``python``)."""
    target: dict[str, Any] = yaml.safe_load(TARGET.read_text())
    constants = target["adapters"]["platform"]["constants"]
    constants["workdir"] = str(cluster.workdir)
    constants["path"] = f"{Path(sys.executable).parent}:{constants['path']}"
    return target


def _env(cluster: SlurmCluster) -> dict[str, str]:
    return {"SLURMRESTD_URL": cluster.url, "SLURM_JWT": cluster.token,
            "SLURM_USER": cluster.user}


def test_jobs_capability_through_the_mapping(cluster: SlurmCluster,
                                             make_adapter: MakeAdapter) -> None:
    platform = expand_env(_target(cluster)["adapters"]["platform"], _env(cluster))
    slurm = make_adapter(platform)
    jobs = slurm.jobs
    assert jobs.probe_image() == "host"

    failing = jobs.submit(unique("exit3"), "host", ["python", "-c",
                                                   'print("it\'s here"); raise SystemExit(3)'],
                          SMALL, labels={"team": "ml"})
    assert failing["labels"] == {"team": "ml", RUN_LABEL: slurm.context.run_id}
    assert failing["status"] in ("pending", "running") and failing["created_at"].endswith("Z")
    ended = jobs.wait(failing["id"], timeout=60)
    assert (ended["status"], ended["exit_code"]) == ("failed", 3)
    assert ended["finished_at"] and ended["resources"]["cpu"] == 1
    assert "it's here" in (cluster.workdir / f"sca-{failing['id']}.out").read_text()

    pair = jobs.submit(unique("pair"), "host", ["python", "-c",
                                                "import os; print(os.environ['RANK'], "
                                                "os.environ['WORLD_SIZE'])"], SMALL, workers=2)
    assert jobs.wait(pair["id"], timeout=60)["status"] == "succeeded"
    ranks = (cluster.workdir / f"sca-{pair['id']}.out").read_text().split("\n")
    assert sorted(line for line in ranks if line) == ["0 2", "1 2"]

    sleeper = jobs.submit(unique("sleeper"), "host", ["sleep", "300"], SMALL)
    jobs.wait(sleeper["id"], until={"running"}, timeout=60)
    assert jobs.stop(sleeper["id"])["status"] == "stopped"  # the cancel was polled to its end

    mine = jobs.list_jobs(label=f"{RUN_LABEL}={slurm.context.run_id}")
    assert {j["id"] for j in mine} == {failing["id"], pair["id"], sleeper["id"]}
    assert {j["id"] for j in jobs.list_jobs(status="failed", label=f"{RUN_LABEL}="
                                            f"{slurm.context.run_id}")} == {failing["id"]}
    with pytest.raises(Refused) as unknown:
        jobs.get("999999")
    assert (unknown.value.status, unknown.value.code) == (404, "not_found")
    jobs.delete(sleeper["id"])  # cancelled already: nothing more to do

    # A killed run's running job is found by its label (in the comment) and cancelled.
    killed = make_adapter(platform)
    left = killed.jobs.submit(unique("left"), "host", ["sleep", "300"], SMALL)
    killed.jobs.wait(left["id"], until={"running"}, timeout=60)
    assert killed.sweep(killed.context.run_id) == []
    assert jobs.get(left["id"])["status"] == "stopped"


def test_the_shipped_checks_reach_verdicts_on_slurm(cluster: SlurmCluster,
                                                    tmp_path: Path) -> None:
    target = tmp_path / "slurmrestd-jobs.yaml"
    target.write_text(yaml.safe_dump(_target(cluster), allow_unicode=True))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", f"--sca-target={target}", "-p", "no:cacheprovider",
         "-m", "chapter6 or chapter7", "--sca-json=report.json", "-q"],
        cwd=tmp_path, env={**os.environ, **_env(cluster)}, capture_output=True, text=True,
        timeout=900)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    verdicts = {i["id"]: (i["verdict"], i["reason"]) for i in report["items"]}
    by_verdict: dict[str, set[str]] = {}
    for item, (verdict, _) in verdicts.items():
        by_verdict.setdefault(verdict, set()).add(item)
    # Status and events with timestamps (events: the job record's own times).
    assert by_verdict.get("pass") == {"7.2.d"}, verdicts
    # slurmrestd's inventory names no accelerator vendor or model (gres "gpu:2"): honest fails
    # (6.4.a: no node with accelerators whose series to look for).
    assert by_verdict.get("fail") == {"6.2.a", "6.2.e", "6.4.a"}, verdicts
    # The 6.5.a and 6.5.c checks raise TargetError when the inventory lists no accelerators
    # (no free card to place a probe on).
    assert by_verdict.get("error", set()) <= {"6.5.a", "6.5.c"}, verdicts
    assert cluster.token not in result.stdout + json.dumps(report)
