"""The sandbox's OCI registry, image pulls, alert rules, diagnosis and shared file system,
over real HTTP."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import paramiko
import requests

from .helpers import RunningSandbox


def _basic(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"sca:{token}".encode()).decode()}


def test_registry_asks_for_credentials_and_checks_digests(sandbox: RunningSandbox) -> None:
    base = sandbox.admin.base + "v2/"
    refused = requests.get(base, timeout=10)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(base, headers=_basic(sandbox.admin.token or ""), timeout=10).ok
    blob = b"layer"
    wrong = "sha256:" + hashlib.sha256(b"other").hexdigest()
    bad = requests.post(base + "probe/blobs/uploads/", params={"digest": wrong}, data=blob,
                        headers=_basic(sandbox.admin.token or ""), timeout=10)
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "DIGEST_INVALID"
    unknown = requests.get(base + "probe/manifests/none", timeout=10,
                           headers=_basic(sandbox.admin.token or ""))
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["code"] == \
        "MANIFEST_UNKNOWN"


def test_pulls_use_the_node_layer_cache_and_lazy_pulls_transfer_less(
        sandbox: RunningSandbox) -> None:
    api = sandbox.admin
    lazy = api.ok("POST", "/nodes/ct-1/image-pulls", json={"image": "pytorch:2.5.1-py3.11",
                                                            "mode": "lazy"})
    full = api.ok("POST", "/nodes/ct-2/image-pulls", json={"image": "pytorch:2.5.1-py3.11"})
    again = api.ok("POST", "/nodes/ct-2/image-pulls", json={"image": "pytorch:2.5.1-py3.11"})
    assert 0 < lazy["bytes_transferred"] < full["bytes_transferred"] == full["image_bytes"]
    assert again["bytes_transferred"] == 0 and again["layers_cached"] == again["layers"]
    api.ok("POST", "/nodes/ct-2/image-pulls", 404, json={"image": "nope:1"})


def test_alert_rule_fires_once_notifies_once_and_goes(sandbox: RunningSandbox) -> None:
    api = sandbox.admin
    rule = api.ok("POST", "/alert-rules", 201, json={
        "name": "busy", "metric": "sca_node_cpu_utilization_ratio", "op": ">",
        "threshold": -1, "matchers": {"node": "bm-1"}})
    alerts = [a for a in api.ok("GET", "/alerts")["items"] if a["rule_id"] == rule["id"]]
    assert [a["labels"]["node"] for a in alerts] == ["bm-1"]
    api.ok("GET", "/alerts")
    sent = [n for n in api.ok("GET", "/notifications")["items"] if n["rule_id"] == rule["id"]]
    assert len(sent) == 1
    api.ok("DELETE", f"/alert-rules/{rule['id']}", 204)
    assert not [a for a in api.ok("GET", "/alerts")["items"] if a["rule_id"] == rule["id"]]


def test_diagnosis_reports_real_ssh_reachability(sandbox: RunningSandbox) -> None:
    report = sandbox.admin.ok("POST", "/clusters/bm-cluster/diagnosis")
    by_node = {n["node_id"]: {c["component"]: c for c in n["components"]}
               for n in report["nodes"]}
    assert by_node["bm-1"]["ssh"]["status"] == "ok"
    assert "SSH-" in by_node["bm-1"]["ssh"]["detail"]
    assert "ssh" not in by_node["bm-3"]  # a node without SSH gets no SSH verdict


def test_shared_filesystem_is_one_directory_for_both_ssh_nodes(sandbox: RunningSandbox
                                                               ) -> None:
    listed = sandbox.admin.ok("GET", "/filesystems")["items"]
    assert [(f["mount_path"], f["nodes"]) for f in listed] == [("~/mnt/hpfs", ["bm-1", "bm-2"])]
    # Each node's ~/mnt/hpfs, as the node itself resolves it: one directory for both.
    ssh = sandbox.target["adapters"]["ssh"]
    seen = []
    for node in ssh["nodes"]:
        client = paramiko.SSHClient()
        client.load_host_keys(ssh["known_hosts"])
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(node["host"], port=node["port"], username=node["user"],
                       pkey=paramiko.Ed25519Key.from_private_key_file(node["key_file"]),
                       timeout=10, allow_agent=False, look_for_keys=False)
        try:
            _, stdout, _ = client.exec_command("readlink -f mnt/hpfs", timeout=10)
            seen.append(Path(stdout.read().decode().strip()))
        finally:
            client.close()
    assert seen[0] == seen[1] and seen[0].parts[-2:] == ("filesystems", "hpfs"), seen
