"""A vendor API (the sandbox behind a translating proxy) evaluated through a mapping file only.

The proxy (vendor_proxy.py) renames routes, fields and status words and wraps
answers in a ``data`` envelope; acme_target.yaml maps them back. The adapter
driven through the mapping must see what the adapter sees directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_sca.capabilities import RUN_LABEL, Refused, TargetError, Unsupported

from .helpers import MakeAdapter, Platform, expand_env, unique
from .vendor_proxy import VendorProxy

ACME_TARGET = Path(__file__).with_name("acme_target.yaml")
USAGE_FIELDS = ("id", "tenant_id", "job_id", "resource", "quantity", "unit", "start", "end")
SMALL = {"cpu": 1, "memory_gib": 1, "accelerators": 0}
JOB_FIELDS = ("id", "tenant_id", "name", "image", "command", "status", "exit_code", "labels")


@pytest.fixture(scope="module")
def proxy(sandbox_platform: dict[str, Any]) -> Iterator[VendorProxy]:
    running = VendorProxy(sandbox_platform["url"])
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def acme_platform(proxy: VendorProxy, sandbox_platform: dict[str, Any]) -> dict[str, Any]:
    """The ``adapters.platform`` section of acme_target.yaml, pointing at the proxy."""
    target = yaml.safe_load(ACME_TARGET.read_text())
    env = {"ACME_URL": proxy.url, "ACME_TOKEN": sandbox_platform["token"]}
    return expand_env(target["adapters"]["platform"], env)


@pytest.fixture
def acme(acme_platform: dict[str, Any], make_adapter: MakeAdapter) -> Platform:
    return make_adapter(acme_platform)


def test_mapped_adapter_sees_what_the_direct_adapter_sees(
    acme: Platform, admin: Platform, proxy: VendorProxy
) -> None:
    tenant = acme.tenancy.create_tenant(unique("acme"))
    assert admin.tenancy.get_tenant(tenant["id"]) == tenant
    user = acme.tenancy.create_user(tenant["id"], unique("dev"), "member")
    assert user["role"] == "member" and user["api_key"]
    member_via_acme = acme.acting_as(user["api_key"])
    member_direct = admin.acting_as(user["api_key"])
    image = admin.images.list_images()[0]

    submitted = member_via_acme.jobs.submit(
        unique("acme-job"),
        f"{image['name']}:{image['tag']}",
        ["python", "-c", "print('through the mapping')"],
        SMALL,
        env={"GREETING": "hi"},
    )
    assert submitted["labels"] == {RUN_LABEL: acme.context.run_id}
    done = member_via_acme.jobs.wait(submitted["id"], timeout=60)
    direct = member_direct.jobs.get(submitted["id"])
    assert done["status"] == "succeeded"
    assert {k: done[k] for k in JOB_FIELDS} == {k: direct[k] for k in JOB_FIELDS}
    # Acme does not expose accelerator_model: the mapping gives what the vendor has.
    assert done["resources"] == {k: direct["resources"][k] for k in SMALL} == SMALL

    job_id = submitted["id"]
    assert member_via_acme.jobs.logs(job_id) == member_direct.jobs.logs(job_id)
    assert "through the mapping" in member_via_acme.jobs.logs(job_id)
    assert member_via_acme.jobs.events(job_id) == member_direct.jobs.events(job_id)
    via_acme = member_via_acme.usage.records(job_id=job_id)
    direct_records = member_direct.usage.records(job_id=job_id)
    assert via_acme == [{k: r[k] for k in USAGE_FIELDS} for r in direct_records]
    by_status = member_via_acme.jobs.list_jobs(status="succeeded")
    assert [j["id"] for j in by_status] == [
        j["id"] for j in member_direct.jobs.list_jobs("succeeded")
    ]
    assert job_id in {j["id"] for j in by_status}

    metric_names = {family.name for family in acme.metrics.scrape()}
    assert metric_names == {family.name for family in admin.metrics.scrape()}

    # Every call went to the vendor's routes, none to the reference API.
    assert proxy.calls and not any("/api/v1" in call for call in proxy.calls)


def test_stop_restart_delete_through_the_mapping(
    acme: Platform, admin: Platform
) -> None:
    tenant = acme.tenancy.create_tenant(unique("acme"))
    user = acme.tenancy.create_user(tenant["id"], unique("dev"), "member")
    jobs = acme.acting_as(user["api_key"]).jobs
    image = admin.images.list_images()[0]
    job = jobs.submit(
        unique("sleeper"),
        f"{image['name']}:{image['tag']}",
        ["python", "-c", "import time; time.sleep(60)"],
        SMALL,
    )
    jobs.wait(job["id"], until={"running"}, timeout=30)
    assert jobs.stop(job["id"])["status"] in {"running", "stopped"}
    assert jobs.wait(job["id"], until={"stopped"}, timeout=30)["status"] == "stopped"
    assert jobs.restart(job["id"])["status"] in {"pending", "running"}
    jobs.delete(job["id"])
    with pytest.raises(Refused) as gone:
        jobs.get(job["id"])
    # The vendor's error body and code, found through error_code_pointer.
    assert (gone.value.status, gone.value.code) == (404, "NOT_FOUND")


def test_unmapped_operation_is_not_offered(acme: Platform) -> None:
    with pytest.raises(Unsupported, match="clusters.list"):
        acme.clusters.list_clusters()


def test_a_wrong_pointer_is_a_one_line_target_error(
    acme_platform: dict[str, Any], make_adapter: MakeAdapter
) -> None:
    mapping = dict(acme_platform["mapping"])
    mapping["jobs.list"] = {**mapping["jobs.list"], "items": "/data/jobs"}
    broken = make_adapter({**acme_platform, "mapping": mapping})
    with pytest.raises(TargetError) as caught:
        broken.jobs.list_jobs()
    assert str(caught.value) == (
        "jobs.list: the answer of GET /v2/workloads has nothing at '/data/jobs' "
        "(see adapters.platform.mapping in the target file)"
    )
