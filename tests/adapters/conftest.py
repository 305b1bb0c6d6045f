"""Fixtures of the adapter tests: one real sandbox per test session, adapters built on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import PlatformConfig
from pytest_sca.adapters.platform import PlatformAdapter
from pytest_sca.sandbox.launcher import SandboxProcess, launch

from .helpers import MakeAdapter, Platform, expand_env


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxProcess]:
    """The real embedded reference platform, started once for the adapter tests."""
    process = launch(tls=False)  # the mapping proxy of these tests forwards plain HTTP
    try:
        yield process
    finally:
        process.stop()
    assert not Path(f"/proc/{process.pid}").exists(), "the sandbox outlived its stop()"


@pytest.fixture(scope="session")
def sandbox_platform(sandbox: SandboxProcess) -> dict[str, Any]:
    """The ``adapters.platform`` section of the sandbox's target file, secrets filled in."""
    target = yaml.safe_load(sandbox.target_path.read_text())
    return expand_env(target["adapters"]["platform"], sandbox.env)


@pytest.fixture
def make_adapter() -> Iterator[MakeAdapter]:
    """Build platform principals with a fresh run id; what each created is removed after
    (its ledger swept, as at the end of a run) and each is closed."""
    built: list[PlatformAdapter] = []

    def make(platform: Mapping[str, Any], run_id: str | None = None) -> Platform:
        config = PlatformConfig.model_validate(dict(platform))
        context = AdapterContext(
            target_name="test", target_path=None, run_id=run_id or uuid.uuid4().hex[:12]
        )
        adapter = PlatformAdapter(config, context)
        built.append(adapter)
        return Platform(adapter)

    yield make
    for adapter in reversed(built):
        adapter.context.ledger.sweep()
        adapter.close()


@pytest.fixture
def admin(sandbox_platform: dict[str, Any], make_adapter: MakeAdapter) -> Platform:
    """The platform adapter of the sandbox, as its platform admin."""
    return make_adapter(sandbox_platform)
