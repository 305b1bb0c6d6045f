"""The adapter registry: built-ins, vendor entry points, and who provides each capability."""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel

from pytest_sca.adapters.config import BUILTIN_CONFIGS, PlatformConfig
from pytest_sca.adapters.platform import PlatformAdapter
from pytest_sca.adapters.registry import (
    BUILTIN_ADAPTERS,
    config_model_for,
    known_transports,
    load_adapter_class,
    providers_of,
)


def test_builtins() -> None:
    assert set(BUILTIN_CONFIGS) <= set(known_transports())
    assert load_adapter_class("platform") is PlatformAdapter
    assert config_model_for("platform") is PlatformConfig
    assert set(BUILTIN_ADAPTERS) == set(BUILTIN_CONFIGS)


def test_providers_are_read_from_the_adapters() -> None:
    # Only adapters whose implementations serve a capability are named as its providers.
    assert providers_of("jobs") == ["platform", "kubernetes", "slurm"]
    assert providers_of("devmachines") == ["platform", "kubernetes"]
    assert providers_of("images") == ["platform", "registry"]
    assert providers_of("registry") == ["registry"]
    assert providers_of("metrics") == ["platform", "prometheus"]
    assert providers_of("no-such-capability") == []


def test_unknown_transport() -> None:
    with pytest.raises(KeyError, match="unknown transport 'nosuch'"):
        load_adapter_class("nosuch")
    with pytest.raises(KeyError):
        config_model_for("nosuch")


def test_vendor_adapter_from_an_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A really installed (dist-info on sys.path) vendor package is found by its entry point."""
    (tmp_path / "acme_sca.py").write_text(
        textwrap.dedent(
            """
            from pydantic import BaseModel
            from pytest_sca.adapters.base import Adapter

            class AcmeConfig(BaseModel):
                url: str

            class AcmeJobs:
                def __init__(self, adapter):
                    self.adapter = adapter

            class AcmeAdapter(Adapter):
                transport = "acme"
                implementations = {"jobs": AcmeJobs}
                config_model = AcmeConfig

            class NotAnAdapter:
                pass
            """
        )
    )
    dist = tmp_path / "acme_sca-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-sca\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[pytest_sca.adapters]\nacme = acme_sca:AcmeAdapter\nbroken = acme_sca:NotAnAdapter\n"
        "s3 = acme_sca:AcmeAdapter\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()

    assert {"acme", "broken", "platform"} <= set(known_transports())
    acme = load_adapter_class("acme")
    assert acme.__name__ == "AcmeAdapter" and acme.provides == frozenset({"jobs"})
    assert providers_of("jobs") == ["platform", "kubernetes", "slurm", "acme"]
    model = config_model_for("acme")
    assert issubclass(model, BaseModel)
    assert model.__name__ == "AcmeConfig"
    with pytest.raises(TypeError, match="'broken' .* is not an Adapter subclass"):
        load_adapter_class("broken")
    # A vendor package cannot take over a built-in transport's name.
    assert load_adapter_class("s3").__module__ == "pytest_sca.adapters.s3"
    assert config_model_for("s3") is BUILTIN_CONFIGS["s3"]
