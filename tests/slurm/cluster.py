"""A real Slurm cluster on one host, for the Slurm adapter's tests (no mocks of Slurm).

munged, MariaDB + slurmdbd, slurmctld, four slurmd (``n1``–``n4``, one host, distinct
ports, fake GPUs made with ``mknod``), slurmrestd with JWT on loopback and an OpenSSH
sshd as the login node, all in the foreground under one folder, stopped by PID.
Verified recipe: /work/shared/design/local-components.md, section "Slurm".

The cluster is built for the checks it serves (see :data:`NODES`):

- partitions ``gpu`` (n1, n2: NVIDIA A100, each card in 4 shards) and ``npu`` (n3, n4:
  Huawei Ascend 910B, Cambricon MLU370, Hygon K100) — two "clusters", each with card models
  of its own; the default partition ``all`` holds every node (multi-node jobs of any card);
  the single Hygon card makes the smallest one-node pool (priority, gang checks);
- a cloud node ``n5`` (power saving, never resumed) in partition ``cloud``: the burst policy;
- two leaf switches under a spine (``topology/tree``): the links of a job's topology;
- QOS ``normal`` (priority 0, DenyOnLimit: a job over its account's quota is refused),
  ``mid`` (priority 50) and ``high`` (priority 100): the queue is ordered by QOS priority;
  no QOS preempts another (6.5.b watches queued jobs wait behind a running one);
- ``PrivateData=jobs,usage,users,accounts``: a user sees only its own work;
- probe users (Unix accounts ``scaprobe1``…) the adapter hands to the tenants it creates,
  and the evaluation's principal ``scaeval`` (Slurm administrator).

Faults are configuration: :meth:`SlurmCluster.reconfigure` rewrites slurm.conf lines and
runs ``scontrol reconfigure`` (or restarts slurmctld for settings that need it).
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

SLURM_PACKAGES = ("slurmctld", "slurmd", "slurmrestd", "munged", "slurmdbd", "mariadbd")
PRINCIPAL = "scaeval"
PROBE_USERS = tuple(f"scaprobe{n}" for n in range(1, 7))
ACCOUNT = "sca-eval"

#: node → (its own partition, GPU types with counts, shards of each of its cards).
NODES: dict[str, tuple[str, dict[str, int], int]] = {
    "n1": ("gpu", {"a100": 2}, 4),
    "n2": ("gpu", {"a100": 2}, 4),
    "n3": ("npu", {"ascend910b": 2}, 0),
    "n4": ("npu", {"mlu370": 1, "k100": 1}, 0),
}
#: The default partition holds every node (multi-node jobs of any card); a cloud node the
#: cluster bursts onto (power saving, never resumed here) has a partition of its own.
DEFAULT_PARTITION = "all"
CLOUD_NODE, CLOUD_PARTITION, CLOUD_WEIGHT = "n5", "cloud", 100
NODE_CPUS = 4
NODE_MEMORY_MB = 16384

#: slurm.conf settings a fault may replace (key → line value); the rest is fixed.
SETTINGS: dict[str, str] = {
    "PrivateData": "jobs,usage,users,accounts",
    "PriorityType": "priority/multifactor",
    "PriorityWeightQOS": "100000",
    "PriorityWeightAge": "0",
    "PriorityWeightFairshare": "0",
    "PriorityWeightJobSize": "0",
    "PriorityWeightPartition": "0",
    "PreemptType": "preempt/qos",
    "PreemptMode": "REQUEUE",
    "AccountingStorageEnforce": "associations,limits,qos,safe",
    "SchedulerType": "sched/backfill",
    "SchedulerParameters": "sched_interval=1,bf_interval=1",
    "JobAcctGatherType": "jobacct_gather/linux",
    "JobAcctGatherFrequency": "task=1",
    "AccountingStorageTRES": "gres/gpu",
    "TaskProlog": "",
}
#: A small, fast MariaDB: a test database needs no durability.
MARIADB_OPTIONS = ("--innodb-buffer-pool-size=32M", "--innodb-log-file-size=4M",
                   "--skip-log-bin", "--innodb-flush-log-at-trx-commit=0",
                   "--innodb-doublewrite=0")
#: Keys of :attr:`SlurmCluster.settings` that shape the node table, not slurm.conf lines.
PSEUDO = frozenset({"CloudNodes"})
#: Settings slurmctld reads only when it starts.
RESTART_SETTINGS = frozenset({"PreemptType", "PriorityType", "SchedulerType",
                              "JobAcctGatherType", "AccountingStorageType",
                              "AccountingStorageEnforce", "AccountingStorageTRES",
                              "CloudNodes"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing_packages() -> list[str]:
    """The Slurm programs this machine lacks (apt: see README's test command)."""
    return [name for name in SLURM_PACKAGES
            if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").exists()]


def ensure_unix_users(names: tuple[str, ...]) -> None:
    """Create the Unix accounts jobs run as (Slurm resolves a job's user with getpwnam)."""
    for name in names:
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/bash",
                            name], check=True, capture_output=True, timeout=30)


def _replace(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a running slurmd re-reads its configuration when the
    controller restarts, and a file caught half-written (gres.conf empty) kills it."""
    part = path.with_name(path.name + ".part")
    part.write_text(text)
    os.replace(part, path)


@dataclass
class SlurmCluster:
    """One running cluster; :meth:`start`, use, :meth:`stop`."""

    folder: Path
    #: The node table (:data:`NODES`, or a variant: a card model ``""`` is an untyped GPU).
    nodes: dict[str, tuple[str, dict[str, int], int]] = field(
        default_factory=lambda: dict(NODES))
    settings: dict[str, str] = field(default_factory=lambda: dict(SETTINGS))
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    # --- layout -------------------------------------------------------------------------------

    @property
    def conf(self) -> Path:
        return self.folder / "etc" / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['rest']}"

    @property
    def jobs_dir(self) -> Path:
        return self.folder / "jobs"

    def _write_configs(self) -> None:
        folder = self.folder
        for sub in ("etc", "state", "spool", "log", "db", "dev", "jobs", "run"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(folder / "jobs", 0o1777)
        os.chmod(folder, 0o755)
        for key, size in (("munge.key", 1024), ("jwt.key", 32)):
            if not (folder / "etc" / key).exists():  # a reconfiguration keeps the keys
                (folder / "etc" / key).write_bytes(os.urandom(size))
                os.chmod(folder / "etc" / key, 0o600)
        gres, node_lines = [], []
        host = socket.gethostname()
        for name, (_, cards, shards) in self.nodes.items():
            index = 0
            parts = []
            for model, count in cards.items():
                for _ in range(count):
                    device = folder / "dev" / f"{name}-nvidia{index}"
                    if not device.exists():
                        os.mknod(device, 0o666 | 0o020000, os.makedev(1, 3))
                    typed = f" Type={model}" if model else ""
                    gres.append(f"NodeName={name} Name=gpu{typed} File={device}")
                    if shards:
                        gres.append(f"NodeName={name} Name=shard Count={shards} File={device}")
                    index += 1
                parts.append(f"gpu:{model}:{count}" if model else f"gpu:{count}")
            if shards:
                parts.append(f"shard:{shards * index}")
            node_lines.append(
                f"NodeName={name} NodeHostname={host} NodeAddr=127.0.0.1 "
                f"Port={self.ports[name]} CPUs={NODE_CPUS} RealMemory={NODE_MEMORY_MB} "
                f"Gres={','.join(parts)} State=UNKNOWN")
        if self.settings.get("CloudNodes", "yes") == "yes":
            node_lines.append(f"NodeName={CLOUD_NODE} CPUs={NODE_CPUS} "
                              f"RealMemory={NODE_MEMORY_MB} Weight={CLOUD_WEIGHT} State=CLOUD")
        _replace(folder / "etc" / "gres.conf", "AutoDetect=off\n" + "\n".join(gres) + "\n")
        # Two leaf switches under a spine: the job topology's links (topology/tree).
        leaves = {f"leaf-{p}": n for p, n in self._own_partitions().items()}
        _replace(folder / "etc" / "topology.conf", "".join(
            f"SwitchName={leaf} Nodes={','.join(nodes)}\n" for leaf, nodes in leaves.items())
            + f"SwitchName=spine Switches={','.join(leaves)}\n")
        partitions = self._own_partitions()
        partition_lines = [f"PartitionName={p} Nodes={','.join(n)} MaxTime=60 State=UP"
                           for p, n in partitions.items()]
        partition_lines.append(f"PartitionName={DEFAULT_PARTITION} Nodes={','.join(self.nodes)} "
                               "Default=YES MaxTime=60 State=UP")
        if self.settings.get("CloudNodes", "yes") == "yes":
            partition_lines.append(f"PartitionName={CLOUD_PARTITION} Nodes={CLOUD_NODE} "
                                   "MaxTime=60 State=UP")
        sock = folder / "run" / "munge.sock"
        _replace(self.conf, "\n".join([
            "ClusterName=sca",
            "SlurmctldHost=localhost",
            f"SlurmctldPort={self.ports['ctld']}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            f"AuthInfo=socket={sock},cred_expire=5",
            "CredType=cred/munge",
            "AuthAltTypes=auth/jwt",
            f"AuthAltParameters=jwt_key={folder / 'etc' / 'jwt.key'}",
            f"StateSaveLocation={folder / 'state'}",
            f"SlurmdSpoolDir={folder / 'spool'}/%n",
            f"SlurmctldPidFile={folder / 'run' / 'slurmctld.pid'}",
            f"SlurmdPidFile={folder / 'run'}/slurmd-%n.pid",
            f"SlurmctldLogFile={folder / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={folder / 'log'}/slurmd-%n.log",
            "SlurmdParameters=config_overrides",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "ReturnToService=2",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "GresTypes=gpu,shard",
            "TopologyPlugin=topology/tree",
            # Cloud nodes need power saving; nothing is ever suspended or resumed here.
            "SuspendProgram=/bin/true",
            "ResumeProgram=/bin/true",
            "SuspendTime=INFINITE",
            "AccountingStorageType=accounting_storage/slurmdbd",
            "AccountingStorageHost=127.0.0.1",
            f"AccountingStoragePort={self.ports['dbd']}",
            f"AccountingStoragePass={sock}",
            "JobCompType=jobcomp/none",
            "MinJobAge=300",
            "KillWait=2",
            "InactiveLimit=0",
            "MessageTimeout=10",
            "SlurmctldTimeout=10",
            "SlurmdTimeout=30",
            "JobRequeue=1",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            *(f"{k}={v}" for k, v in self.settings.items() if v != "" and k not in PSEUDO),
            *node_lines,
            *partition_lines,
        ]) + "\n")
        _replace(folder / "etc" / "slurmdbd.conf", "\n".join([
            "AuthType=auth/munge",
            f"AuthInfo=socket={sock}",
            "DbdHost=localhost",
            "DbdAddr=127.0.0.1",
            f"DbdPort={self.ports['dbd']}",
            "SlurmUser=root",
            f"LogFile={folder / 'log' / 'slurmdbd.log'}",
            f"PidFile={folder / 'run' / 'slurmdbd.pid'}",
            "StorageType=accounting_storage/mysql",
            "StorageHost=127.0.0.1",
            f"StoragePort={self.ports['mysql']}",
            "StorageUser=root",
            "StorageLoc=slurm_acct_db",
            "AuthAltTypes=auth/jwt",
            f"AuthAltParameters=jwt_key={folder / 'etc' / 'jwt.key'}",
            "PrivateData=jobs,usage,users,accounts",
        ]) + "\n")
        os.chmod(folder / "etc" / "slurmdbd.conf", 0o600)

    def _own_partitions(self) -> dict[str, list[str]]:
        partitions: dict[str, list[str]] = {}
        for name, (partition, _, _) in self.nodes.items():
            partitions.setdefault(partition, []).append(name)
        return partitions

    def script(self, name: str, text: str) -> str:
        """Write an executable script under the cluster's etc folder (a prolog, say)."""
        path = self.folder / "etc" / name
        path.write_text(text)
        os.chmod(path, 0o755)
        return str(path)

    # --- processes ----------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        log = open(self.folder / "log" / f"{name}.out", "ab")  # noqa: SIM115 - the child owns it
        self.processes[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=dict(env or self.env),
            start_new_session=True)
        log.close()

    def _wait(self, what: str, ready: object, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} ended ({process.returncode}): "
                                       f"{self.log_tail(name)}")
            if ready():  # type: ignore[operator]
                return
            time.sleep(0.05)
        raise RuntimeError(f"{what} not ready within {timeout} s: {self.log_tail(what)}")

    def log_tail(self, name: str, lines: int = 15) -> str:
        for path in (self.folder / "log" / f"{name}.out", self.folder / "log" / f"{name}.log"):
            if path.exists():
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    @staticmethod
    def _listening(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    def start(self) -> SlurmCluster:
        """Start every daemon; returns when the four nodes are idle and REST answers."""
        for key in ("ctld", "dbd", "mysql", "rest", "ssh", *self.nodes):
            self.ports.setdefault(key, free_port())
        ensure_unix_users((PRINCIPAL, *PROBE_USERS))
        self._write_configs()
        folder = self.folder
        self._spawn("munged", ["munged", "-F", "-f", f"--socket={folder / 'run' / 'munge.sock'}",
                               f"--key-file={folder / 'etc' / 'munge.key'}",
                               f"--seed-file={folder / 'run' / 'munge.seed'}",
                               f"--pid-file={folder / 'run' / 'munged.pid'}",
                               f"--log-file={folder / 'log' / 'munged.log'}"])
        self._wait("munged", lambda: (folder / "run" / "munge.sock").exists())
        self._start_database()
        self._start_ctld()
        for node in self.nodes:
            self._spawn(f"slurmd-{node}", ["slurmd", "-D", "-N", node, "-f", str(self.conf)])
        self._wait("nodes", self._nodes_idle, timeout=30)
        self._spawn("slurmrestd", ["slurmrestd", "-a", "rest_auth/jwt", "-u", "nobody",
                                   f"127.0.0.1:{self.ports['rest']}"],
                    env={**self.env, "SLURM_JWT": "daemon"})
        self._wait("slurmrestd", lambda: self._listening(self.ports["rest"]))
        self._start_login()
        return self

    def _start_database(self) -> None:
        """MariaDB and slurmdbd with the accounts bootstrapped. The bootstrapped database is
        kept as a template (keyed by what went into it) so that later clusters copy it instead
        of spending ≈ 12 s on ``mariadb-install-db`` and ``sacctmgr``."""
        datadir = self.folder / "db"
        template = Path(tempfile.gettempdir()) / f"sca-slurm-db-{self._database_key()}"
        if (template / "mysql").exists():
            shutil.rmtree(datadir, ignore_errors=True)
            shutil.copytree(template, datadir, symlinks=True)
            self._start_db_daemons()
            return
        shutil.rmtree(datadir, ignore_errors=True)
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={datadir}",
                        "--auth-root-authentication-method=normal", "--skip-test-db",
                        *MARIADB_OPTIONS],
                       check=True, capture_output=True, timeout=120)
        self._start_db_daemons()
        self._bootstrap_accounts()
        self._stop("slurmdbd")
        self._stop("mariadb")
        staging = Path(tempfile.mkdtemp(prefix=template.name + ".", dir=template.parent))
        shutil.copytree(datadir, staging / "db", symlinks=True)
        with contextlib.suppress(OSError):  # another session made it first: theirs is equal
            os.rename(staging / "db", template)
        shutil.rmtree(staging, ignore_errors=True)
        self._start_db_daemons()

    def _database_key(self) -> str:
        version = subprocess.run(["mariadbd", "--version"], capture_output=True, text=True,
                                 timeout=30).stdout
        source = inspect.getsource(SlurmCluster._bootstrap_accounts) + repr(MARIADB_OPTIONS)
        return hashlib.sha256((version + source).encode()).hexdigest()[:12]

    def _start_db_daemons(self) -> None:
        folder = self.folder
        self._spawn("mariadb", ["mariadbd", "--no-defaults", f"--datadir={folder / 'db'}",
                                f"--socket={folder / 'run' / 'mysql.sock'}",
                                "--bind-address=127.0.0.1", f"--port={self.ports['mysql']}",
                                "--user=root", *MARIADB_OPTIONS,
                                f"--pid-file={folder / 'run' / 'mysql.pid'}"])
        self._wait("mariadb", lambda: self._listening(self.ports["mysql"]))
        self._spawn("slurmdbd", ["slurmdbd", "-D"])
        self._wait("slurmdbd", lambda: self._listening(self.ports["dbd"]), timeout=30)

    def _start_ctld(self) -> None:
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._wait("slurmctld", lambda: self._listening(self.ports["ctld"]))

    def _nodes_idle(self) -> bool:
        out = self.run(["sinfo", "-h", "-N", "-o", "%N %t"], check=False).stdout
        states = dict(line.split() for line in out.splitlines() if line.strip())
        return all(states.get(node) in ("idle", "mix", "alloc") for node in self.nodes)

    def _bootstrap_accounts(self) -> None:
        """The cluster in slurmdbd, QOS, and the evaluation's principal (an administrator)."""
        self.sacctmgr("add", "cluster", "sca")
        self.sacctmgr("add", "qos", "high", "priority=100")
        self.sacctmgr("add", "qos", "mid", "priority=50")
        # DenyOnLimit: a job over its account's GrpTRES is refused at submission instead of
        # pending for ever (AssocGrpGRES).
        self.sacctmgr("modify", "qos", "where", "name=normal", "set", "priority=0",
                      "flags=DenyOnLimit")
        self.sacctmgr("add", "account", ACCOUNT, "description=the evaluation's own account",
                      "organization=sca", "qos=normal,mid,high")
        self.sacctmgr("add", "user", PRINCIPAL, f"account={ACCOUNT}", "adminlevel=Administrator",
                      "qos=normal,mid,high")
        self.sacctmgr("add", "user", "root", f"account={ACCOUNT}", "adminlevel=Administrator")

    def run(self, argv: list[str], *, check: bool = True, timeout: float = 30.0
            ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {done.returncode} {done.stderr.strip()}")
        return done

    def sacctmgr(self, *args: str) -> str:
        return self.run(["sacctmgr", "-i", *args]).stdout

    def scontrol(self, *args: str) -> str:
        return self.run(["scontrol", *args]).stdout

    def token(self, user: str, lifespan: int = 7200) -> str:
        out = self.scontrol("token", f"username={user}", f"lifespan={lifespan}")
        return out.strip().split("=", 1)[1]

    # --- the login node (OpenSSH sshd, root by key) ----------------------------------------------

    def _start_login(self) -> None:
        folder = self.folder / "ssh"
        folder.mkdir(exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        for key in ("host_key", "client_key"):
            if not (folder / key).exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                                str(folder / key)], check=True, timeout=30)
        shutil.copy(folder / "client_key.pub", folder / "authorized_keys")
        port = self.ports["ssh"]
        host_key = (folder / "host_key.pub").read_text().split()
        (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
        (folder / "sshd_config").write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
            f"AuthorizedKeysFile {folder / 'authorized_keys'}\nUsePAM no\nStrictModes no\n"
            "PidFile none\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "Subsystem sftp internal-sftp\n"
            # Debian's bash sources ~/.bashrc for every ssh command unless SHLVL says it is
            # nested; root's .bashrc here runs `pyenv init` (0.5 s a command).
            "SetEnv SHLVL=3\n")
        self._spawn("sshd", ["/usr/sbin/sshd", "-D", "-e", "-f", str(folder / "sshd_config")])
        self._wait("sshd", lambda: self._listening(port))

    def adapter_settings(self) -> dict[str, object]:
        """``adapters.slurm`` of a target file for this cluster (the token as ``${SLURM_JWT}``)."""
        folder = self.folder / "ssh"
        return {
            "url": self.rest_url, "user": PRINCIPAL, "token": "${SLURM_JWT}",
            "login": {"host": "127.0.0.1", "port": self.ports["ssh"], "user": "root",
                      "key_file": str(folder / "client_key"),
                      "known_hosts": str(folder / "known_hosts"),
                      "slurm_conf": str(self.conf)},
            "output_dir": str(self.jobs_dir), "account": ACCOUNT,
            "probe_users": list(PROBE_USERS), "python": "/usr/bin/python3",
            "time_limit_min": 10,
        }

    # --- faults -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def configured(self, **changes: str) -> Iterator[None]:
        """slurm.conf with ``changes`` (``""`` removes a setting) for the block, then back."""
        before = dict(self.settings)
        self.reconfigure(changes)
        try:
            yield
        finally:
            self.reconfigure({k: before.get(k, "") for k in changes})

    def reconfigure(self, changes: Mapping[str, str]) -> None:
        self.settings.update(changes)
        self._write_configs_only()
        if set(changes) & RESTART_SETTINGS:
            self._stop("slurmctld")
            self._start_ctld()
            self._wait("nodes", self._nodes_idle, timeout=30)
        else:
            self.scontrol("reconfigure")

    def _write_configs_only(self) -> None:
        self._write_configs()

    # --- stopping -----------------------------------------------------------------------------

    def _stop(self, name: str, timeout: float = 10.0) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def _stepds(self) -> list[int]:
        """PIDs of slurmstepd processes of this cluster (their command line names our conf
        folder's spool, or their parent was one of our slurmd)."""
        found = []
        spool = str(self.folder / "spool")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if command and command[0].endswith(b"slurmstepd") and (
                    spool.encode() in environ or str(self.conf).encode() in environ):
                found.append(int(entry.name))
        return found

    def stop(self) -> None:
        """Cancel every job, stop every daemon (slurmrestd first, MariaDB last) and the
        slurmstepd processes that outlive slurmd."""
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            self.run(["scancel", "--full", "--quiet", "-u", PRINCIPAL], check=False)
            for user in PROBE_USERS:
                self.run(["scancel", "--quiet", "-u", user], check=False)
        for name in ("sshd", "slurmrestd", *(f"slurmd-{n}" for n in self.nodes), "slurmctld",
                     "slurmdbd", "mariadb", "munged"):
            self._stop(name)
        for pid in self._stepds():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
