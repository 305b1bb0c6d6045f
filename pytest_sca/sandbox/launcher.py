"""Start the sandbox as a child process and stop it with everything it started.

The plugin finds it as the target provider ``sandbox`` (entry-point group
``pytest_sca.targets``: :data:`PROVIDER`) for ``--sca-target=sandbox``; from
Python::

    sandbox = launch(faults=["logs_dropped"])
    try:
        ...  # load sandbox.target_path with sandbox.env
    finally:
        sandbox.stop()
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_sca.providers import TargetProvider, TargetStartError
from pytest_sca.sandbox.faults import check_faults
from pytest_sca.sandbox.procs import pid_alive, processes_in_session
from pytest_sca.sandbox.security import TLS_SWITCH

_POLL = 0.02
#: What ``serve`` imports beyond pytest-sca's own dependencies.
_SERVER_MODULES = ("fastapi", "uvicorn", "asyncssh", "moto", "prometheus_client")


class SandboxStartError(TargetStartError):
    """The sandbox did not become ready; the message ends with the tail of its stderr."""


def parse_env_file(text: str) -> dict[str, str]:
    """``export NAME=value`` lines → {NAME: value}."""
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export "):
            name, sep, value = line[len("export ") :].partition("=")
            if sep:
                env[name.strip()] = value
    return env


@dataclass
class SandboxProcess:
    """A running sandbox: its target file, the secrets it refers to, and how to stop it."""

    target_path: Path
    env: dict[str, str]
    state_dir: Path
    pid: int
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _stderr_path: Path | None = field(default=None, repr=False)
    _remove_state: bool = field(default=False, repr=False)
    _stopped: bool = field(default=False, repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the sandbox's process group, SIGKILL whatever is left; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._session_alive():
            time.sleep(_POLL)
        # Job processes sit in their own process groups of the same session: sweep the session.
        for proc in processes_in_session(self.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout=5)
        if self._remove_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def _session_alive(self) -> bool:
        if self._popen is not None and self._popen.poll() is None:
            return True
        return bool(processes_in_session(self.pid)) or pid_alive(self.pid)

    @property
    def returncode(self) -> int | None:
        """The sandbox process's exit status once it ended."""
        return None if self._popen is None else self._popen.poll()


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line for line in text.strip().splitlines()[-lines:] if line.strip())


def launch(
    faults: Sequence[str] = (), state_dir: Path | None = None, timeout: float = 30.0,
    tls: bool | None = None,
) -> SandboxProcess:
    """Start ``python -m pytest_sca.sandbox serve`` and wait (bounded) until it is ready.

    Without ``state_dir`` a temporary directory is used and removed by
    :meth:`SandboxProcess.stop`. ``tls`` overrides the sandbox's default (HTTPS with
    a local CA; plain HTTP only for low-level tests that speak raw HTTP). Raises
    ``ValueError`` for an unknown fault and :class:`SandboxStartError` when the
    sandbox exits or is not ready in time.
    """
    checked = check_faults(faults)
    missing = [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise SandboxStartError(
            f"the sandbox needs {', '.join(missing)}: install pytest-sca[sandbox]"
        )
    remove_state = state_dir is None
    directory = Path(tempfile.mkdtemp(prefix="sca-sandbox-")) if state_dir is None else state_dir
    directory.mkdir(parents=True, exist_ok=True)
    directory = directory.resolve()
    ready_file = directory / "ready"
    with contextlib.suppress(FileNotFoundError):
        ready_file.unlink()
    stderr_path = directory / "sandbox.stderr.log"
    command = [sys.executable, "-m", "pytest_sca.sandbox", "serve", "--state", str(directory),
               "--ready-file", str(ready_file), "--exit-with-parent",
               *(["--temporary-state"] if remove_state else [])]
    for fault in checked:
        command += ["--fault", fault.value]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCA_SANDBOX_")}
    if tls is not None:
        env[TLS_SWITCH] = "1" if tls else "0"
    with stderr_path.open("wb") as stderr:
        popen = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            command,
            stdin=subprocess.DEVNULL,
            # stdout repeats sandbox.env (secrets): keep it out of the caller's output.
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
            env=env,
        )
    sandbox = SandboxProcess(
        target_path=directory / "target.yaml",
        env={},
        state_dir=directory,
        pid=popen.pid,
        _popen=popen,
        _stderr_path=stderr_path,
        _remove_state=remove_state,
    )
    deadline = time.monotonic() + timeout
    while not ready_file.exists():
        code = popen.poll()
        if code is not None or time.monotonic() > deadline:
            sandbox.stop()
            why = f"exited with status {code}" if code is not None else f"not ready in {timeout} s"
            tail = _tail(stderr_path) or "(no stderr)"
            if remove_state:
                shutil.rmtree(directory, ignore_errors=True)
            raise SandboxStartError(f"sandbox {why}: {tail}")
        time.sleep(_POLL)
    sandbox.target_path = Path(ready_file.read_text().strip() or sandbox.target_path)
    sandbox.env = parse_env_file((directory / "sandbox.env").read_text())
    return sandbox


class SandboxProvider:
    """The sandbox as a target provider (:class:`pytest_sca.providers.TargetProvider`)."""

    def start(self, faults: Sequence[str] = (), state_dir: Path | None = None) -> SandboxProcess:
        """:func:`launch` with the sandbox's defaults (HTTPS, 30 s to become ready)."""
        return launch(faults=faults, state_dir=state_dir)


#: What the entry point ``pytest_sca.targets: sandbox`` names.
PROVIDER: TargetProvider = SandboxProvider()
