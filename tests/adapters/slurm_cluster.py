"""A real single-host Slurm cluster with slurmrestd, for the mapping's end-to-end test.

Debian's ``slurmctld slurmd slurmrestd munge slurm-client slurm-wlm-jwt-plugin``: a private
munged, one slurmctld, two slurmd (``-N n1``, ``-N n2``, each on its own port), and
slurmrestd with JWT authentication, all in the foreground in one temporary folder, on
ports asked of the kernel. Root is needed (slurmd runs jobs as their user); without it,
or without the packages, the test is skipped. Each node has two fake GPUs (device files
with /dev/null's numbers), so that jobs asking for accelerators are scheduled.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

DAEMONS = ("munged", "slurmctld", "slurmd", "slurmrestd", "scontrol", "squeue", "scancel")
API = "v0.0.38"
READY_WITHIN_S = 60.0
STOP_WITHIN_S = 15.0


def missing() -> str | None:
    """Why no cluster can start here, or ``None``."""
    if os.geteuid() != 0:
        return "a Slurm cluster needs root (slurmd runs jobs as their user)"
    absent = [name for name in DAEMONS if not (shutil.which(name) or Path(f"/usr/sbin/{name}")
                                               .exists())]
    if absent:
        return (f"Slurm is not installed ({', '.join(absent)}): apt-get install slurmctld slurmd "
                "slurmrestd munge slurm-client slurm-wlm-jwt-plugin")
    if not Path("/usr/lib/x86_64-linux-gnu/slurm-wlm/auth_jwt.so").exists() and not list(
            Path("/usr/lib").glob("**/slurm*/auth_jwt.so")):
        return "slurm-wlm-jwt-plugin is not installed"
    return None


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


@dataclass
class SlurmCluster:
    """The running cluster: slurmrestd's URL, a JWT for ``root``, the job folder."""

    folder: Path
    url: str = ""
    token: str = ""
    user: str = "root"
    workdir: Path = field(init=False)
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = self.folder / "work"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.folder / "slurm.conf")}

    def start(self) -> None:
        folder = self.folder
        for sub in ("state", "spool", "work", "log"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o777)
        key = folder / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        jwt = folder / "jwt.key"
        jwt.write_bytes(os.urandom(32))
        os.chmod(jwt, 0o600)
        controller, node1, node2, rest = _free_ports(4)
        host = socket.gethostname()
        # Two fake GPUs per node: gres/gpu needs device files, /dev/null's numbers will do.
        gres = []
        for name in ("n1", "n2"):
            for index in range(2):
                device = folder / f"{name}-gpu{index}"
                os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            gres.append(f"NodeName={name} Name=gpu File={folder}/{name}-gpu[0-1]")
        (folder / "gres.conf").write_text("AutoDetect=off\n" + "\n".join(gres) + "\n")
        os.chmod(folder / "gres.conf", 0o644)
        nodes = "\n".join(
            f"NodeName={name} NodeHostname={host} NodeAddr=127.0.0.1 Port={port} CPUs=2 "
            "RealMemory=16000 Gres=gpu:2 State=UNKNOWN"
            for name, port in (("n1", node1), ("n2", node2)))
        (folder / "slurm.conf").write_text(f"""\
ClusterName=sca-mapping
SlurmctldHost=localhost
SlurmctldPort={controller}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool/%n
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd-%n.pid
SlurmctldLogFile={folder}/log/slurmctld.log
SlurmdLogFile={folder}/log/slurmd-%n.log
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder}/munge.sock,cred_expire=10
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key={jwt}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
KillWait=2
GresTypes=gpu
{nodes}
PartitionName=debug Nodes=n1,n2 Default=YES MaxTime=10 State=UP
""")
        os.chmod(folder / "slurm.conf", 0o644)
        os.chmod(folder, 0o755)
        self._spawn("munged", ["munged", "-F", "-f", f"--socket={folder}/munge.sock",
                               f"--key-file={key}", f"--seed-file={folder}/munge.seed",
                               f"--pid-file={folder}/munged.pid",
                               f"--log-file={folder}/log/munged.log"])
        self._wait(lambda: (folder / "munge.sock").exists(), "munged")
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", f"{folder}/slurm.conf"])
        for name in ("n1", "n2"):
            self._spawn(f"slurmd-{name}", ["slurmd", "-D", "-N", name, "-f",
                                            f"{folder}/slurm.conf"])
        self._wait(self._nodes_idle, "two idle nodes")
        self.url = f"http://127.0.0.1:{rest}/"
        self._spawn("slurmrestd", ["slurmrestd", "-a", "rest_auth/jwt", "-s",
                                   f"openapi/{API}", "-u", "nobody", f"127.0.0.1:{rest}"],
                    extra_env={"SLURM_JWT": "daemon"})
        token = subprocess.run([_binary("scontrol"), "token", "username=root",
                                "lifespan=7200"], env=self.env, capture_output=True,
                               text=True, timeout=30, check=True).stdout
        self.token = token.strip().removeprefix("SLURM_JWT=")
        self._wait(self._rest_answers, "slurmrestd")

    def _spawn(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None
               ) -> None:
        log = (self.folder / "log" / f"{name}.out").open("wb")
        process = subprocess.Popen([_binary(argv[0]), *argv[1:]],
                                   env={**self.env, **(extra_env or {})}, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self._processes.append(process)

    def _wait(self, ready: object, what: str) -> None:
        deadline = time.monotonic() + READY_WITHIN_S
        while not ready():  # type: ignore[operator]
            dead = [p.args for p in self._processes if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead[0]} exited while waiting for {what}: "
                                   f"{self.logs()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {what} within {READY_WITHIN_S:g} s: {self.logs()}")
            time.sleep(0.2)

    def _nodes_idle(self) -> bool:
        found = subprocess.run([_binary("sinfo"), "-h", "-N", "-o", "%N %T"], env=self.env,
                               capture_output=True, text=True, timeout=15)
        states = dict(line.split() for line in found.stdout.splitlines() if line.strip())
        return states.get("n1") == "idle" and states.get("n2") == "idle"

    def _rest_answers(self) -> bool:
        try:
            answer = requests.get(f"{self.url}slurm/{API}/ping", headers=self.headers,
                                  timeout=5)
        except requests.RequestException:
            return False
        return answer.status_code == 200

    @property
    def headers(self) -> dict[str, str]:
        return {"X-SLURM-USER-NAME": self.user, "X-SLURM-USER-TOKEN": self.token}

    def logs(self) -> str:
        tails = []
        for path in sorted((self.folder / "log").glob("*")):
            text = path.read_text(errors="replace").strip().splitlines()[-5:]
            tails.append(f"{path.name}: {' | '.join(text)}")
        return "; ".join(tails)

    def stop(self) -> None:
        """Cancel every job (bounded wait), then stop the daemons, newest first."""
        if any(p.poll() is None for p in self._processes):
            subprocess.run([_binary("scancel"), "--full", "--partition=debug"], env=self.env,
                           capture_output=True, timeout=30)
            deadline = time.monotonic() + STOP_WITHIN_S
            while time.monotonic() < deadline:
                queue = subprocess.run([_binary("squeue"), "-h", "-o", "%i"], env=self.env,
                                       capture_output=True, text=True, timeout=15)
                if queue.returncode != 0 or not queue.stdout.strip():
                    break
                time.sleep(0.3)
        for process in reversed(self._processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self._processes):
            try:
                process.wait(timeout=STOP_WITHIN_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_WITHIN_S)
