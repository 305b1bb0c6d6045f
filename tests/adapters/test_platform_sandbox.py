"""The platform adapter against the real sandbox: tenancy, jobs end to end, refusals, metrics."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_sca.capabilities import CAPABILITIES, RUN_LABEL, RefusalReason, Refused, WaitTimeout

from .helpers import MakeAdapter, Platform, unique

SMALL = {"cpu": 1, "memory_gib": 1, "accelerators": 0}


def _image(admin: Platform) -> str:
    images = admin.images.list_images()
    assert images, "the sandbox has preset images"
    return f"{images[0]['name']}:{images[0]['tag']}"


def _tenant_with_user(admin: Platform, role: str) -> tuple[dict[str, Any], Platform]:
    tenant = admin.tenancy.create_tenant(unique("tenant"))
    user = admin.tenancy.create_user(tenant["id"], unique(role), role)
    return tenant, admin.acting_as(user["api_key"])


def test_capabilities_implement_their_protocols(admin: Platform) -> None:
    for name in admin.provides:
        assert isinstance(admin.capability(name), CAPABILITIES[name].protocol), name


def test_tenants_users_and_roles(admin: Platform) -> None:
    tenancy = admin.tenancy
    tenant = tenancy.create_tenant(unique("tenant"), labels={"purpose": "test"})
    assert tenant["labels"] == {"purpose": "test", RUN_LABEL: admin.context.run_id}
    assert tenancy.get_tenant(tenant["id"])["name"] == tenant["name"]
    assert tenant["id"] in {t["id"] for t in tenancy.list_tenants()}

    roles = {role["name"] for role in tenancy.list_roles()}
    assert {"platform_admin", "tenant_admin", "member", "readonly"} <= roles

    member = tenancy.create_user(tenant["id"], unique("member"), "member")
    reader = tenancy.create_user(tenant["id"], unique("reader"), "readonly")
    assert member["api_key"] and reader["api_key"]
    assert {member["id"], reader["id"]} <= {u["id"] for u in tenancy.list_users(tenant["id"])}
    as_member = tenancy.acting_as(member["api_key"])
    assert as_member.whoami() == {
        "user_id": member["id"],
        "tenant_id": tenant["id"],
        "role": "member",
    }

    quota = tenancy.set_quota(tenant["id"], accelerators=2)
    assert quota["accelerators"] == 2
    assert tenancy.get_quota(tenant["id"])["accelerators"] == 2
    assert set(tenancy.storage_credentials(tenant["id"])) >= {"endpoint", "bucket", "access_key"}

    tenancy.delete_user(tenant["id"], reader["id"])
    assert reader["id"] not in {u["id"] for u in tenancy.list_users(tenant["id"])}


def test_job_runs_and_is_observable(admin: Platform) -> None:
    tenant, member = _tenant_with_user(admin, "member")
    job = member.jobs.submit(
        unique("hello"),
        _image(admin),
        ["python", "-c", "import os; print('hello from', os.environ['SCA_JOB_ID'])"],
        SMALL,
    )
    assert job["labels"][RUN_LABEL] == admin.context.run_id
    done = member.jobs.wait(job["id"], timeout=60)
    assert (done["status"], done["exit_code"]) == ("succeeded", 0)
    assert done["tenant_id"] == tenant["id"]

    assert f"hello from {job['id']}" in member.jobs.logs(job["id"])
    kinds = [event["type"] for event in member.jobs.events(job["id"])]
    assert kinds[0] == "Created" and "Started" in kinds and "Completed" in kinds
    listed = member.jobs.list_jobs(label=f"{RUN_LABEL}={admin.context.run_id}")
    assert [j["id"] for j in listed] == [job["id"]]
    assert job["id"] in {j["id"] for j in member.jobs.list_jobs(status="succeeded")}

    records = member.usage.records(job_id=job["id"])
    assert {r["resource"] for r in records} >= {"cpu", "memory"}
    cpu = next(r for r in records if r["resource"] == "cpu")
    assert cpu["unit"] == "core_seconds" and cpu["quantity"] > 0


def test_stop_restart_delete(admin: Platform) -> None:
    _, member = _tenant_with_user(admin, "member")
    jobs = member.jobs
    job = jobs.submit(
        unique("sleeper"), _image(admin), ["python", "-c", "import time; time.sleep(60)"], SMALL
    )
    jobs.wait(job["id"], until={"running"}, timeout=30)
    jobs.stop(job["id"])
    assert jobs.wait(job["id"], until={"stopped"}, timeout=30)["status"] == "stopped"
    restarted = jobs.restart(job["id"])
    assert restarted["status"] in {"pending", "running"}
    jobs.wait(job["id"], until={"running"}, timeout=30)
    kinds = [event["type"] for event in jobs.events(job["id"])]
    assert "Stopped" in kinds and "Restarted" in kinds
    jobs.delete(job["id"])
    with pytest.raises(Refused) as gone:
        jobs.get(job["id"])
    assert (gone.value.status, gone.value.code) == (404, "not_found")


def test_wait_is_bounded(admin: Platform) -> None:
    _, member = _tenant_with_user(admin, "member")
    job = member.jobs.submit(
        unique("slow"), _image(admin), ["python", "-c", "import time; time.sleep(30)"], SMALL
    )
    with pytest.raises(WaitTimeout) as late:
        member.jobs.wait(job["id"], until={"succeeded"}, timeout=0.5)
    assert late.value.last is not None and late.value.last["id"] == job["id"]


def test_refusals_are_classified(admin: Platform) -> None:
    _, member = _tenant_with_user(admin, "member")
    _, outsider = _tenant_with_user(admin, "member")
    _, reader = _tenant_with_user(admin, "readonly")
    job = member.jobs.submit(unique("mine"), _image(admin), ["python", "-c", "pass"], SMALL)

    with pytest.raises(Refused) as foreign:
        outsider.jobs.get(job["id"])
    assert foreign.value.status in (403, 404)
    with pytest.raises(Refused) as readonly:
        reader.jobs.submit(unique("nope"), _image(admin), ["python", "-c", "pass"], SMALL)
    assert (readonly.value.status, readonly.value.code) == (403, "forbidden")
    assert readonly.value.reason is RefusalReason.FORBIDDEN and readonly.value.is_authorization
    with pytest.raises(Refused) as missing:
        admin.jobs.get("no-such-job")
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    assert missing.value.reason is RefusalReason.NOT_FOUND and not missing.value.is_authorization
    bad_token = admin.acting_as("not-a-key")
    with pytest.raises(Refused) as unauthorized:
        bad_token.tenancy.whoami()
    assert unauthorized.value.status == 401
    assert unauthorized.value.reason is RefusalReason.UNAUTHENTICATED
    assert "not-a-key" not in str(unauthorized.value)
    last = admin.recent_exchanges()[-1]
    assert (last.method, last.path, last.status) == ("GET", "/api/v1/whoami", 401)


def test_inventory_clusters_images_billing_audit(admin: Platform) -> None:
    info = admin.compute.platform_info()
    assert info["simulated"] is True
    nodes = admin.compute.list_nodes()
    assert nodes and admin.compute.get_node(nodes[0]["id"])["id"] == nodes[0]["id"]

    cluster = admin.clusters.create_cluster(unique("cluster"), "container", 1)
    assert cluster["id"] in {c["id"] for c in admin.clusters.list_clusters(kind="container")}
    grown = admin.clusters.scale_out(cluster["id"], 1)
    assert len(grown["node_ids"]) == 2
    shrunk = admin.clusters.scale_in(cluster["id"], grown["node_ids"][-1])
    assert len(shrunk["node_ids"]) == 1

    image = admin.images.create_image(unique("image"), "1.0", framework="pytorch")
    assert image["id"] in {i["id"] for i in admin.images.list_images()}
    admin.images.delete_image(image["id"])
    assert image["id"] not in {i["id"] for i in admin.images.list_images()}

    _, tenant_admin = _tenant_with_user(admin, "tenant_admin")
    products = tenant_admin.billing.products()
    assert products
    order = tenant_admin.billing.create_order(products[0]["id"], 2)
    assert order["id"] in {o["id"] for o in tenant_admin.billing.orders()}
    assert tenant_admin.billing.cancel_order(order["id"])["status"] != order["status"]
    assert isinstance(tenant_admin.billing.bills(), list)
    # The undo of a killed run (or the sweep) cancels it again: the conflict of an order
    # cancelled already counts as removed, not as a cleanup failure.
    tenant_admin.client.remove_quietly("orders.cancel", {"order_id": order["id"]})

    actions = {record["action"] for record in admin.audit.records()}
    assert "tenant.create" in actions


def test_metrics_parse(admin: Platform) -> None:
    families = admin.metrics.scrape()
    assert families
    assert all(family.type and family.samples is not None for family in families)
    simulated = [
        sample
        for family in families
        for sample in family.samples
        if sample.labels.get("simulated") == "true"
    ]
    assert simulated, "per-accelerator metrics are labelled simulated"
    name = simulated[0].name
    assert admin.metrics.samples(name, {"simulated": "true"})
    assert admin.metrics.samples(name, {"simulated": "no-such-value"}) == []


def test_undo_removes_what_the_run_created(
    sandbox_platform: dict[str, Any], make_adapter: MakeAdapter, admin: Platform
) -> None:
    run = make_adapter(sandbox_platform)
    tenant, member = _tenant_with_user(run, "member")
    job = member.jobs.submit(
        unique("left"), _image(run), ["python", "-c", "import time; time.sleep(60)"], SMALL
    )
    kinds = set(run.context.ledger.kinds)
    assert {"platform:tenants", "platform:users", "platform:jobs"} <= kinds
    assert not run.context.ledger.sweep()
    with pytest.raises(Refused) as job_gone:
        admin.jobs.get(job["id"])
    with pytest.raises(Refused) as tenant_gone:
        admin.tenancy.get_tenant(tenant["id"])
    assert job_gone.value.status == tenant_gone.value.status == 404


def test_sweep_removes_leftovers_of_a_run(
    sandbox_platform: dict[str, Any], make_adapter: MakeAdapter, admin: Platform
) -> None:
    crashed = make_adapter(sandbox_platform)
    # Created behind the adapter's back, as if the run had died before its cleanup.
    leftover = crashed.call(
        "tenants.create", name=unique("leftover"), labels={RUN_LABEL: crashed.context.run_id}
    )
    assert admin.sweep(crashed.context.run_id) == []
    with pytest.raises(Refused):
        admin.tenancy.get_tenant(leftover["id"])
