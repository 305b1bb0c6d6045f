"""6.3 镜像管理 Image management."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_sca.cleanup import Cleanup
from pytest_sca.fixtures import CheckContext

MAINSTREAM_FRAMEWORKS = ("pytorch", "tensorflow", "mindspore", "paddlepaddle", "jax", "mxnet")


def _framework(image: dict[str, Any]) -> str | None:
    text = f"{image.get('framework') or ''} {image.get('name') or ''}".lower()
    text = text.replace("torch", "pytorch").replace("pypytorch", "pytorch").replace(
        "paddle", "paddlepaddle").replace("paddlepaddlepaddle", "paddlepaddle")
    return next((f for f in MAINSTREAM_FRAMEWORKS if f in text), None)


def _delete_if_present(registry: Any, repository: str, digest: str) -> None:
    if registry.exists(repository, digest):
        registry.delete(repository, digest)


def uncached_pulls(compute: Any, images: Any, imagecache: Any, mode: str,
                   count: int) -> list[dict[str, Any]]:
    """Pull the largest preset image, in ``mode``, onto ``count`` nodes where none of its
    layers were cached yet; fewer when the nodes run out."""
    presets = sorted((i for i in images.list_images() if i.get("preset")),
                     key=lambda i: -(i.get("size_bytes") or 0))
    pulls: list[dict[str, Any]] = []
    for image in presets:
        for node in compute.list_nodes():
            if len(pulls) == count:
                return pulls
            if any(p["node_id"] == node["id"] for p in pulls):
                continue
            first = imagecache.pull(node["id"], f"{image['name']}:{image['tag']}", mode)
            if not first.get("layers_cached"):
                pulls.append({**first, "node_id": node["id"],
                              "image": f"{image['name']}:{image['tag']}"})
        if pulls:
            return pulls
    return pulls


@pytest.mark.clause("6.3.a")
def test_preset_images_of_mainstream_frameworks(sca: CheckContext, images: Any) -> None:
    """The catalogue offers preset images of PyTorch and at least one other mainstream
    framework, each with its framework version."""
    presets = [i for i in images.list_images() if i.get("preset")]
    frameworks = {f: i for i in presets if (f := _framework(i))}
    sca.evidence("preset images", [
        {k: i.get(k) for k in ("name", "tag", "framework", "framework_version")}
        for i in presets])
    assert "pytorch" in frameworks, (
        f"[6.3.a] no preset PyTorch image among {len(presets)} preset image(s)")
    assert len(frameworks) >= 2, (
        f"[6.3.a] preset images cover only {sorted(frameworks)}: a second framework is needed")
    unversioned = [f for f, i in frameworks.items()
                   if not (i.get("framework_version") or i.get("tag"))]
    assert not unversioned, f"[6.3.a] preset images without a version: {unversioned}"


@pytest.mark.clause("6.3.b")
@pytest.mark.mutating
def test_custom_image_push_versions_pull_delete(sca: CheckContext, registry: Any,
                                                cleanup: Cleanup) -> None:
    """Two versions of a tiny probe image pushed to the registry are listed and pullable with
    the pushed digest; deleting one removes only that version."""
    repository = registry.probe_repository("custom")
    pushed = {}
    for tag in ("v1", "v2"):
        pushed[tag] = registry.push_probe_image(repository, tag, f"sca {tag}\n".encode())
    listed = registry.tags(repository)
    sca.evidence("pushed", {"repository": repository, "pushed": pushed, "tags": listed})
    for tag in pushed:
        assert tag in listed, f"[6.3.b] pushed tag {tag} is not listed in {repository}: {listed}"
    pulled = registry.pull(repository, "v1")
    assert pulled["digest"] == pushed["v1"]["digest"], (
        f"[6.3.b] pulling {repository}:v1 gave {pulled['digest']}, pushed "
        f"{pushed['v1']['digest']}")
    registry.delete(repository, pushed["v1"]["digest"])
    assert not registry.exists(repository, "v1"), (
        f"[6.3.b] {repository}:v1 still pullable after it was deleted")
    assert registry.exists(repository, "v2"), (
        f"[6.3.b] deleting v1 of {repository} also removed v2")


@pytest.mark.clause("6.3.c")
@pytest.mark.mutating  # pulls images onto nodes
def test_second_start_is_faster(sca: CheckContext, compute: Any, images: Any,
                                imagecache: Any) -> None:
    """Pulling a large preset image onto a node a second time (as a second instance start
    does) takes less than half the time and transfers less than the first."""
    first = uncached_pulls(compute, images, imagecache, "full", 1)
    if not first:
        sca.not_assessed("every node already caches every preset image: no first pull to "
                         "compare with; evaluate on a node without the image")
    second = imagecache.pull(first[0]["node_id"], first[0]["image"], "full")
    sca.evidence("pulls", {"first": first[0], "second": second})
    sca.measure("first pull", first[0]["seconds"], "s")
    sca.measure("second pull", second["seconds"], "s")
    assert second["seconds"] < 0.5 * first[0]["seconds"] and (
        second["bytes_transferred"] < first[0]["bytes_transferred"]), (
        f"[6.3.c] second pull of {first[0]['image']} on {first[0]['node_id']} not faster: "
        f"{second['seconds']:.3f} s and {second['bytes_transferred']} bytes after "
        f"{first[0]['seconds']:.3f} s and {first[0]['bytes_transferred']} bytes")


@pytest.mark.clause("6.3.d")
@pytest.mark.mutating  # pulls images onto nodes
def test_start_transfers_less_than_the_image(sca: CheckContext, compute: Any, images: Any,
                                             imagecache: Any) -> None:
    """Starting from an image on a node that has none of its layers transfers less than the
    whole image before the start (layered, lazy pull)."""
    pulls = uncached_pulls(compute, images, imagecache, "lazy", 1)
    if not pulls:
        sca.not_assessed("every node already caches every preset image; evaluate on a node "
                         "without the image")
    pull = pulls[0]
    sca.evidence("lazy pull", pull)
    sca.measure("transferred before start", pull["bytes_transferred"], "bytes")
    assert pull["bytes_transferred"] < pull["image_bytes"], (
        f"[6.3.d] starting {pull['image']} on {pull['node_id']} transferred "
        f"{pull['bytes_transferred']} of {pull['image_bytes']} bytes: the whole image")
