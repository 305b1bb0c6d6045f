"""The reference platform's composition root: :class:`SandboxPlatform` builds every service.

Each service gets what it depends on as constructor arguments, here and
nowhere else; the API's routers (``routes_*.py``) only translate HTTP into
calls on the services this object holds. Life cycle: build, :meth:`initialise`
the state, :meth:`start` the background work, :meth:`close`.
"""

from __future__ import annotations

from pathlib import Path

from pytest_sca.sandbox.audit import AuditLog
from pytest_sca.sandbox.auth import Permissions
from pytest_sca.sandbox.billing import Billing
from pytest_sca.sandbox.compute import Compute
from pytest_sca.sandbox.devmachines import DevMachines
from pytest_sca.sandbox.devtools import DevTools, JobSeries
from pytest_sca.sandbox.faults import Faults
from pytest_sca.sandbox.inventory import seed_inventory
from pytest_sca.sandbox.jobs import JobRunner
from pytest_sca.sandbox.metrics import MetricsExporter
from pytest_sca.sandbox.modelhub import ModelHub
from pytest_sca.sandbox.monitoring import Monitoring
from pytest_sca.sandbox.netiso import TenantNetworks
from pytest_sca.sandbox.oci import Registry
from pytest_sca.sandbox.operations import Operations
from pytest_sca.sandbox.perf import PerfArea
from pytest_sca.sandbox.s3 import ObjectStorage
from pytest_sca.sandbox.security_center import SecurityCenter
from pytest_sca.sandbox.services import ServiceManager
from pytest_sca.sandbox.store import Store, utc_now
from pytest_sca.sandbox.tenancy import Tenancy
from pytest_sca.sandbox.training import TrainingController
from pytest_sca.sandbox.workflows import WorkflowEngine


class SandboxPlatform:
    """Every service of the platform, over one state directory, wired together."""

    def __init__(self, state_dir: Path, faults: Faults,
                 storage: ObjectStorage | None = None, hosts_dir: Path | None = None) -> None:
        self.state_dir = state_dir
        #: The simulated hosts' directories (their homes, the shared file system): the state
        #: directory unless the sandbox gives them one of their own.
        self.hosts_dir = hosts_dir or state_dir
        self.faults = faults
        #: The object storage tenants' buckets live in (``None``: files in the state dir).
        self.storage = storage
        self.store = Store(state_dir / "platform.sqlite3")
        self.permissions = Permissions(faults)
        self.audit = AuditLog(self.store, faults)
        self.networks = TenantNetworks(faults)
        self.runner = JobRunner(self.store, state_dir / "jobs", faults, self.networks)
        self.compute = Compute(self.store, self.permissions, faults, self.hosts_dir)
        self.tenancy = Tenancy(self.store, self.permissions, self.runner, self.compute, storage)
        self.billing = Billing(self.store, self.permissions, faults)
        self.training = TrainingController(self.store, self.runner, self.permissions,
                                           self.tenancy, storage, state_dir / "training", faults)
        self.series = JobSeries(self.store, faults)
        self.devmachines = DevMachines(self.store, self.permissions, self.tenancy, self.runner,
                                       state_dir / "devmachines", faults)
        self.devtools = DevTools(self.store, faults, state_dir, self.runner.jobs_dir)
        self.services = ServiceManager(self.store, self.runner, self.permissions, faults)
        self.modelhub = ModelHub(self.store, self.tenancy, storage, state_dir, faults)
        self.workflows = WorkflowEngine(self.store, state_dir / "comfyui", faults)
        self.registry = Registry(self.store, state_dir / "registry" / "blobs", faults)
        self.perf = PerfArea(self.store, state_dir, faults)
        self.metrics = MetricsExporter(self.store, self.runner, state_dir, faults)
        self.monitoring = Monitoring(self.store, self.metrics, state_dir, faults)
        self.operations = Operations(self.store, self.runner, faults)
        self.security = SecurityCenter(self.store, self.permissions, self.audit, faults)
        # Controllers that follow the jobs they launched, in every tick of the job monitor.
        self.runner.add_tick_listener(self.series.sample)
        self.runner.add_tick_listener(self.training.reconcile)

    # life cycle -----------------------------------------------------------------------------

    def initialise(self) -> None:
        """Seed a fresh store (inventory, tenants, admin key) or keep what a restart finds;
        then apply the inventory faults and mount the nodes' shared file system."""
        with self.store.lock:
            if self.store.get_meta("seeded") is None:
                seed_inventory(self.store)
                self.tenancy.seed()
                self.store.set_meta("seeded", utc_now())
        self.compute.apply_inventory_faults()
        self.compute.mount_shared_filesystem()

    def start(self) -> None:
        """Start the background work: the job monitor, preset models, fault disturbances,
        the workflow queue."""
        self.runner.start()
        self.modelhub.start_serving()
        self.perf.start()
        self.workflows.start()

    @property
    def admin_api_key(self) -> str:
        """The platform admin's bearer token (kept in state so restarts reuse it)."""
        return self.tenancy.admin_api_key

    def close(self) -> None:
        """Stop the background work, dev machines and every job, then close the store."""
        self.perf.close()
        self.workflows.close()
        self.devmachines.close()
        self.runner.close()
        self.networks.close()
        self.store.close()
