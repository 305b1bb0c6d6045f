"""Faults of distributed training, serving, cluster scaling and operations (chapter 6, 6.6–6.10)."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "rendezvous_broken": "each worker of a multi-worker job is given its own MASTER_PORT",
    "gang_scheduling_off": "a job that does not fit whole holds the cards of the workers that fit",
    "elastic_relaunch_off": "a training job whose worker died is not relaunched",
    "checkpoints_not_carried_over": "a relaunched training job gets a fresh checkpoint location",
    "bond_failover_off": "a NIC bond does not fail over: one member down takes the node offline",
    "service_ignores_accelerators": "service replicas are started without the requested cards",
    "load_balancer_pinned": "the service gateway sends every request to replica 0",
    "accelerator_sharing_off": "a request for a fraction of a card is given a whole card",
    "accelerators_hidden_from_jobs": "job processes are not told which accelerators they hold",
    "cluster_scaling_ignored": "scale-out and scale-in answer success but change no nodes",
    "order_cancel_ignored": "cancelling an order answers success but the order stays active",
    "report_without_recommendations": "the resource analysis report carries no recommendations",
    "orders_not_billed": "active orders are left out of the tenant's bill",
}
