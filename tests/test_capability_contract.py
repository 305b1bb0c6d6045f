"""The capability contract holds: every adapter's implementations satisfy the Protocol of the
capability they claim (signatures included), and the contract's answers are typed records.
"""

from __future__ import annotations

import inspect
import time
import typing
from collections.abc import Callable, Iterator

import pytest

from pytest_sca.adapters.registry import BUILTIN_ADAPTERS, load_adapter_class
from pytest_sca.capabilities import CAPABILITIES
from pytest_sca.capabilities.common import wait_for_status
from pytest_sca.capabilities.errors import TargetError, WaitTimeout

#: Protocol members every Protocol class has that are not part of any contract.
_PROTOCOL_NOISE = frozenset(dir(typing.Protocol))


def _claims() -> Iterator[tuple[str, str, type]]:
    for transport in BUILTIN_ADAPTERS:
        adapter = load_adapter_class(transport)
        for capability, implementation in adapter.implementations.items():
            assert isinstance(implementation, type), (transport, capability)
            yield transport, capability, implementation


CLAIMS = sorted(_claims(), key=lambda claim: (claim[0], claim[1]))


def _members(protocol: type) -> dict[str, object]:
    """The methods and properties a Protocol (and the Protocols it extends) declares."""
    members: dict[str, object] = {}
    for klass in reversed(protocol.__mro__):
        if klass in (object, typing.Protocol, typing.Generic) or not getattr(
                klass, "_is_protocol", False):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in _PROTOCOL_NOISE:
                continue
            if callable(value) or isinstance(value, property):
                members[name] = value
    return members


def _parameters(function: Callable[..., object]) -> list[tuple[str, object, bool]]:
    """(name, kind, has a default) of every parameter but ``self``."""
    signature = inspect.signature(function)
    return [(p.name, p.kind, p.default is not inspect.Parameter.empty)
            for p in list(signature.parameters.values())[1:]]


@pytest.mark.parametrize(("transport", "capability", "implementation"), CLAIMS,
                         ids=[f"{t}-{c}" for t, c, _ in CLAIMS])
def test_implementation_satisfies_its_protocol(transport: str, capability: str,
                                               implementation: type) -> None:
    protocol = CAPABILITIES[capability].protocol
    for name, declared in _members(protocol).items():
        assert hasattr(implementation, name), (
            f"{transport} {capability}: {implementation.__qualname__} lacks {name}")
        offered = inspect.getattr_static(implementation, name)
        if isinstance(declared, property):
            assert isinstance(offered, property), f"{capability}.{name} must be a property"
            continue
        assert callable(offered), f"{capability}.{name} is not a method"
        assert _parameters(offered) == _parameters(declared), (
            f"{transport} {capability}.{name}: {inspect.signature(offered)} differs from the "
            f"contract's {inspect.signature(declared)}")


def test_every_capability_has_a_protocol_and_a_provider() -> None:
    provided = {capability for _, capability, _ in CLAIMS}
    assert provided == set(CAPABILITIES), "a capability no adapter serves, or the other way round"
    for capability in CAPABILITIES.values():
        assert getattr(capability.protocol, "_is_protocol", False), capability.name
        assert _members(capability.protocol), f"{capability.name} declares nothing"


def test_protocol_methods_return_typed_records() -> None:
    """No method of the contract answers a bare ``dict[str, Any]`` where a record belongs."""
    untyped = []
    for capability in CAPABILITIES.values():
        for name, member in _members(capability.protocol).items():
            function = member.fget if isinstance(member, property) else member
            returned = typing.get_type_hints(function).get("return")
            if returned in (dict, typing.Any) or repr(returned) in (
                    "dict[str, typing.Any]", "list[dict[str, typing.Any]]"):
                untyped.append(f"{capability.name}.{name}")
    # Answers that are another system's documents, not the platform's records.
    assert set(untyped) <= {"workflows.object_info", "devtools.api_description",
                            "storage.head"}, untyped


def test_a_wait_for_a_status_the_answers_never_carry_is_an_error_not_a_timeout() -> None:
    """A resource read without a ``status`` (another shape than the adapter knows) ends the
    wait as ``TargetError`` after a few reads, not after the whole timeout; a blank status
    between two real ones is tolerated."""
    reads = iter([{"id": "j1"}, {"id": "j1", "status": "pending"}, {"id": "j1"},
                  {"id": "j1"}, {"id": "j1", "status": "running"}])
    assert wait_for_status(lambda: next(reads), {"running"}, 5.0, "job j1",
                           first=0.001)["status"] == "running"
    begun = time.monotonic()
    with pytest.raises(TargetError, match="job j2: 3 reads in a row answered without a status"):
        wait_for_status(lambda: {"id": "j2"}, {"running"}, 60.0, "job j2", first=0.001)
    assert time.monotonic() - begun < 5.0
    with pytest.raises(WaitTimeout, match="job j3 still 'pending'"):
        wait_for_status(lambda: {"id": "j3", "status": "pending"}, {"running"}, 0.05,
                        "job j3", first=0.001)
