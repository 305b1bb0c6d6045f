"""Runtime images: capabilities ``images`` (the platform's image catalogue), ``imagecache``
(pulling an image onto a node) and ``registry`` (an OCI distribution registry)."""

from __future__ import annotations

from typing import Protocol, TypedDict, runtime_checkable

from .common import ActsAs, Labels


class Image(TypedDict, total=False):
    """A runtime image of the platform's catalogue."""

    id: str
    name: str
    tag: str
    framework: str | None
    framework_version: str | None
    preset: bool
    size_bytes: int
    labels: dict[str, str]


class ImagePull(TypedDict, total=False):
    """What pulling an image onto a node took."""

    seconds: float
    bytes_transferred: int
    image_bytes: int
    layers: int
    layers_needed: int
    layers_cached: int
    simulated: bool


class PushedImage(TypedDict, total=False):
    """A probe image pushed to a registry."""

    repository: str
    tag: str
    digest: str
    bytes: int
    seconds: float


class PulledImage(TypedDict, total=False):
    """A manifest and its blobs fetched from a registry, digests checked."""

    digest: str
    bytes: int
    seconds: float


@runtime_checkable
class Images(ActsAs, Protocol):
    """Runtime images, preset and custom."""

    def list_images(self) -> list[Image]:
        """Images the caller may use."""
        ...

    def create_image(self, name: str, tag: str, *, framework: str | None = None,
                     labels: Labels | None = None) -> Image:
        """Register an image (removed at the end of the check)."""
        ...

    def delete_image(self, image_id: str) -> None:
        """Delete an image."""
        ...


@runtime_checkable
class ImageCache(Protocol):
    """Image pulls onto a node, as an instance start does them."""

    def pull(self, node_id: str, image: str, mode: str = "full") -> ImagePull:
        """Pull ``image`` (``name:tag``) onto a node; ``mode`` ``full`` or ``lazy`` (start as
        soon as the layers needed to start are there)."""
        ...


@runtime_checkable
class Registry(Protocol):
    """An OCI distribution registry."""

    def catalog(self) -> list[str]:
        """Repository names."""
        ...

    def tags(self, repository: str) -> list[str]:
        """Tags of a repository (empty if it is unknown)."""
        ...

    def probe_repository(self, suffix: str) -> str:
        """A repository name for this run's probe images (under the configured prefix)."""
        ...

    def push_probe_image(self, repository: str, tag: str,
                         payload: bytes = b"sca-probe\n") -> PushedImage:
        """Build and push a tiny image (its manifest deleted at the end of the check)."""
        ...

    def pull(self, repository: str, reference: str) -> PulledImage:
        """Fetch the manifest and every blob, checking digests."""
        ...

    def exists(self, repository: str, reference: str) -> bool:
        """Whether the manifest a tag or digest names can be fetched."""
        ...

    def delete(self, repository: str, digest: str) -> None:
        """Delete a manifest by digest."""
        ...
