"""Faults of inventory, allocation, images, monitoring and scheduling policy (chapter 6, A)."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "accelerators_unmanaged": "nodes are listed without their accelerators",
    "domestic_vendors_unmanaged": "only Huawei and NVIDIA cards are managed; other vendors' "
                                  "nodes list no accelerators",
    "visible_devices_unisolated": "a job sees every card of its node, not the ones it holds",
    "cards_not_released": "cards stay allocated to a job after it ends or is deleted",
    "new_clusters_unschedulable": "clusters created on demand never take any work",
    "filesystem_not_shared": "each node mounts its own private directory as the shared "
                             "file system",
    "preset_images_missing": "the image catalogue has no preset framework images",
    "registry_push_lost": "the image registry accepts a push but never stores the manifest",
    "layer_cache_off": "every image pull transfers every layer again (no node layer cache)",
    "lazy_pull_unsupported": "a lazy pull transfers the whole image before the start",
    "accelerator_metrics_missing": "/metrics has no per-card accelerator series",
    "network_load_unmonitored": "/metrics has no node network series",
    "alerts_never_fire": "alert rules are stored but never evaluated",
    "diagnosis_reports_nothing": "one-click diagnosis answers without any component verdict",
    "accelerator_model_ignored": "the scheduler ignores the requested accelerator model",
    "priority_ignored": "pending jobs start in submission order whatever their priority",
    "topology_ignored": "multi-card workers get the lowest free indices across switch groups",
    "single_cluster_scheduling": "the scheduler only places work on one cluster",
    "burst_policy_absent": "the platform declares no burst (off-cloud to cloud) policy",
}
