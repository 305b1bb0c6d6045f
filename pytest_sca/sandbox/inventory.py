"""The simulated hardware and the presets a fresh sandbox starts with.

The machine has no accelerators: every cluster, node and card here is
simulated and says so (``simulated: true``). Two bare-metal nodes are backed
by real SSH servers on loopback; the rest exist only as records.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_sca.sandbox.store import Document, Store, new_id, utc_now


@dataclass(frozen=True)
class AcceleratorModel:
    """One simulated accelerator product."""

    vendor: str
    model: str
    memory_gib: int


ACCELERATOR_MODELS: dict[str, AcceleratorModel] = {
    m.model: m
    for m in (
        AcceleratorModel("huawei", "Ascend910B", 64),
        AcceleratorModel("cambricon", "MLU370-X8", 48),
        AcceleratorModel("hygon", "DCU-Z100", 32),
        AcceleratorModel("nvidia", "H100", 80),
    )
}

CARDS_PER_NODE = 8

#: The nodes backed by real SSH servers (see ssh.py).
SSH_NODE_NAMES = ("bm-1", "bm-2")
#: The node that also gets an SSH server, left out of the target file, under
#: ``ssh_node_unlisted``.
UNLISTED_SSH_NODE = "bm-3"
#: The node whose cards the inventory half lists, under ``inventory_hides_cards``.
HIDDEN_CARDS_NODE = "bm-3"
#: The vendor whose cards no job can use, under ``domestic_cards_unschedulable``.
UNUSABLE_VENDOR = "cambricon"

DEFAULT_QUOTA = {"cpu": 64.0, "memory_gib": 512.0, "accelerators": 16}

PRESET_IMAGES = (
    ("pytorch", "2.5.1-py3.11", "pytorch", "2.5.1", 7_340_032_000),
    ("tensorflow", "2.17.0-py3.11", "tensorflow", "2.17.0", 6_291_456_000),
    ("mindspore", "2.4.0-py3.9", "mindspore", "2.4.0", 5_872_025_600),
)

PRODUCTS = (
    ("accelerator-hour", "accelerator", "card_hour", 12.0),
    ("cpu-core-hour", "cpu", "core_hour", 0.05),
    ("memory-gib-hour", "memory", "gib_hour", 0.01),
    ("storage-gib-month", "storage", "gib_month", 0.12),
)


def card_topology(index: int) -> dict[str, str]:
    """The (simulated) PCIe switch and NUMA domain of card ``index``: four cards per switch."""
    group = index // 4
    return {"switch": f"pcie-sw{group}", "numa": f"numa{group}"}


def make_node(
    node_id: str,
    cluster_id: str,
    kind: str,
    model: AcceleratorModel,
    cards: int = CARDS_PER_NODE,
) -> Document:
    """A simulated node with ``cards`` free accelerators of ``model``."""
    return {
        "id": node_id,
        "cluster_id": cluster_id,
        "hostname": node_id,
        "kind": kind,
        "cpu": 64,
        "memory_gib": 512,
        "accelerators": [
            {
                "index": index,
                "vendor": model.vendor,
                "model": model.model,
                "memory_gib": model.memory_gib,
                "allocated_to": None,
                "simulated": True,
                "topology": card_topology(index),
            }
            for index in range(cards)
        ],
        "ssh": None,
        "health": "healthy",
        "simulated": True,
        "created_at": utc_now(),
        "labels": {},
    }


def make_cluster(cluster_id: str, name: str, kind: str, tenant_id: str | None) -> Document:
    """An empty simulated cluster record."""
    return {
        "id": cluster_id,
        "name": name,
        "kind": kind,
        "tenant_id": tenant_id,
        "node_ids": [],
        "status": "ready",
        "simulated": True,
        "created_at": utc_now(),
        "labels": {},
    }


def seed_inventory(store: Store) -> None:
    """Write the initial clusters, nodes, images and products into an empty store."""
    layout = (
        ("bm-cluster", "baremetal", (("bm-1", "Ascend910B"), ("bm-2", "Ascend910B"),
                                     ("bm-3", "MLU370-X8"))),
        ("k8s-cluster", "container", (("ct-1", "DCU-Z100"), ("ct-2", "H100"))),
    )
    for cluster_id, kind, nodes in layout:
        cluster = make_cluster(cluster_id, cluster_id, kind, None)
        for node_id, model in nodes:
            store.put("node", make_node(node_id, cluster_id, kind, ACCELERATOR_MODELS[model]))
            cluster["node_ids"].append(node_id)
        store.put("cluster", cluster)
    for name, tag, framework, version, size in PRESET_IMAGES:
        store.put(
            "image",
            {
                "id": f"img-{name}",
                "name": name,
                "tag": tag,
                "framework": framework,
                "framework_version": version,
                "preset": True,
                "size_bytes": size,
                "tenant_id": None,
                "created_at": utc_now(),
                "labels": {},
            },
        )
    for name, kind, unit, price in PRODUCTS:
        store.put(
            "product",
            {
                "id": f"prod-{name}",
                "name": name,
                "kind": kind,
                "unit": unit,
                "unit_price": price,
                "currency": "CNY",
                "created_at": utc_now(),
                "labels": {},
            },
        )


def new_cluster_nodes(cluster: Document, count: int, model_name: str) -> list[Document]:
    """``count`` fresh simulated nodes of accelerator ``model_name`` for ``cluster``."""
    model = ACCELERATOR_MODELS[model_name]
    return [
        make_node(new_id("node"), cluster["id"], cluster["kind"], model) for _ in range(count)
    ]
