"""Names and tables the Kubernetes adapter reads objects with: device-plugin resource names
of every accelerator vendor, node labels, and the API groups of the upstream components
(Kueue, Volcano, Kubeflow Trainer / Training Operator, JobSet, KServe, Kubeflow Notebooks,
Cluster API)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Extended resource name (or prefix ending in ``*``) → accelerator vendor. Device plugins:
#: NVIDIA (whole GPUs and MIG slices), Huawei Ascend, Cambricon MLU, Hygon DCU, Kunlunxin XPU,
#: MetaX, Iluvatar CoreX, Moore Threads, Enflame GCU; HAMi's shared-GPU resources.
VENDOR_RESOURCES: dict[str, str] = {
    "nvidia.com/gpu": "nvidia",
    "nvidia.com/mig-*": "nvidia",
    "huawei.com/Ascend910*": "huawei",
    "huawei.com/Ascend310*": "huawei",
    "cambricon.com/mlu*": "cambricon",
    "hygon.com/dcu": "hygon",
    "kunlunxin.com/xpu": "kunlunxin",
    "amd.com/gpu": "amd",
    "metax-tech.com/gpu": "metax",
    "iluvatar.ai/*": "iluvatar",
    "mthreads.com/*": "mthreads",
    "enflame.com/*": "enflame",
}
#: DRA drivers (``ResourceSlice.spec.driver``) → vendor, matched as ``<driver>/dra``.
DRA_DRIVERS: dict[str, str] = {
    "gpu.nvidia.com/*": "nvidia", "gpu.amd.com/*": "amd", "gpu.intel.com/*": "intel",
    "npu.huawei.com/*": "huawei",
}
#: Resources that describe a share of a card (HAMi), not cards: never counted as cards.
SHARE_RESOURCES = frozenset({"nvidia.com/gpumem", "nvidia.com/gpucores",
                             "nvidia.com/gpumem-percentage"})
#: Node labels that name the accelerator model, first found wins.
MODEL_LABELS = ("nvidia.com/gpu.product", "accelerator", "node.kubernetes.io/accelerator",
                "huawei.com/accelerator-type")
#: Node labels kept as topology (zone, rack, switch group).
TOPOLOGY_LABELS = ("topology.kubernetes.io/region", "topology.kubernetes.io/zone",
                   "topology.kubernetes.io/rack", "network.topology/switch")
TENANT_LABEL = "sca-tenant"
ROLE_LABEL = "sca-role"
QUOTA_NAME = "sca-quota"
#: The tenant roles of the reference API → the ClusterRole a user's RoleBinding grants.
ROLE_CLUSTER_ROLES: dict[str, str] = {
    "tenant_admin": "admin", "member": "edit", "readonly": "view",
    "platform_admin": "cluster-admin",
}
#: Lifetime of the tokens the adapter requests for the users it creates.
TOKEN_SECONDS = 3600
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
MASTER_PORT = 29500
#: The variable that tells a job's worker the node its pod is bound to (``spec.nodeName``),
#: one of those the suite's probes read (``pytest_sca.suites.library.NODE_VARIABLES``).
NODE_VARIABLE = "SCA_NODE_NAME"
#: Kueue's label naming the LocalQueue of a job, and the WorkloadPriorityClass.
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
#: The label naming a pod's job: a batch Job's, or a Volcano Job's (volcano-sh/apis
#: ``pkg/apis/batch/v1alpha1/labels.go``).
JOB_LABELS = ("job-name", "volcano.sh/job-name")
#: Annotation on a Job the run stopped (suspended by request, not waiting in a queue).
STOPPED = "sca.evaluation/stopped"

POD_STATUS = {"Pending": "pending", "Running": "running", "Succeeded": "succeeded",
               "Failed": "failed", "Unknown": "pending"}


@dataclass(frozen=True)
class Kind:
    """A resource kind the adapter creates or reads: its API group, version, plural and
    whether it lives in a namespace. ``component`` names the upstream project serving it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    component: str = "Kubernetes"

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version


#: Kinds outside the core API the adapter uses, by short name. The component is what a
#: cluster lacks when the group is not served (the ``Unsupported`` reason names both).
KINDS: dict[str, Kind] = {
    "deployment": Kind("apps", "v1", "deployments", "Deployment"),
    "hpa": Kind("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
    "networkpolicy": Kind("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
    # Dynamic Resource Allocation: drivers publish ResourceSlices and DeviceClasses; a pod's
    # claims come from a ResourceClaimTemplate, allocated by the scheduler
    # (https://kubernetes.io/docs/concepts/scheduling-eviction/dynamic-resource-allocation/).
    "resourceslice": Kind("resource.k8s.io", "v1", "resourceslices", "ResourceSlice",
                          namespaced=False, component="Dynamic Resource Allocation"),
    "deviceclass": Kind("resource.k8s.io", "v1", "deviceclasses", "DeviceClass",
                        namespaced=False, component="Dynamic Resource Allocation"),
    "resourceclaim": Kind("resource.k8s.io", "v1", "resourceclaims", "ResourceClaim",
                          component="Dynamic Resource Allocation"),
    "resourceclaimtemplate": Kind("resource.k8s.io", "v1", "resourceclaimtemplates",
                                  "ResourceClaimTemplate",
                                  component="Dynamic Resource Allocation"),
    # Kueue: https://kueue.sigs.k8s.io/docs/concepts/
    "clusterqueue": Kind("kueue.x-k8s.io", "v1beta1", "clusterqueues", "ClusterQueue",
                         namespaced=False, component="Kueue"),
    "localqueue": Kind("kueue.x-k8s.io", "v1beta1", "localqueues", "LocalQueue",
                       component="Kueue"),
    "resourceflavor": Kind("kueue.x-k8s.io", "v1beta1", "resourceflavors", "ResourceFlavor",
                           namespaced=False, component="Kueue"),
    "workloadpriorityclass": Kind("kueue.x-k8s.io", "v1beta1", "workloadpriorityclasses",
                                  "WorkloadPriorityClass", namespaced=False,
                                  component="Kueue"),
    "workload": Kind("kueue.x-k8s.io", "v1beta1", "workloads", "Workload", component="Kueue"),
    # Volcano (https://volcano.sh/en/docs/; types: volcano-sh/apis pkg/apis/batch/v1alpha1,
    # scheduling/v1beta1, bus/v1alpha1): a vcjob, its PodGroup, the Queue it waits in, and the
    # Commands (``vcctl job suspend``/``resume``) that abort and resume it.
    "vcjob": Kind("batch.volcano.sh", "v1alpha1", "jobs", "Job", component="Volcano"),
    "vcqueue": Kind("scheduling.volcano.sh", "v1beta1", "queues", "Queue", namespaced=False,
                    component="Volcano"),
    "podgroup": Kind("scheduling.volcano.sh", "v1beta1", "podgroups", "PodGroup",
                     component="Volcano"),
    "vccommand": Kind("bus.volcano.sh", "v1alpha1", "commands", "Command",
                      component="Volcano"),
    # Pod priority (https://kubernetes.io/docs/concepts/scheduling-eviction/pod-priority-preemption/):
    # what a vcjob's ``priorityClassName`` names.
    "priorityclass": Kind("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass",
                          namespaced=False),
    # Kubeflow Trainer v2 and the Training Operator v1
    "trainjob": Kind("trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob",
                     component="Kubeflow Trainer"),
    "pytorchjob": Kind("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob",
                       component="Kubeflow Training Operator"),
    # JobSet: https://jobset.sigs.k8s.io/docs/
    "jobset": Kind("jobset.x-k8s.io", "v1alpha2", "jobsets", "JobSet", component="JobSet"),
    # KServe: https://kserve.github.io/website/
    "inferenceservice": Kind("serving.kserve.io", "v1beta1", "inferenceservices",
                             "InferenceService", component="KServe"),
    "servingruntime": Kind("serving.kserve.io", "v1alpha1", "servingruntimes",
                           "ServingRuntime", component="KServe"),
    "clusterservingruntime": Kind("serving.kserve.io", "v1alpha1", "clusterservingruntimes",
                                  "ClusterServingRuntime", namespaced=False,
                                  component="KServe"),
    # Kubeflow Notebooks: https://www.kubeflow.org/docs/components/notebooks/
    "clustertrainingruntime": Kind("trainer.kubeflow.org", "v1alpha1", "clustertrainingruntimes",
                                   "ClusterTrainingRuntime", namespaced=False,
                                   component="Kubeflow Trainer"),
    "notebook": Kind("kubeflow.org", "v1", "notebooks", "Notebook",
                     component="Kubeflow Notebooks"),
    # Cluster API: https://cluster-api.sigs.k8s.io/ (api/v1beta1). A workload cluster is a
    # Cluster built from a ClusterClass (spec.topology); its workers are the Machines of the
    # MachineDeployments the topology controller derives from it.
    "capicluster": Kind("cluster.x-k8s.io", "v1beta1", "clusters", "Cluster",
                        component="Cluster API"),
    "clusterclass": Kind("cluster.x-k8s.io", "v1beta1", "clusterclasses", "ClusterClass",
                         component="Cluster API"),
    "machinedeployment": Kind("cluster.x-k8s.io", "v1beta1", "machinedeployments",
                              "MachineDeployment", component="Cluster API"),
    "machine": Kind("cluster.x-k8s.io", "v1beta1", "machines", "Machine",
                    component="Cluster API"),
}


def dns_name(text: str, limit: int = 63) -> str:
    """``text`` as a DNS-1123 label: lowercase alphanumerics and dashes."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:limit].rstrip("-") or "sca"


def vendor_of(resource: str, extra: Mapping[str, str] | None = None) -> str | None:
    """The vendor of an extended resource name, or ``None`` if it is not an accelerator."""
    if resource in SHARE_RESOURCES:
        return None
    table = {**VENDOR_RESOURCES, **(extra or {})}
    if resource in table:
        return table[resource]
    for pattern, vendor in table.items():
        if pattern.endswith("*") and resource.startswith(pattern[:-1]):
            return vendor
    return None


def quantity(value: Any) -> float:
    """A Kubernetes quantity (``500m``, ``4Gi``) as a number; 0 for none."""
    from kubernetes.utils import parse_quantity

    return float(parse_quantity(str(value))) if value is not None else 0.0
