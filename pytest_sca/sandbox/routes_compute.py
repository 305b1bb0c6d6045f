"""API routes of clusters, nodes and images (the simulated inventory)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from pytest_sca.sandbox import models
from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.auth import Principal
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller, audit_resource, public
from pytest_sca.sandbox.errors import ApiError, forbidden, not_found
from pytest_sca.sandbox.faults import Fault
from pytest_sca.sandbox.inventory import new_cluster_nodes
from pytest_sca.sandbox.schemas import documented
from pytest_sca.sandbox.store import Document, new_id, utc_now


def router(platform: SandboxPlatform) -> APIRouter:
    """The routes over ``platform``."""
    routes = APIRouter()
    rules = platform.permissions

    def visible_cluster(who: Principal, cluster_id: str) -> Document:
        cluster = platform.store.get("cluster", cluster_id)
        if cluster is None or not (
            cluster["tenant_id"] is None
            or rules.can_read_tenant(who, cluster["tenant_id"], cross_tenant_kind=False)
        ):
            raise not_found(f"cluster {cluster_id}")
        return cluster

    @routes.get(f"{API}/clusters", name="cluster.list", **documented(S.Items[S.Cluster]))
    def list_clusters(
        who: Caller, kind: Annotated[str | None, Query(max_length=32)] = None
    ) -> dict[str, Any]:
        clusters = [
            c for c in platform.store.list("cluster")
            if (kind is None or c["kind"] == kind)
            and (c["tenant_id"] is None
                 or rules.can_read_tenant(who, c["tenant_id"], cross_tenant_kind=False))
        ]
        return {"items": clusters}

    @routes.post(f"{API}/clusters", name="cluster.create", **documented(S.Cluster, 201))
    def create_cluster(body: models.ClusterCreate, who: Caller, request: Request) -> Document:
        tenant_id = body.tenant_id if who.is_platform_admin else who.tenant_id
        rules.require_write(who, tenant_id, allowed=("tenant_admin",))
        if tenant_id is not None:
            platform.tenant(tenant_id)
        cluster: Document = {
            "id": new_id("cluster"), "name": body.name, "kind": body.kind,
            "tenant_id": tenant_id, "node_ids": [], "status": "ready", "simulated": True,
            "created_at": utc_now(), "labels": body.labels,
        }
        for node in new_cluster_nodes(cluster, body.nodes, body.accelerator_model or "H100"):
            node["labels"] = dict(body.labels)
            platform.store.put("node", node)
            cluster["node_ids"].append(node["id"])
        cluster["accelerator_model"] = body.accelerator_model or "H100"
        platform.store.put("cluster", cluster)
        audit_resource(request, f"clusters/{cluster['id']}")
        return cluster

    @routes.get(f"{API}/clusters/{{cluster_id}}", name="cluster.get", **documented(S.Cluster))
    def get_cluster(cluster_id: str, who: Caller) -> Document:
        return visible_cluster(who, cluster_id)

    @routes.delete(f"{API}/clusters/{{cluster_id}}", name="cluster.delete", **documented(None, 204))
    def delete_cluster(cluster_id: str, who: Caller) -> Response:
        cluster = visible_cluster(who, cluster_id)
        rules.require_write(who, cluster["tenant_id"], allowed=("tenant_admin",))
        platform.delete_cluster(cluster_id)
        return Response(status_code=204)

    @routes.post(
        f"{API}/clusters/{{cluster_id}}/nodes",
        name="cluster.scale_out", **documented(S.Cluster),
    )
    def scale_out(cluster_id: str, body: models.ScaleOut, who: Caller) -> Document:
        cluster = visible_cluster(who, cluster_id)
        rules.require_write(who, cluster["tenant_id"], allowed=("tenant_admin",))
        if Fault.CLUSTER_SCALING_IGNORED in platform.faults:
            return cluster
        with platform.store.lock:
            model = cluster.get("accelerator_model") or "H100"
            for node in new_cluster_nodes(cluster, body.count, model):
                platform.store.put("node", node)
                cluster["node_ids"].append(node["id"])
            platform.store.put("cluster", cluster)
        return cluster

    @routes.delete(
        f"{API}/clusters/{{cluster_id}}/nodes/{{node_id}}",
        name="cluster.scale_in", **documented(S.Cluster),
    )
    def scale_in(cluster_id: str, node_id: str, who: Caller) -> Document:
        cluster = visible_cluster(who, cluster_id)
        rules.require_write(who, cluster["tenant_id"], allowed=("tenant_admin",))
        if Fault.CLUSTER_SCALING_IGNORED in platform.faults:
            return cluster
        with platform.store.lock:
            node = platform.store.get("node", node_id)
            if node is None or node_id not in cluster["node_ids"]:
                raise not_found(f"node {node_id} in cluster {cluster_id}")
            if node.get("ssh"):
                raise ApiError(409, "conflict", f"node {node_id} is an SSH node of the sandbox")
            if any(a["allocated_to"] for a in node["accelerators"]):
                raise ApiError(409, "conflict", f"node {node_id} runs jobs")
            platform.store.delete("node", node_id)
            cluster["node_ids"].remove(node_id)
            platform.store.put("cluster", cluster)
        return cluster

    def visible_node(who: Principal, node: Document) -> bool:
        cluster = platform.store.get("cluster", node["cluster_id"])
        return cluster is not None and (
            cluster["tenant_id"] is None
            or rules.can_read_tenant(who, cluster["tenant_id"], cross_tenant_kind=False)
        )

    @routes.get(f"{API}/nodes", name="node.list", **documented(S.Items[S.Node]))
    def list_nodes(
        who: Caller, cluster_id: Annotated[str | None, Query(max_length=64)] = None
    ) -> dict[str, Any]:
        nodes = [
            n for n in platform.store.list("node")
            if (cluster_id is None or n["cluster_id"] == cluster_id) and visible_node(who, n)
        ]
        return {"items": nodes}

    @routes.get(f"{API}/nodes/{{node_id}}", name="node.get", **documented(S.Node))
    def get_node(node_id: str, who: Caller) -> Document:
        node = platform.store.get("node", node_id)
        if node is None or not visible_node(who, node):
            raise not_found(f"node {node_id}")
        return node

    # images ----------------------------------------------------------------------------------

    @routes.get(f"{API}/images", name="image.list", **documented(S.Items[S.Image]))
    def list_images(who: Caller) -> dict[str, Any]:
        images = [
            public(i) for i in platform.store.list("image")
            if i["tenant_id"] is None or rules.can_read_tenant(who, i["tenant_id"],
                                                                cross_tenant_kind=False)
        ]
        return {"items": images}

    @routes.post(f"{API}/images", name="image.create", **documented(S.Image, 201))
    def create_image(body: models.ImageCreate, who: Caller, request: Request) -> Document:
        rules.require_write(who, who.tenant_id, allowed=("tenant_admin", "member"))
        image = {
            "id": new_id("img"), "name": body.name, "tag": body.tag,
            "framework": body.framework, "framework_version": body.framework_version,
            "preset": False, "size_bytes": 0, "tenant_id": who.tenant_id,
            "created_at": utc_now(), "labels": body.labels,
        }
        platform.store.put("image", image)
        audit_resource(request, f"images/{image['id']}")
        return image

    @routes.delete(f"{API}/images/{{image_id}}", name="image.delete", **documented(None, 204))
    def delete_image(image_id: str, who: Caller) -> Response:
        image = platform.store.get("image", image_id)
        if image is None or (image["tenant_id"] is not None and not rules.can_read_tenant(
                who, image["tenant_id"], cross_tenant_kind=False)):
            raise not_found(f"image {image_id}")
        rules.require_write(who, image["tenant_id"], allowed=("tenant_admin", "member"))
        if image["preset"] and not who.is_platform_admin:
            raise forbidden("preset images can only be removed by a platform admin")
        platform.store.delete("image", image_id)
        return Response(status_code=204)

    return routes
