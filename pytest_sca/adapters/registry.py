"""Which adapter class serves each transport: the built-ins, then vendor entry points.

A vendor package adds a transport by declaring, in its pyproject.toml::

    [project.entry-points."pytest_sca.adapters"]
    myvendor = "myvendor_sca.adapter:MyVendorAdapter"

The class subclasses :class:`~pytest_sca.adapters.base.Adapter`, names its
pydantic configuration model in ``config_model`` and the capabilities it serves in
``implementations``; the target file then configures it under ``adapters.myvendor``.
See docs/adapters.md.
"""

from __future__ import annotations

import importlib
from importlib.metadata import EntryPoint, entry_points

from pydantic import BaseModel

from pytest_sca.adapters.base import Adapter
from pytest_sca.adapters.config import BUILTIN_CONFIGS

#: The entry-point group vendor adapters register in.
ENTRY_POINT_GROUP = "pytest_sca.adapters"

#: transport → "module:Class" of the built-in adapters, imported on first use (so that
#: validating a target file imports no transport library).
BUILTIN_ADAPTERS: dict[str, str] = {
    "platform": "pytest_sca.adapters.platform:PlatformAdapter",
    "kubernetes": "pytest_sca.adapters.kubernetes:KubernetesAdapter",
    "ssh": "pytest_sca.adapters.ssh:SshAdapter",
    "s3": "pytest_sca.adapters.s3:S3Adapter",
    "openai": "pytest_sca.adapters.openai:OpenAIAdapter",
    "comfyui": "pytest_sca.adapters.comfyui:ComfyUIAdapter",
    "prometheus": "pytest_sca.adapters.prometheus:PrometheusAdapter",
    "registry": "pytest_sca.adapters.oci_registry:RegistryAdapter",
    "slurm": "pytest_sca.adapters.slurm:SlurmAdapter",
}


def _vendor_entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_transports() -> list[str]:
    """Every transport a target file may configure: built-ins and installed vendor adapters."""
    return sorted(set(BUILTIN_CONFIGS) | set(BUILTIN_ADAPTERS) | set(_vendor_entry_points()))


def config_model_for(transport: str) -> type[BaseModel]:
    """The pydantic model that validates ``adapters.<transport>``; KeyError if unknown."""
    if transport in BUILTIN_CONFIGS:
        return BUILTIN_CONFIGS[transport]
    adapter_class = load_adapter_class(transport)
    model = getattr(adapter_class, "config_model", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(
            f"adapter {adapter_class.__module__}.{adapter_class.__qualname__} for transport "
            f"{transport!r} must set config_model to a pydantic model class"
        )
    return model


def load_adapter_class(transport: str) -> type[Adapter]:
    """The adapter class of ``transport``; KeyError if no built-in or installed package
    provides it. A vendor package never takes over a built-in transport's name."""
    if transport in BUILTIN_ADAPTERS:
        return _checked(transport, _import(BUILTIN_ADAPTERS[transport]))
    vendor = _vendor_entry_points().get(transport)
    if vendor is not None:
        return _checked(transport, vendor.load(), origin=f"entry point {vendor.value!r}")
    raise KeyError(
        f"unknown transport {transport!r}: known transports are {', '.join(known_transports())}"
    )


def _import(target: str) -> object:
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _checked(transport: str, loaded: object, origin: str = "built-in") -> type[Adapter]:
    if not (isinstance(loaded, type) and issubclass(loaded, Adapter)):
        raise TypeError(
            f"transport {transport!r} ({origin}) is not an Adapter subclass: {loaded!r}"
        )
    return loaded


def providers_of(capability: str) -> list[str]:
    """The transports whose adapter serves ``capability`` (built-ins, then installed vendors),
    read from each adapter's ``implementations``: what a not-assessed reason may suggest."""
    found: list[str] = []
    for transport in [*BUILTIN_ADAPTERS, *sorted(set(_vendor_entry_points()) -
                                                 set(BUILTIN_ADAPTERS))]:
        try:
            adapter = load_adapter_class(transport)
        except (ImportError, TypeError):  # a broken vendor package suggests nothing
            continue
        if capability in adapter.provides:
            found.append(transport)
    return found
