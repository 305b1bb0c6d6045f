"""Start a real server binary on 127.0.0.1 port 0 and read the port it bound from its log.

Used by the Prometheus and OCI registry adapter tests: both servers log the address
they listen on, so no port is guessed.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class LoggedServer:
    """A running server process, its base URL and log file."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; waits until the process is gone."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_logged_server(command: list[str], log: Path, address: re.Pattern[str],
                        timeout: float = 15.0) -> LoggedServer:
    """Run ``command`` (output to ``log``) until ``address`` (group 1: ``host:port``) appears."""
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        found = address.search(log.read_text(errors="replace"))
        if found and not found.group(1).endswith(":0"):
            return LoggedServer(process, f"http://{found.group(1)}", log)
        if process.poll() is not None:
            break
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    server = LoggedServer(process, "", log)
    server.stop()
    raise RuntimeError(f"{command[0]} did not report its address: {log.read_text()[-1500:]}")
