"""``imagecache``: how long a node takes to get an image, read from the kubelet's own
account. A probe pod pinned to the node (``nodeName``) with ``imagePullPolicy: Always``
makes the kubelet pull; its ``Pulled`` event says ``Successfully pulled image "…" in 1.2s
(1.2s including waiting). Image size: N bytes.`` (kubelet ≥ 1.29), or ``Container image "…"
already present on machine`` for ``IfNotPresent`` when the node has it
(https://kubernetes.io/docs/concepts/containers/images/). Lazy pulling (stargz, nydus) is a
snapshotter choice the API does not expose: :class:`Unsupported`.
"""

from __future__ import annotations

import re
import time

from pytest_sca.adapters.base import Facade
from pytest_sca.capabilities import RUN_LABEL, ImagePull, TargetError, Unsupported, WaitTimeout

from .adapter import KubernetesAdapter
from .resources import dns_name

PULLED = re.compile(r"in ([\d.]+)(ms|s)\b.*?(?:Image size: (\d+) bytes)?", re.S)
PULL_WAIT_S = 300.0


class KubeImageCache(Facade[KubernetesAdapter]):
    """Image pulls on a node (:class:`~pytest_sca.capabilities.ImageCache`)."""

    def pull(self, node_id: str, image: str, mode: str = "full") -> ImagePull:
        if mode != "full":
            raise Unsupported(f"the Kubernetes API cannot ask for a {mode} pull (a lazy "
                              "snapshotter such as stargz or nydus is node configuration)")
        adapter = self.subject
        namespace = adapter.ensure_namespace()
        name = dns_name(f"sca-pull-{node_id}-{time.monotonic_ns() % 10**8}")
        adapter.call("create pod", adapter.core().create_namespaced_pod, namespace, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {RUN_LABEL: adapter.context.run_id}},
            "spec": {"nodeName": node_id, "restartPolicy": "Never",
                     "containers": [{"name": "pull", "image": image,
                                     "imagePullPolicy": "Always", "command": ["true"]}]}})
        adapter.remember("pod", namespace, name)
        deadline = time.monotonic() + PULL_WAIT_S
        try:
            while time.monotonic() < deadline:
                for event in adapter.call("list events", adapter.core().list_namespaced_event,
                                          namespace).items:
                    if event.involved_object is None or event.involved_object.name != name:
                        continue
                    message = str(event.message or "")
                    if event.reason == "Pulled":
                        return _pull(message)
                    if event.reason in ("Failed", "ErrImagePull", "BackOff"):
                        raise TargetError(f"kubernetes: node {node_id} could not pull {image}: "
                                          f"{message}")
                time.sleep(0.5)
            raise WaitTimeout(f"node {node_id} did not pull {image} in {PULL_WAIT_S:g} s", None)
        finally:
            adapter.delete_pod(namespace, name)


def _pull(message: str) -> ImagePull:
    if "already present" in message:
        return {"seconds": 0.0, "bytes_transferred": 0, "simulated": False}
    found = PULLED.search(message)
    if found is None:
        raise TargetError(f"kubernetes: a Pulled event without a duration: {message!r}")
    seconds = float(found.group(1)) / (1000 if found.group(2) == "ms" else 1)
    size = int(found.group(3)) if found.group(3) else None
    answer: ImagePull = {"seconds": seconds, "simulated": False}
    if size is not None:
        answer["bytes_transferred"] = size
        answer["image_bytes"] = size
    return answer
