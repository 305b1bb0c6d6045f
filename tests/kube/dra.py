"""Dynamic Resource Allocation for the emulated cluster — a TEST DOUBLE of the upstream
resource-claim controller and the scheduler's allocator, moving claims through the states
https://kubernetes.io/docs/concepts/scheduling-eviction/dynamic-resource-allocation/ and the
``resource.k8s.io/v1`` types (k8s.io/api ``resource/v1/types.go``) describe:

- claim controller: for each ``spec.resourceClaims[]`` entry of a pod that names a
  ``resourceClaimTemplateName``, a ResourceClaim ``<pod>-<claim>-<random>`` from the template's
  ``spec.spec``, owned by the pod (deleted with it), its name recorded in the pod's
  ``status.resourceClaimStatuses``;
- allocator (called by the scheduler emulation for each candidate node): every claim of the
  pod is allocated from the devices the node's ResourceSlices publish that no other claim
  holds — each request's ``exactly.count`` devices matching its DeviceClass's and its own
  CEL selectors, and every ``constraints[].matchAttribute`` honoured: all devices of the
  constrained requests have the attribute, of one type and one value ("a device which does
  not have that attribute will not be chosen"). The search is first-fit over the devices in
  slice order with backtracking, so a node whose first free devices straddle two PCIe roots
  still gives four of one root. The result goes to ``status.allocation.devices.results``
  (``request``, ``driver``, ``pool``, ``device``) with the node in ``nodeSelector``, the pod
  in ``status.reservedFor``;
- a pod that ended is removed from ``reservedFor``; a claim reserved for no one is
  deallocated.

CEL: only the selector forms DRA drivers' classes and the adapter write are understood —
terms joined by ``&&``, each ``device.driver == '<name>'`` or
``device.attributes['<domain>'].<name> == <string, int or bool>``. Anything else selects
nothing. Attributes are compared as scalars (no ``DRAListTypeAttributes``).

Fault ``dra_ignores_constraints``: the allocator takes the first free matching devices and
ignores ``matchAttribute`` (a four-GPU claim spreads across PCIe roots).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import secrets
from collections.abc import Iterator, Sequence
from typing import Any

from .apiserver import ApiError, Store

GROUP = "resource.k8s.io"
#: Where the devices of a driver are made visible to the container (as its CDI spec would).
VISIBLE = {"nvidia.com": "NVIDIA_VISIBLE_DEVICES", "amd.com": "HIP_VISIBLE_DEVICES",
           "huawei.com": "ASCEND_VISIBLE_DEVICES"}

_TERM_DRIVER = re.compile(r"""^device\.driver\s*==\s*(['"])(?P<driver>[^'"]+)\1$""")
_TERM_ATTRIBUTE = re.compile(
    r"""^device\.attributes\[(['"])(?P<domain>[^'"]+)\1\]\.(?P<name>[A-Za-z_]\w*)\s*==\s*"""
    r"""(?P<value>'[^']*'|"[^"]*"|-?\d+|true|false)$""")

Device = dict[str, Any]  # driver, pool, name, node, attributes


def _literal(text: str) -> tuple[str, Any]:
    if text[:1] in "'\"":
        return "string", text[1:-1]
    if text in ("true", "false"):
        return "bool", text == "true"
    return "int", int(text)


def _typed(attribute: Any) -> tuple[str, Any] | None:
    if not isinstance(attribute, dict):
        return None
    for kind in ("string", "int", "bool", "version"):
        if kind in attribute:
            return kind, attribute[kind]
    return None


def attribute_of(device: Device, name: str) -> tuple[str, Any] | None:
    """A device's attribute by its fully qualified name (a bare name is the driver's)."""
    for key, value in (device.get("attributes") or {}).items():
        if (key if "/" in key else f"{device['driver']}/{key}") == name:
            return _typed(value)
    return None


def selects(expression: str, device: Device) -> bool:
    """Whether a CEL selector of the understood forms selects the device."""
    for term in (t.strip() for t in expression.split("&&")):
        found = _TERM_DRIVER.match(term)
        if found:
            if device["driver"] != found["driver"]:
                return False
            continue
        found = _TERM_ATTRIBUTE.match(term)
        if found is None:
            return False  # a form this emulator does not evaluate selects nothing
        if attribute_of(device, f"{found['domain']}/{found['name']}") != \
                _literal(found["value"]):
            return False
    return True


class DraAllocator:
    """The claim controller and the scheduler's DRA allocator, on the emulated store."""

    def __init__(self, store: Store, faults: set[str]) -> None:
        self.store, self.faults = store, faults

    def served(self) -> bool:
        return (GROUP, "resourceclaims") in self.store.served

    # claim controller -----------------------------------------------------------------------

    def reconcile(self) -> None:
        """Claims for pods from their templates; reservations of ended or gone pods
        released, and claims reserved for no one deallocated."""
        if not self.served():
            return
        live: dict[tuple[str, str], dict[str, Any]] = {}
        for pod in self.store.list("", "pods", None):
            meta = pod["metadata"]
            ended = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
            if not ended:
                live[(meta["namespace"], meta["uid"])] = pod
            self._generate(pod)
        for claim in self.store.list(GROUP, "resourceclaims", None):
            state = claim.setdefault("status", {})
            namespace = claim["metadata"]["namespace"]
            kept = [r for r in state.get("reservedFor") or []
                    if (namespace, r.get("uid")) in live]
            if kept != (state.get("reservedFor") or []):
                state["reservedFor"] = kept
            if not kept and state.get("allocation"):
                state.pop("allocation", None)
                state.pop("reservedFor", None)

    def _generate(self, pod: dict[str, Any]) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        state = pod.setdefault("status", {})
        made = {s["name"] for s in state.get("resourceClaimStatuses") or []}
        for entry in spec.get("resourceClaims") or []:
            template_name = entry.get("resourceClaimTemplateName")
            if not template_name or entry["name"] in made:
                continue
            try:
                template = self.store.get(GROUP, "resourceclaimtemplates", meta["namespace"],
                                          template_name)
            except ApiError:
                continue  # the pod waits for its template
            name = f"{meta['name']}-{entry['name']}-{secrets.token_hex(3)[:5]}"
            body = template.get("spec") or {}
            self.store.create(GROUP, "resourceclaims", meta["namespace"], {
                "metadata": {"name": name,
                             "labels": dict((body.get("metadata") or {}).get("labels") or {}),
                             "annotations": {"resource.kubernetes.io/pod-claim-name":
                                             entry["name"]},
                             "ownerReferences": [{"apiVersion": "v1", "kind": "Pod",
                                                  "name": meta["name"], "uid": meta["uid"],
                                                  "controller": True,
                                                  "blockOwnerDeletion": True}]},
                "spec": json.loads(json.dumps(body.get("spec") or {})), "status": {}})
            state.setdefault("resourceClaimStatuses", []).append(
                {"name": entry["name"], "resourceClaimName": name})

    # allocator ------------------------------------------------------------------------------

    def claims_of(self, pod: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The pod's claims, or None while one is not created yet."""
        spec = pod.get("spec") or {}
        names = {s["name"]: s.get("resourceClaimName")
                 for s in (pod.get("status") or {}).get("resourceClaimStatuses") or []}
        claims = []
        for entry in spec.get("resourceClaims") or []:
            name = entry.get("resourceClaimName") or names.get(entry["name"])
            if not name:
                return None
            try:
                claims.append(self.store.get(GROUP, "resourceclaims",
                                             pod["metadata"]["namespace"], name))
            except ApiError:
                return None
        return claims

    def allocate(self, pod: dict[str, Any], node: str, commit: bool) -> str | None:
        """Allocate (when ``commit``) or try to allocate every claim of the pod on ``node``;
        None on success, else why not (the scheduler's words)."""
        if not (pod.get("spec") or {}).get("resourceClaims"):
            return None
        if not self.served():
            return "resource.k8s.io is not served"
        claims = self.claims_of(pod)
        if claims is None:
            return "waiting for resource claims to be created"
        taken = self._taken()
        free = [d for d in self._devices(node) if self._key(d) not in taken]
        plans: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        for claim in claims:
            allocation = (claim.get("status") or {}).get("allocation")
            if allocation:
                nodes = [v for term in (allocation.get("nodeSelector") or {})
                         .get("nodeSelectorTerms") or []
                         for f in term.get("matchFields") or [] for v in f.get("values") or []]
                if nodes and node not in nodes:
                    return "resourceclaim is allocated on another node"
                continue
            results = self._solve(claim, free)
            if results is None:
                return "cannot allocate all claims"
            used = {(r["driver"], r["pool"], r["device"]) for r in results}
            free = [d for d in free if self._key(d) not in used]
            plans.append((claim, results))
        if commit:
            meta = pod["metadata"]
            for claim, results in plans:
                claim.setdefault("status", {})["allocation"] = {
                    "devices": {"results": results},
                    "nodeSelector": {"nodeSelectorTerms": [{"matchFields": [
                        {"key": "metadata.name", "operator": "In", "values": [node]}]}]}}
            for claim in claims:
                state = claim.setdefault("status", {})
                reserved = state.setdefault("reservedFor", [])
                if not any(r.get("uid") == meta["uid"] for r in reserved):
                    reserved.append({"resource": "pods", "name": meta["name"],
                                     "uid": meta["uid"]})
        return None

    def env(self, pod: dict[str, Any]) -> dict[str, str]:
        """The visible-device variables of the devices the pod's claims were allocated."""
        if not (pod.get("spec") or {}).get("resourceClaims") or not self.served():
            return {}
        by_variable: dict[str, list[str]] = {}
        devices = {self._key(d): d for d in self._devices(None)}
        for claim in self.claims_of(pod) or []:
            allocation = (claim.get("status") or {}).get("allocation") or {}
            for result in (allocation.get("devices") or {}).get("results") or []:
                key = (result["driver"], result["pool"], result["device"])
                variable = next((v for domain, v in VISIBLE.items()
                                 if key[0] == domain or key[0].endswith("." + domain)), None)
                device = devices.get(key)
                if variable is None or device is None:
                    continue
                index = attribute_of(device, f"{key[0]}/index")
                by_variable.setdefault(variable, []).append(
                    str(index[1]) if index else key[2])
        return {v: ",".join(names) for v, names in by_variable.items()}

    # the search -----------------------------------------------------------------------------

    @staticmethod
    def _key(device: Device) -> tuple[str, str, str]:
        return device["driver"], device["pool"], device["name"]

    def _devices(self, node: str | None) -> list[Device]:
        found = []
        for item in self.store.list(GROUP, "resourceslices", None):
            spec = item.get("spec") or {}
            if node is not None and spec.get("nodeName") != node:
                continue
            for device in spec.get("devices") or []:
                found.append({"driver": spec.get("driver"),
                              "pool": (spec.get("pool") or {}).get("name"),
                              "name": device.get("name"), "node": spec.get("nodeName"),
                              "attributes": device.get("attributes") or {}})
        return found

    def _taken(self) -> set[tuple[str, str, str]]:
        return {(r["driver"], r["pool"], r["device"])
                for claim in self.store.list(GROUP, "resourceclaims", None)
                for r in (((claim.get("status") or {}).get("allocation") or {})
                          .get("devices") or {}).get("results") or []}

    def _class_selectors(self, name: str) -> list[str] | None:
        with contextlib.suppress(ApiError):
            found = self.store.get(GROUP, "deviceclasses", None, name)
            return [str((s.get("cel") or {}).get("expression", ""))
                    for s in (found.get("spec") or {}).get("selectors") or []]
        return None

    def _solve(self, claim: dict[str, Any], free: list[Device]
               ) -> list[dict[str, Any]] | None:
        """Results for every request of the claim, honouring its constraints; None if none."""
        devices_spec = (claim.get("spec") or {}).get("devices") or {}
        requests = devices_spec.get("requests") or []
        constraints = [] if "dra_ignores_constraints" in self.faults \
            else [c for c in devices_spec.get("constraints") or [] if c.get("matchAttribute")]
        wanted: list[tuple[str, int, list[Device]]] = []
        for request in requests:
            exactly = request.get("exactly")
            if not exactly or exactly.get("allocationMode", "ExactCount") != "ExactCount":
                return None  # firstAvailable, allocationMode All: not emulated
            selectors = self._class_selectors(str(exactly.get("deviceClassName")))
            if selectors is None:
                return None  # the class does not exist: nothing can be allocated
            selectors += [str((s.get("cel") or {}).get("expression", ""))
                          for s in exactly.get("selectors") or []]
            candidates = [d for d in free if all(selects(e, d) for e in selectors)]
            wanted.append((request["name"], int(exactly.get("count") or 1), candidates))
        for picked in self._combinations(wanted, set()):
            if all(self._shared(picked, c) for c in constraints):
                return [{"request": name, "driver": d["driver"], "pool": d["pool"],
                         "device": d["name"]} for name, chosen in picked for d in chosen]
        return None

    def _combinations(self, wanted: Sequence[tuple[str, int, list[Device]]],
                      used: set[tuple[str, str, str]]
                      ) -> Iterator[list[tuple[str, tuple[Device, ...]]]]:
        """Every choice of devices for the requests, first-fit order (lowest devices first)."""
        if not wanted:
            yield []
            return
        name, count, candidates = wanted[0]
        left = [d for d in candidates if self._key(d) not in used]
        for chosen in itertools.combinations(left, count):
            keys = {self._key(d) for d in chosen}
            for rest in self._combinations(wanted[1:], used | keys):
                yield [(name, chosen), *rest]

    @staticmethod
    def _shared(picked: list[tuple[str, tuple[Device, ...]]], constraint: dict[str, Any]
                ) -> bool:
        """Whether the devices of the constrained requests all have the attribute, of one
        type and value."""
        names = set(constraint.get("requests") or [n for n, _ in picked])
        values = [attribute_of(d, str(constraint["matchAttribute"]))
                  for name, chosen in picked if name in names for d in chosen]
        return all(v is not None for v in values) and len(set(values)) <= 1
