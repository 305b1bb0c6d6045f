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
from .vendor_proxy import (
    ACCESS_KEY,
    API_KEY,
    BASIC_USER,
    CLIENT_ID,
    CLIENT_SECRET,
    REGION,
    SECRET_KEY,
    SERVICE,
    VendorProxy,
)

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


def test_pages_of_a_cursor_and_of_link_headers_are_all_read(
    acme_platform: dict[str, Any], make_adapter: MakeAdapter, admin: Platform,
    proxy: VendorProxy
) -> None:
    mapping = dict(acme_platform["mapping"])
    mapping["jobs.list"] = {**mapping["jobs.list"],
                            "pages": {**mapping["jobs.list"]["pages"], "size": 1}}
    mapping["usage.list"] = {**mapping["usage.list"],
                             "pages": {**mapping["usage.list"]["pages"], "size": 1}}
    acme = make_adapter({**acme_platform, "mapping": mapping})
    image = admin.images.list_images()[0]
    submitted = [acme.jobs.submit(unique("paged"), f"{image['name']}:{image['tag']}",
                                  ["python", "-c", "print(1)"], SMALL) for _ in range(3)]
    for job in submitted:
        acme.jobs.wait(job["id"], timeout=60)
    before = len(proxy.calls)
    label = f"{RUN_LABEL}={acme.context.run_id}"
    assert {j["id"] for j in acme.jobs.list_jobs(label=label)} == {j["id"] for j in submitted}
    assert proxy.calls[before:].count("GET /v2/workloads") == 3  # 3 pages of one job each
    direct = admin.usage.records(job_id=submitted[0]["id"])
    before = len(proxy.calls)
    assert len(acme.usage.records(job_id=submitted[0]["id"])) == len(direct) >= 2
    assert proxy.calls[before:].count("GET /v2/metering") == len(direct)


def test_a_running_workload_is_halted_awaited_and_deleted(acme: Platform, admin: Platform,
                                                          proxy: VendorProxy) -> None:
    image = admin.images.list_images()[0]
    job = acme.jobs.submit(unique("busy"), f"{image['name']}:{image['tag']}",
                           ["python", "-c", "import time; time.sleep(60)"], SMALL)
    acme.jobs.wait(job["id"], until={"running"}, timeout=30)
    before = len(proxy.calls)
    acme.jobs.delete(job["id"])
    sent = proxy.calls[before:]
    assert sent[0] == f"GET /v2/workloads/{job['id']}"
    assert sent[1] == f"POST /v2/workloads/{job['id']}/halt"
    assert any(call.startswith("GET /v2/operations/op-") for call in sent)
    assert sent[-1] == f"DELETE /v2/workloads/{job['id']}"
    with pytest.raises(Refused) as gone:
        admin.jobs.get(job["id"])
    assert gone.value.status == 404


@pytest.mark.slow
def test_a_failing_delete_is_retried_reported_and_swept_later(
    acme_platform: dict[str, Any], make_adapter: MakeAdapter, admin: Platform,
    proxy: VendorProxy
) -> None:
    image = admin.images.list_images()[0]
    flaky = make_adapter(acme_platform)
    job = flaky.jobs.submit(unique("flaky"), f"{image['name']}:{image['tag']}",
                            ["python", "-c", "print(1)"], SMALL)
    flaky.jobs.wait(job["id"], timeout=60)
    proxy.fail_deletes = 2  # two 500s, then the third attempt goes through
    assert flaky.context.ledger.sweep() == []
    with pytest.raises(Refused):
        admin.jobs.get(job["id"])

    stuck = make_adapter(acme_platform)
    left = stuck.jobs.submit(unique("stuck"), f"{image['name']}:{image['tag']}",
                             ["python", "-c", "print(1)"], SMALL)
    stuck.jobs.wait(left["id"], timeout=60)
    proxy.fail_deletes = 1000
    try:
        failures = stuck.context.ledger.sweep()
        assert len(failures) == 1 and "answered 500" in failures[0].error
        assert "tried 3 times; tried again when the run ends" in failures[0].error
        stuck.close()  # tried once more, still failing: reported with the command that sweeps
        final = stuck.context.ledger.failures[-1]
        assert "tried again at the end of the run" in final.description
        assert f"cleanup --target <target file> --run-id {stuck.context.run_id}" in final.error
    finally:
        proxy.fail_deletes = 0
    assert admin.jobs.get(left["id"])["id"] == left["id"]  # left behind, and found by label:
    sweeper = make_adapter(acme_platform, run_id=stuck.context.run_id)
    assert sweeper.sweep(stuck.context.run_id) == []
    with pytest.raises(Refused):
        admin.jobs.get(left["id"])


AUTH_FORMS: dict[str, list[dict[str, Any]]] = {
    "basic": [{"type": "basic", "username": BASIC_USER, "password": "{token}"}],
    "api_key_header": [{"type": "api_key", "name": "X-Acme-Key", "value": API_KEY}],
    "api_key_query": [{"type": "api_key", "name": "api_key", "value": API_KEY, "in": "query"}],
    "oauth2": [{"type": "oauth2", "token_url": "{url}oauth2/token", "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET, "scope": "workloads"}],
    "sigv4": [{"type": "sign", "signer": "hmac-sha256",
               "options": {"preset": "aws-sigv4", "access_key": ACCESS_KEY,
                           "secret_key": SECRET_KEY, "region": REGION, "service": SERVICE}}],
}


@pytest.mark.parametrize("mode", sorted(AUTH_FORMS))
def test_every_auth_form_against_a_vendor_that_checks_it(
    mode: str, sandbox_platform: dict[str, Any], make_adapter: MakeAdapter
) -> None:
    gateway = VendorProxy(sandbox_platform["url"], auth=mode,
                          upstream_token=sandbox_platform["token"])
    gateway.start()
    try:
        target = yaml.safe_load(ACME_TARGET.read_text())["adapters"]["platform"]
        forms = [{k: (v.replace("{url}", gateway.url) if isinstance(v, str) else v)
                  for k, v in form.items()} for form in AUTH_FORMS[mode]]
        platform = {**expand_env(target, {"ACME_URL": gateway.url,
                                          "ACME_TOKEN": sandbox_platform["token"]}),
                    "auth": forms}
        acme = make_adapter(platform)
        tenant = acme.tenancy.create_tenant(unique(f"auth-{mode}"))
        assert tenant["labels"] == {RUN_LABEL: acme.context.run_id}
        assert isinstance(acme.jobs.list_jobs(label=f"{RUN_LABEL}=nothing"), list)
        assert gateway.rejected == []
        if mode == "oauth2":
            assert gateway.token_requests == 1  # one token, reused
            gateway.revoke_tokens()
            acme.jobs.list_jobs()  # a 401, a fresh token, the same request again
            assert gateway.token_requests == 2 and len(gateway.rejected) == 1
        wrong = {**platform, "token": "not-the-token", "auth": [
            {**form, **_wrong(form)} for form in forms]}
        with pytest.raises((Refused, TargetError)) as refused:
            make_adapter(wrong).jobs.list_jobs()
        if isinstance(refused.value, Refused):
            assert refused.value.status == 401
        for secret in (sandbox_platform["token"], API_KEY, CLIENT_SECRET, SECRET_KEY):
            assert secret not in str(refused.value)
    finally:
        gateway.stop()


def _wrong(form: dict[str, Any]) -> dict[str, Any]:
    """The same form with a wrong credential."""
    if form["type"] == "api_key":
        return {"value": "wrong-key-000"}
    if form["type"] == "oauth2":
        return {"client_secret": "wrong-secret"}
    if form["type"] == "sign":
        return {"options": {**form["options"], "secret_key": "wrong-secret-key"}}
    return {}
