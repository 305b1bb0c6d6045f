"""``images`` and ``imagecache`` over the platform API."""

from __future__ import annotations

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.platform.client import PlatformClient
from pytest_sca.adapters.platform.tenancy import labels_or_none
from pytest_sca.capabilities import Image, ImagePull, Labels


class PlatformImages(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.Images` over the platform API."""

    def list_images(self) -> list[Image]:
        return self.subject.call("images.list")

    def create_image(self, name: str, tag: str, *, framework: str | None = None,
                     labels: Labels | None = None) -> Image:
        return self.subject.create(
            "images.create", "images", "images.delete", {"image_id": "id"},
            name=name, tag=tag, framework=framework, labels=labels_or_none(labels))

    def delete_image(self, image_id: str) -> None:
        self.subject.remove("images.delete", image_id=image_id)


class PlatformImageCache(Facade[PlatformClient]):
    """:class:`~pytest_sca.capabilities.ImageCache` over the platform API."""

    def pull(self, node_id: str, image: str, mode: str = "full") -> ImagePull:
        return self.subject.call("images.pull", node_id=node_id, image=image, mode=mode)
