"""What the harness evaluates: the embedded sandbox (started, restarted, stopped here) or a
platform a target file describes (left as it is)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .. import providers

SANDBOX = "sandbox"


class Platform:
    """A target the harness can (re)start: its target document and the env it refers to."""

    #: Whether :meth:`restart` gives a fresh platform (the sandbox), or the same one.
    restartable = False
    #: pytest options the platform's runs need.
    pytest_options: tuple[str, ...] = ()

    def start(self) -> tuple[dict[str, Any], dict[str, str]]:
        raise NotImplementedError

    def restart(self) -> tuple[dict[str, Any], dict[str, str]]:
        self.stop()
        return self.start()

    def stop(self) -> None:
        """Stop what :meth:`start` started (nothing for a platform described by a file)."""

    def another(self) -> Platform:
        """A second platform of the same kind for runs side by side (only where
        :attr:`restartable`: one the harness starts itself)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be started twice")


class SandboxPlatform(Platform):
    """The embedded reference platform, started by its launcher for the harness alone."""

    restartable = True
    # The plugin lets disruptive checks run on a sandbox it starts; one the harness starts is
    # just as disposable.
    pytest_options = ("--sca-disruptive",)

    def __init__(self, faults: Sequence[str] = (), overlay: dict[str, Any] | None = None) -> None:
        self.faults = tuple(faults)
        self.overlay = overlay or {}
        self._process: Any = None

    def start(self) -> tuple[dict[str, Any], dict[str, str]]:
        # Through its target provider, as the plugin does: nothing outside the sandbox
        # imports it.
        try:
            self._process = providers.load_provider(SANDBOX).start(faults=self.faults)
        except providers.ProviderUnavailable as exc:
            raise RuntimeError(f"--target sandbox: {exc}") from None
        document = yaml.safe_load(self._process.target_path.read_text())
        for key in ("evidence", "waivers"):
            if self.overlay.get(key):
                document.setdefault(key, {}).update(self.overlay[key])
        if self.overlay.get("name"):
            document["name"] = self.overlay["name"]
        return document, dict(self._process.env)

    def another(self) -> Platform:
        return SandboxPlatform(self.faults, self.overlay)

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None


class FilePlatform(Platform):
    """A platform a target file describes; ``${VAR}`` values come from the environment."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def start(self) -> tuple[dict[str, Any], dict[str, str]]:
        document = yaml.safe_load(self.path.read_text())
        # Relative local paths (CA bundles, keys) stay valid from the harness's run folders.
        return _absolute_paths(document, self.path.parent.resolve()), dict(os.environ)


def _absolute_paths(document: dict[str, Any], base: Path) -> dict[str, Any]:
    for section in (document.get("adapters") or {}).values():
        if not isinstance(section, dict):
            continue
        for key in ("verify", "key_file", "known_hosts", "kubeconfig"):
            value = section.get(key)
            if isinstance(value, str) and not value.startswith(("/", "~", "$")):
                section[key] = str(base / value)
    return document


def platform_for(spec: str) -> Platform:
    """``sandbox``, or a target file (one with a ``sandbox:`` section starts the sandbox)."""
    if spec == SANDBOX:
        return SandboxPlatform()
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"--target {spec}: no such file: give a target file or `sandbox`")
    document = yaml.safe_load(path.read_text()) or {}
    if not isinstance(document, dict):
        raise ValueError(f"--target {spec}: not a target file (a YAML mapping)")
    if document.get("sandbox") is not None:
        return SandboxPlatform(document["sandbox"].get("faults") or (), overlay=document)
    return FilePlatform(path)
