"""A real Slurm cluster for the Slurm adapter's tests: one per test process.

Each pytest-xdist worker starts its own cluster (≈ 3 s with MariaDB and slurmdbd): the
fault tests reconfigure it (``scontrol reconfigure``, ``sacctmgr``, a slurmctld restart)
and restore it, which must not disturb a test of another worker. Tests of one worker run
one after another, so they share that worker's cluster.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import SlurmConfig
from pytest_sca.adapters.slurm import SlurmAdapter

from .cluster import PRINCIPAL, SlurmCluster, missing_packages

needs_slurm = pytest.mark.skipif(
    bool(missing_packages()) or os.geteuid() != 0,
    reason="needs root and Debian's slurmctld slurmd slurmrestd munge slurm-client "
           "slurm-wlm-jwt-plugin slurmdbd mariadb-server (see README's test command)")


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """The cluster of this test process, stopped (every daemon, by PID) at the end."""
    if missing_packages() or os.geteuid() != 0:
        pytest.skip(f"no Slurm here (missing {missing_packages()}) or not root")
    # Not under pytest's tmp folders: those are 0700 and the probe users must reach the jobs'.
    folder = Path(tempfile.mkdtemp(prefix="sca-slurm-"))
    cluster = SlurmCluster(folder)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm_token(slurm_cluster: SlurmCluster) -> str:
    """The principal's JWT."""
    return slurm_cluster.token(PRINCIPAL)


@pytest.fixture
def slurm_adapter(slurm_cluster: SlurmCluster, slurm_token: str) -> Iterator[SlurmAdapter]:
    """The adapter over the cluster, as the evaluation's principal; what a test created
    through it is undone (its ledger swept) and it is closed afterwards."""
    settings = {**slurm_cluster.adapter_settings(), "token": slurm_token}
    context = AdapterContext("slurm-test", None, f"t{os.getpid()}-{os.urandom(3).hex()}")
    adapter = SlurmAdapter(SlurmConfig.model_validate(settings), context)
    try:
        yield adapter
    finally:
        failures = context.ledger.sweep()
        adapter.close()
        assert not failures, failures
