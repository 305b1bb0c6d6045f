"""The Kubernetes adapter: an AI platform built from the upstream Kubernetes stack, through
the official client.

One module per capability, each mapped to the API such a platform really offers:
tenancy (Namespaces, ServiceAccounts + TokenRequest, RBAC, ResourceQuota), compute (Nodes,
device-plugin resources, DRA ResourceSlices), jobs (``batch/v1`` Jobs), training (Kubeflow
Trainer TrainJob, Training Operator PyTorchJob or JobSet), scheduling (Kueue, or Volcano
where the cluster serves it and not Kueue: :mod:`.volcano`),
services (Deployments, Services, HPAs), network (NetworkPolicy), models and model services
(KServe), dev machines and terminals (Kubeflow Notebooks, ``pods/exec``), storage
(PersistentVolumeClaims, StorageClasses), audit (the API server's audit log), telemetry
and job series (the cluster's Prometheus through the service proxy), workflows (the
platform's in-cluster ComfyUI through the service proxy), clusters (Cluster API Clusters
from ClusterClasses, scaled through their topology).
Everything it creates carries ``sca-run=<run id>`` and is deleted at the end.
See docs/kubernetes.md.
"""

from __future__ import annotations

from .adapter import KubernetesAdapter
from .audit import KubeAudit
from .clusters import KubeClusters
from .compute import KubeCompute
from .devmachines import KubeDevMachines, KubeDevTools
from .imagecache import KubeImageCache
from .jobs import KubeJobs
from .models import KubeModels, KubeModelServices
from .monitoring import KubeTelemetry
from .resources import KINDS, VENDOR_RESOURCES, dns_name, vendor_of
from .scheduling import KubeScheduling
from .services import KubeNetwork, KubeServices
from .storage import KubeFileSystems
from .tenancy import KubeTenancy
from .topology import KubeTopology
from .training import KubeTraining
from .workflows import KubeWorkflows

__all__ = ["KINDS", "VENDOR_RESOURCES", "KubeAudit", "KubeClusters", "KubeCompute",
           "KubeDevMachines",
           "KubeDevTools", "KubeFileSystems", "KubeImageCache", "KubeJobs",
           "KubeModelServices", "KubeModels",
           "KubeNetwork", "KubeScheduling", "KubeServices", "KubeTelemetry", "KubeTenancy",
           "KubeTopology",
           "KubeTraining", "KubeWorkflows", "KubernetesAdapter", "dns_name", "vendor_of"]

#: The Kubernetes adapter's capabilities (set here: each implementation needs the class).
KubernetesAdapter.implementations = {
    "tenancy": KubeTenancy, "compute": KubeCompute, "clusters": KubeClusters,
    "topology": KubeTopology,
    "jobs": KubeJobs, "training": KubeTraining, "scheduling": KubeScheduling,
    "services": KubeServices, "network": KubeNetwork, "models": KubeModels,
    "model_services": KubeModelServices, "devmachines": KubeDevMachines,
    "devtools": KubeDevTools, "filesystems": KubeFileSystems, "audit": KubeAudit,
    "imagecache": KubeImageCache, "telemetry": KubeTelemetry, "workflows": KubeWorkflows}
