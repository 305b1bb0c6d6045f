"""A real Prometheus scraping the sandbox's ``/metrics``, where Debian's ``prometheus`` is found.

The sandbox starts it after its API is up (config, data and log in
``STATE/prometheus/``) and names it in the target file as ``adapters.prometheus``,
listed after ``platform``: the platform's exposition endpoint stays the ``metrics``
provider, and an evaluator who lists ``prometheus`` first evaluates through it.
``PYTEST_SCA_SANDBOX_PROMETHEUS=0`` turns it off. Nothing waits for the first sample:
Prometheus scrapes every second, the first sample lands some seconds after start-up.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from pytest_sca.sandbox.security import TlsFiles

#: ``0`` keeps the sandbox from starting a Prometheus even where the binary exists.
PROMETHEUS_SWITCH = "PYTEST_SCA_SANDBOX_PROMETHEUS"
_LISTENING = re.compile(r'msg="Listening on" address=(127\.0\.0\.1:\d+)')


def prometheus_binary() -> str | None:
    """The ``prometheus`` executable to start, or ``None`` (absent, or switched off)."""
    if os.environ.get(PROMETHEUS_SWITCH, "1") == "0":
        return None
    return shutil.which("prometheus")


def scrape_config(api_url: str, ca_file: Path | None, token_file: Path) -> dict[str, Any]:
    """Prometheus' configuration: the API's ``/metrics`` every second with the key in
    ``token_file``, trusting the sandbox CA."""
    api = urlsplit(api_url)
    job: dict[str, Any] = {"job_name": "sandbox", "scheme": api.scheme or "http",
                           "metrics_path": "/metrics",
                           "authorization": {"type": "Bearer",
                                             "credentials_file": str(token_file)},
                           "static_configs": [{"targets": [api.netloc]}]}
    if ca_file is not None and api.scheme == "https":
        job["tls_config"] = {"ca_file": str(ca_file)}
    return {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [job]}


def web_config(tls: TlsFiles) -> dict[str, Any]:
    """Prometheus' web configuration: TLS ≥ 1.2 with the sandbox's certificate, and HSTS —
    the sandbox's endpoints are all held to chapter 10's transport rules."""
    return {"tls_server_config": {"cert_file": str(tls.cert), "key_file": str(tls.key),
                                  "min_version": "TLS12"},
            "http_server_config": {"headers": {
                "Strict-Transport-Security": "max-age=31536000"}}}


class SandboxPrometheus:
    """One Prometheus child process over ``STATE/prometheus``, bound to 127.0.0.1 port 0."""

    def __init__(self, binary: str, state_dir: Path, api_url: str, token: str,
                 tls: TlsFiles | None = None) -> None:
        self.binary = binary
        self.token = token
        self.directory = state_dir / "prometheus"
        self.api_url = api_url
        self.tls = tls
        self.ca_file = tls.ca if tls is not None else None
        self.log_path = self.directory / "prometheus.log"
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start Prometheus and wait (bounded) only until it reports its listening address.

        It stays in the sandbox's process group, so the launcher's stop of that
        group ends it too. Raises ``RuntimeError`` (after stopping it) if it exits
        or reports no address within ``timeout``.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        token_file = self.directory / "token"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.token)
        config = self.directory / "prometheus.yml"
        config.write_text(yaml.safe_dump(scrape_config(self.api_url, self.ca_file, token_file),
                                         sort_keys=False))
        command = [self.binary, f"--config.file={config}",
                   "--web.listen-address=127.0.0.1:0",
                   f"--storage.tsdb.path={self.directory / 'data'}"]
        if self.tls is not None:
            web = self.directory / "web.yml"
            web.write_text(yaml.safe_dump(web_config(self.tls), sort_keys=False))
            command.append(f"--web.config.file={web}")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - fixed arguments, our own files
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        delay = 0.02
        while time.monotonic() < deadline:
            found = _LISTENING.search(self.log_path.read_text(errors="replace"))
            if found:
                scheme = "https" if self.tls is not None else "http"
                self.url = f"{scheme}://{found.group(1)}"
                return
            if self.process.poll() is not None:
                break
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)
        tail = " | ".join(self.log_path.read_text(errors="replace").strip().splitlines()[-3:])
        self.stop()
        raise RuntimeError(f"prometheus reported no listening address: {tail}")

    def target_section(self) -> dict[str, Any]:
        """``adapters.prometheus`` of the target file (trusting the sandbox CA over TLS)."""
        if self.ca_file is not None:
            return {"url": self.url, "verify": str(self.ca_file)}
        return {"url": self.url}

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate, wait (bounded), kill what is left; idempotent."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        self.process = None


def start_scraper(state_dir: Path, api_url: str, token: str,
                  tls: TlsFiles | None) -> SandboxPrometheus | None:
    """A started Prometheus scraping ``api_url``, or ``None`` where none can run.

    A Prometheus that fails to start is not a sandbox failure: the target file
    then has no ``adapters.prometheus`` and the exposition endpoint serves ``metrics``.
    """
    binary = prometheus_binary()
    if binary is None:
        return None
    scraper = SandboxPrometheus(binary, state_dir, api_url, token, tls)
    try:
        scraper.start()
    except (OSError, RuntimeError) as exc:
        print(f"sandbox: no Prometheus scraper ({exc})", file=sys.stderr, flush=True)
        return None
    return scraper
