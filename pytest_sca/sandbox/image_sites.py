"""What the sandbox's preset images hold of their framework: the Python distribution's
metadata (``<dist>-<version>.dist-info``), on the ``PYTHONPATH`` of every job that runs in
the image, so that ``importlib.metadata.version("torch")`` inside the job answers the
version the image carries. No framework code is there: ``import torch`` still fails, and the
probes fall back to their standard-library paths as on an image without it.
"""

from __future__ import annotations

from pathlib import Path

from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.store import Document

#: framework → the Python distribution that installs it.
DISTRIBUTIONS = {"pytorch": "torch", "tensorflow": "tensorflow", "mindspore": "mindspore"}
#: What the PyTorch preset image carries under ``preset_image_framework_stale``.
STALE_PYTORCH = "2.1.0"


def image_site(root: Path, image: Document, faults: Faults) -> Path | None:
    """The directory of the preset ``image``'s framework metadata (made on first use), or None
    when the image names no framework with a version the sandbox knows."""
    framework = str(image.get("framework") or "")
    dist, version = DISTRIBUTIONS.get(framework), image.get("framework_version")
    if not dist or not version:
        return None
    if framework == "tensorflow" and Fault.TENSORFLOW_IMAGE_WITHOUT_TENSORFLOW in faults:
        return None
    if framework == "pytorch" and Fault.PRESET_IMAGE_FRAMEWORK_STALE in faults:
        version = STALE_PYTORCH
    site = root / f"{image['name']}-{image['tag']}-{version}"
    metadata = site / f"{dist}-{version}.dist-info" / "METADATA"
    if not metadata.exists():
        metadata.parent.mkdir(parents=True, exist_ok=True)
        metadata.write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n",
                            encoding="utf-8")
    return site
