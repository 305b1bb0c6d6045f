"""Dynamic Resource Allocation (``resource.k8s.io/v1``): the devices DRA drivers publish in
``ResourceSlice``s, the claim a job's pods make through a ``ResourceClaimTemplate`` and the
devices the scheduler allocated to each claim.

Shapes as ``k8s.io/api`` ``resource/v1/types.go`` defines them
(https://kubernetes.io/docs/concepts/scheduling-eviction/dynamic-resource-allocation/,
https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/resource-claim-v1/):

- a slice's ``spec`` has ``driver``, ``pool.name``, ``nodeName`` and ``devices[]``, each with
  a ``name`` and ``attributes`` (qualified name → one of ``int``, ``bool``, ``string``,
  ``version``); a name without a domain is in the driver's domain;
- a claim's ``spec.devices`` has ``requests[]`` (``name``, ``exactly``: ``deviceClassName``,
  ``selectors[].cel.expression``, ``allocationMode: ExactCount``, ``count``) and
  ``constraints[]`` (``requests``, ``matchAttribute``: all devices of those requests share
  that attribute's value);
- an allocated claim's ``status.allocation.devices.results[]`` names each device by
  ``driver``, ``pool`` and ``device``; ``status.reservedFor[]`` the pods using it;
- a pod names the claims generated from its templates in
  ``status.resourceClaimStatuses[].resourceClaimName``.

The standard attributes (``resource.kubernetes.io/pcieRoot``, ``…/numaNode``) are described at
https://kubernetes.io/docs/reference/node/dra-standard-device-attributes/.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_sca.capabilities import Refused, Unsupported

from .adapter import KubernetesAdapter

#: Attribute names (in the driver's domain) that name a device's model, first found wins.
MODEL_ATTRIBUTES = ("productName", "model", "type")
#: The request name of the claims the adapter makes.
REQUEST = "cards"
#: Annotation on a Job whose pods claim their cards through DRA: how many each pod claims.
CLAIMED_CARDS = "sca.evaluation/dra-cards"

DeviceKey = tuple[str, str, str]


def qualified(name: str, driver: str) -> str:
    """An attribute name with its domain (a bare name is in the driver's domain)."""
    return name if "/" in name else f"{driver}/{name}"


def attribute_value(attribute: Any) -> tuple[str, Any] | None:
    """A ``DeviceAttribute`` as (its type, its value), compared as such; None if unset."""
    if not isinstance(attribute, Mapping):
        return None
    for kind in ("string", "int", "bool", "version", "strings", "ints"):
        if attribute.get(kind) is not None:
            value = attribute[kind]
            return kind, tuple(value) if isinstance(value, list) else value
    return None


def shown(value: tuple[str, Any] | None) -> str:
    """A typed attribute value as text (a list as its comma-joined members)."""
    if value is None:
        return ""
    kind, data = value
    return ",".join(map(str, data)) if kind in ("strings", "ints") else str(data)


@dataclass(frozen=True)
class SliceDevice:
    """One device a driver published for a node."""

    node: str
    driver: str
    pool: str
    name: str
    attributes: Mapping[str, Any]

    @property
    def key(self) -> DeviceKey:
        """How an allocation result names the device: driver, pool, device."""
        return self.driver, self.pool, self.name

    def attribute(self, name: str) -> tuple[str, Any] | None:
        """The typed value of a fully qualified attribute, or None if the device lacks it."""
        for key, value in self.attributes.items():
            if qualified(str(key), self.driver) == name:
                return attribute_value(value)
        return None

    def model(self) -> tuple[str, str] | None:
        """(qualified attribute, value) of the attribute naming the model, or None."""
        for wanted in MODEL_ATTRIBUTES:
            name = qualified(wanted, self.driver)
            value = self.attribute(name)
            if value is not None and value[0] == "string" and value[1]:
                return name, str(value[1])
        return None


def slice_devices(slices: Iterable[Mapping[str, Any]]) -> list[SliceDevice]:
    """The devices of node-local slices, in the order the slices list them."""
    found: list[SliceDevice] = []
    for item in slices:
        spec = item.get("spec") or {}
        node = spec.get("nodeName")
        if not node:
            continue
        driver = str(spec.get("driver", ""))
        pool = str((spec.get("pool") or {}).get("name", ""))
        for device in spec.get("devices") or []:
            found.append(SliceDevice(str(node), driver, pool, str(device.get("name")),
                                     dict(device.get("attributes") or {})))
    return found


def allocated(adapter: KubernetesAdapter) -> dict[DeviceKey, dict[str, Any]]:
    """Device → the claim it is allocated to, over every namespace (the evaluator's view)."""
    if not adapter.serves("resourceclaim"):
        return {}
    held: dict[DeviceKey, dict[str, Any]] = {}
    for claim in adapter.list_objects("resourceclaim", None):
        for result in results_of(claim):
            held[(str(result.get("driver")), str(result.get("pool")),
                  str(result.get("device")))] = claim
    return held


def results_of(claim: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """``status.allocation.devices.results`` of a claim ([] while it is not allocated)."""
    allocation = (claim.get("status") or {}).get("allocation") or {}
    return list((allocation.get("devices") or {}).get("results") or [])


def reserved_pods(claim: Mapping[str, Any]) -> list[str]:
    """Names of the pods a claim is reserved for (``status.reservedFor``)."""
    return [str(r.get("name")) for r in (claim.get("status") or {}).get("reservedFor") or []
            if r.get("resource") == "pods" and not r.get("apiGroup")]


def device_class(adapter: KubernetesAdapter, driver: str) -> str:
    """The DeviceClass whose selectors pick the driver's devices (its installer creates it,
    e.g. ``gpu.nvidia.com``: ``device.driver == 'gpu.nvidia.com' && …``); the first by name
    when several do. :class:`Unsupported` when none does."""
    adapter.require("deviceclass", what=f"a claim for {driver}'s devices")
    names = []
    for item in adapter.list_objects("deviceclass", None):
        expressions = [str(((s or {}).get("cel") or {}).get("expression", ""))
                       for s in (item.get("spec") or {}).get("selectors") or []]
        said = " ".join(expressions).replace('"', "'").replace(" ", "")
        if f"device.driver=='{driver}'" in said:
            names.append(str(item["metadata"]["name"]))
    if not names:
        raise Unsupported(f"no DeviceClass selects the devices of DRA driver {driver} "
                          "(device.driver == '…'): a claim cannot name them")
    return sorted(names)[0]


def claim_spec(device_class_name: str, count: int, model: tuple[str, str] | None,
               attribute: str | None) -> dict[str, Any]:
    """A claim for ``count`` devices of the class (of ``model``: (qualified attribute,
    value)), all sharing ``attribute`` when given (``matchAttribute``)."""
    exactly: dict[str, Any] = {"deviceClassName": device_class_name,
                               "allocationMode": "ExactCount", "count": count}
    if model is not None:
        domain, _, name = model[0].rpartition("/")
        exactly["selectors"] = [{"cel": {"expression": (
            f"device.attributes[{json.dumps(domain)}].{name} == {json.dumps(model[1])}")}}]
    devices: dict[str, Any] = {"requests": [{"name": REQUEST, "exactly": exactly}]}
    if attribute:
        devices["constraints"] = [{"requests": [REQUEST], "matchAttribute": attribute}]
    return {"devices": devices}


def pod_devices(adapter: KubernetesAdapter, pod: Any) -> list[DeviceKey]:
    """The devices allocated to the claims generated for ``pod`` (typed client object):
    ``status.resourceClaimStatuses`` names each claim; a claim not found (deleted with its
    pod) gives none."""
    statuses = getattr(pod.status, "resource_claim_statuses", None) if pod.status else None
    keys: list[DeviceKey] = []
    for entry in statuses or []:
        name = entry.resource_claim_name
        if not name:
            continue
        try:
            claim = adapter.get_object("resourceclaim", pod.metadata.namespace, name)
        except Refused as refusal:
            if refusal.status == 404:
                continue
            raise
        keys += [(str(r.get("driver")), str(r.get("pool")), str(r.get("device")))
                 for r in results_of(claim)]
    return keys
