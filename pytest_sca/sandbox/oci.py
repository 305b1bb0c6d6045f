"""A minimal OCI distribution registry inside the sandbox, and image pulls onto nodes.

Blobs are real files under ``DIR/registry/blobs`` addressed by their sha256;
manifests and tags are store documents. Pulls onto a node are simulated
transfers (the sandbox has no container runtime): each layer not yet in the
node's layer cache costs ``size / SIMULATED_BANDWIDTH`` seconds of real
waiting, a lazy pull waits only for the layers needed to start.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

from pytest_sca.sandbox.auth import Principal
from pytest_sca.sandbox.errors import ApiError, not_found
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.store import Document, Store, utc_now

#: Simulated bytes per second of a pull from the registry to a node: 10 GB/s keeps a 7 GB
#: preset image at ~0.7 s of real waiting, long enough that a pull's time stands out from a
#: loaded host's hiccups (the 6.3.c/6.5.f checks ignore less than 0.25 s unaccounted for).
SIMULATED_BANDWIDTH = 10e9
#: How much faster than the first node the others pull under ``lazy_pull_on_faster_node``.
FASTER_LINK = 4.0
#: Share of an image's bytes in the layers needed to start it (lazy pull).
LAYERS_PER_IMAGE = 4
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


def digest_of(data: bytes) -> str:
    """The content digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    """Blobs on disk, manifests and tags in the store; image pulls onto nodes."""

    def __init__(self, store: Store, blob_dir: Path, faults: Faults) -> None:
        self.store = store
        self.faults = faults
        self.blob_dir = blob_dir
        self.blob_dir.mkdir(parents=True, exist_ok=True)

    def _blob_path(self, digest: str) -> Path:
        if not DIGEST.match(digest):
            raise ApiError(400, "invalid_request", f"bad digest {digest!r}")
        return self.blob_dir / digest.removeprefix("sha256:")

    def put_blob(self, digest: str, data: bytes) -> None:
        """Store a blob whose content must match ``digest``."""
        if digest_of(data) != digest:
            raise ApiError(400, "invalid_request", "DIGEST_INVALID: content does not match")
        self._blob_path(digest).write_bytes(data)

    def blob(self, digest: str) -> bytes:
        """A blob's content or 404."""
        path = self._blob_path(digest)
        if not path.exists():
            raise not_found(f"blob {digest}")
        return path.read_bytes()

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str
                     ) -> str:
        """Store a manifest under its digest, and under ``reference`` if it is a tag."""
        digest = digest_of(body)
        if Fault.REGISTRY_PUSH_LOST in self.faults:
            return digest
        store = self.store
        store.put("ocimanifest", {
            "id": f"{repository}@{digest}", "repository": repository, "digest": digest,
            "media_type": media_type, "body": body.decode("utf-8"), "created_at": utc_now(),
            "labels": {},
        })
        if not DIGEST.match(reference):
            store.put("ocitag", {"id": f"{repository}:{reference}", "repository": repository,
                                 "tag": reference, "digest": digest, "created_at": utc_now(),
                                 "labels": {}})
        return digest

    def manifest(self, repository: str, reference: str) -> Document:
        """The manifest a tag or digest names, or 404."""
        store = self.store
        digest = reference
        if not DIGEST.match(reference):
            tag = store.get("ocitag", f"{repository}:{reference}")
            if tag is None:
                raise not_found(f"manifest {repository}:{reference}")
            digest = tag["digest"]
        found = store.get("ocimanifest", f"{repository}@{digest}")
        if found is None:
            raise not_found(f"manifest {repository}@{digest}")
        return found

    def delete_manifest(self, repository: str, digest: str) -> None:
        """Remove a manifest and every tag that points at it."""
        store = self.store
        if store.get("ocimanifest", f"{repository}@{digest}") is None:
            raise not_found(f"manifest {repository}@{digest}")
        for tag in store.list("ocitag", where=lambda t: t["repository"] == repository
                              and t["digest"] == digest):
            store.delete("ocitag", tag["id"])
        store.delete("ocimanifest", f"{repository}@{digest}")

    def repositories(self) -> list[str]:
        """Repositories with at least one tag."""
        return sorted({t["repository"] for t in self.store.list("ocitag")})

    def tags(self, repository: str) -> list[str]:
        """Tags of one repository."""
        return sorted(t["tag"] for t in self.store.list(
            "ocitag", where=lambda t: t["repository"] == repository))

    def pull(self, who: Principal, node_id: str, reference: str, mode: str) -> Document:
        """Pull a catalogue image ``who`` may use onto a node; 404 for either unknown."""
        node = self.store.get("node", node_id)
        if node is None:
            raise not_found(f"node {node_id}")
        name, _, tag = reference.partition(":")
        images = [i for i in self.store.list("image")
                  if i["name"] == name and i["tag"] == (tag or "latest")
                  and (i["tenant_id"] is None or i["tenant_id"] == who.tenant_id)]
        if not images:
            raise not_found(f"image {reference}")
        return self._pull_onto_node(node, images[0], mode)

    def _pull_onto_node(self, node: Document, image: Document, mode: str) -> Document:
        """Pull ``image`` onto ``node`` through its layer cache; really waits the simulated time."""
        layers = image_layers(image)
        inflated = Fault.LAZY_PULL_SIZE_INFLATED in self.faults and mode == "lazy"
        # Faults whose pulls transfer more than they report: the cache held layers it then
        # fetched again anyway; a lazy pull fetched the whole image.
        cache_lies = Fault.LAYER_CACHE_HITS_MISREPORTED in self.faults
        lazy_lies = Fault.LAZY_PULL_TIME_MISREPORTED in self.faults and mode == "lazy"
        uneven = Fault.LAZY_PULL_ON_FASTER_NODE in self.faults
        lazy = mode == "lazy" and Fault.LAZY_PULL_UNSUPPORTED not in self.faults \
            and not inflated and not uneven
        needed = layers if lazy_lies else layers[-1:] if lazy else layers
        use_cache = Fault.LAYER_CACHE_OFF not in self.faults
        store = self.store
        transferred = cached = unreported = 0
        for digest, size in needed:
            key = f"{node['id']}:{digest}"
            if use_cache and store.get("layercache", key) is not None:
                cached += 1
                if not cache_lies:
                    continue
                unreported += size
            elif lazy_lies and (digest, size) != layers[-1]:
                unreported += size
            transferred += size
            store.put("layercache", {"id": key, "node_id": node["id"], "digest": digest,
                                     "size_bytes": size, "created_at": utc_now(), "labels": {}})
        started = time.monotonic()
        time.sleep(transferred / (SIMULATED_BANDWIDTH * self._link_speedup(node, uneven)))
        seconds = time.monotonic() - started
        if unreported:  # the time the reported bytes take, plus the call's own overhead
            transferred -= unreported
            seconds = transferred / SIMULATED_BANDWIDTH + max(
                seconds - (transferred + unreported) / SIMULATED_BANDWIDTH, 1e-6)
        return {
            "node_id": node["id"], "image": f"{image['name']}:{image['tag']}", "mode": mode,
            "lazy": lazy, "seconds": round(seconds, 6),
            "bytes_transferred": transferred,
            "image_bytes": sum(s for _, s in layers) * (2 if inflated else 1),
            "layers": len(layers), "layers_needed": len(needed), "layers_cached": cached,
            "simulated": True,
        }

    def _link_speedup(self, node: Document, uneven: bool) -> float:
        """How much faster than :data:`SIMULATED_BANDWIDTH` the node pulls: 1, or under
        ``lazy_pull_on_faster_node`` 4 for every node but the first one listed."""
        if not uneven:
            return 1.0
        first = next(iter(self.store.list("node")), None)
        return 1.0 if first is None or first["id"] == node["id"] else FASTER_LINK


def image_layers(image: Document) -> list[tuple[str, int]]:
    """(digest, bytes) of a catalogue image's layers: a base, a framework, two thin ones.

    The start set is the last layer (entrypoint and config); sizes add up to ``size_bytes``.
    """
    size = int(image.get("size_bytes") or 0) or 64 * 1024 * 1024
    shares = (0.55, 0.40, 0.04, 0.01)
    return [
        (digest_of(f"{image['id']}:{image['tag']}:{n}".encode()), int(size * share))
        for n, share in enumerate(shares)
    ]
