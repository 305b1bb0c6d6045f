"""``workflows``: the platform's in-cluster ComfyUI (``comfyui_service``), reached through the
API server's service proxy
(https://kubernetes.io/docs/tasks/access-application-cluster/access-cluster-services/).

The ComfyUI adapter (:mod:`pytest_sca.adapters.comfyui`) speaks ComfyUI's API; its base URL
is the Service's proxy path and its session authenticates as the Kubernetes adapter's
principal (:meth:`.KubernetesAdapter.comfy`). Without ``comfyui_service`` every operation
raises :class:`~pytest_sca.capabilities.Unsupported` naming the setting.
"""

from __future__ import annotations

from pytest_sca.adapters.comfyui import ComfyUIAdapter, ComfyWorkflows

from .adapter import KubernetesAdapter


class KubeWorkflows(ComfyWorkflows):
    """:class:`~pytest_sca.capabilities.Workflows` of the in-cluster ComfyUI: the ComfyUI
    adapter's implementation over :meth:`.KubernetesAdapter.comfy`, built on first use."""

    def __init__(self, subject: KubernetesAdapter) -> None:
        self.kube = subject

    @property
    def subject(self) -> ComfyUIAdapter:  # type: ignore[override]
        return self.kube.comfy()
