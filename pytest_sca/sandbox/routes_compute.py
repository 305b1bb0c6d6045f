"""API routes of clusters, nodes and images (the simulated inventory)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from pytest_sca.sandbox import models
from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller, audit_resource, public
from pytest_sca.sandbox.schemas import documented
from pytest_sca.sandbox.store import Document


def router(platform: SandboxPlatform) -> APIRouter:
    """The routes over ``platform``."""
    routes = APIRouter()
    rules = platform.permissions
    compute = platform.compute

    @routes.get(f"{API}/clusters", name="cluster.list", **documented(S.Items[S.Cluster]))
    def list_clusters(
        who: Caller, kind: Annotated[str | None, Query(max_length=32)] = None
    ) -> dict[str, Any]:
        return {"items": compute.clusters(who, kind)}

    @routes.post(f"{API}/clusters", name="cluster.create", **documented(S.Cluster, 201))
    def create_cluster(body: models.ClusterCreate, who: Caller, request: Request) -> Document:
        tenant_id = body.tenant_id if who.is_platform_admin else who.tenant_id
        rules.require_write(who, tenant_id, allowed=("tenant_admin",))
        if tenant_id is not None:
            platform.tenancy.tenant(tenant_id)
        cluster = compute.create_cluster(tenant_id, body.name, body.kind, body.nodes,
                                         body.accelerator_model, body.labels)
        audit_resource(request, f"clusters/{cluster['id']}")
        return cluster

    @routes.get(f"{API}/clusters/{{cluster_id}}", name="cluster.get", **documented(S.Cluster))
    def get_cluster(cluster_id: str, who: Caller) -> Document:
        return compute.visible_cluster(who, cluster_id)

    @routes.delete(f"{API}/clusters/{{cluster_id}}", name="cluster.delete", **documented(None, 204))
    def delete_cluster(cluster_id: str, who: Caller) -> Response:
        cluster = compute.visible_cluster(who, cluster_id)
        rules.require_write(who, cluster["tenant_id"], allowed=("tenant_admin",))
        compute.delete_cluster(cluster_id)
        return Response(status_code=204)

    @routes.post(
        f"{API}/clusters/{{cluster_id}}/nodes",
        name="cluster.scale_out", **documented(S.Cluster),
    )
    def scale_out(cluster_id: str, body: models.ScaleOut, who: Caller) -> Document:
        cluster = compute.visible_cluster(who, cluster_id)
        rules.require_write(who, cluster["tenant_id"], allowed=("tenant_admin",))
        return compute.scale_out(cluster, body.count)

    @routes.delete(
        f"{API}/clusters/{{cluster_id}}/nodes/{{node_id}}",
        name="cluster.scale_in", **documented(S.Cluster),
    )
    def scale_in(cluster_id: str, node_id: str, who: Caller) -> Document:
        cluster = compute.visible_cluster(who, cluster_id)
        rules.require_write(who, cluster["tenant_id"], allowed=("tenant_admin",))
        return compute.scale_in(cluster, node_id)

    @routes.get(f"{API}/nodes", name="node.list", **documented(S.Items[S.Node]))
    def list_nodes(
        who: Caller, cluster_id: Annotated[str | None, Query(max_length=64)] = None
    ) -> dict[str, Any]:
        return {"items": compute.nodes(who, cluster_id)}

    @routes.get(f"{API}/nodes/{{node_id}}", name="node.get", **documented(S.Node))
    def get_node(node_id: str, who: Caller) -> Document:
        return compute.visible_node(who, node_id)

    # images ----------------------------------------------------------------------------------

    @routes.get(f"{API}/images", name="image.list", **documented(S.Items[S.Image]))
    def list_images(who: Caller) -> dict[str, Any]:
        return {"items": [public(i) for i in compute.images(who)]}

    @routes.post(f"{API}/images", name="image.create", **documented(S.Image, 201))
    def create_image(body: models.ImageCreate, who: Caller, request: Request) -> Document:
        rules.require_write(who, who.tenant_id, allowed=("tenant_admin", "member"))
        image = compute.create_image(who, body.model_dump())
        audit_resource(request, f"images/{image['id']}")
        return image

    @routes.delete(f"{API}/images/{{image_id}}", name="image.delete", **documented(None, 204))
    def delete_image(image_id: str, who: Caller) -> Response:
        image = compute.visible_image(who, image_id)
        rules.require_write(who, image["tenant_id"], allowed=("tenant_admin", "member"))
        compute.delete_image(who, image)
        return Response(status_code=204)

    return routes
