"""The target file the sandbox writes: valid adapter settings, secrets only as ${VAR} refs."""

from __future__ import annotations

import re
import stat
from typing import Any

import boto3

from pytest_sca.adapters.config import BUILTIN_CONFIGS
from pytest_sca.catalog import load_catalog
from pytest_sca.target import parse_target

from .helpers import RunningSandbox


def _expand(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _expand(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_expand(value, env) for value in node]
    if isinstance(node, str):
        return re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], node)
    return node


def test_adapter_sections_validate_against_the_config_models(sandbox: RunningSandbox) -> None:
    target = sandbox.target
    assert target["name"] == "sandbox"
    assert target["standard"] == "saia-aicloud-2025-04-29"
    assert target["capabilities"]["simulated"] is True
    # The core sections; the platform's areas add theirs (inference, workflows…).
    assert {"platform", "s3", "ssh"} <= set(target["adapters"])
    for transport, section in target["adapters"].items():
        BUILTIN_CONFIGS[transport].model_validate(_expand(section, sandbox.process.env))
    # …and the whole file is a target the plugin accepts (evidence, capabilities and all).
    loaded = parse_target(target, "target.yaml", load_catalog(), sandbox.process.env)
    assert loaded.name == "sandbox"


def test_secrets_live_only_in_the_env_file(sandbox: RunningSandbox) -> None:
    text = sandbox.process.target_path.read_text()
    env = sandbox.process.env
    assert set(env) == {"SCA_SANDBOX_TOKEN", "SCA_SANDBOX_S3_ACCESS_KEY",
                        "SCA_SANDBOX_S3_SECRET_KEY", "SCA_SANDBOX_S3_OTHER_ACCESS_KEY",
                        "SCA_SANDBOX_S3_OTHER_SECRET_KEY"}
    for name, value in env.items():
        assert value and value not in text, name
        assert "${" + name + "}" in text
    env_file = sandbox.process.state_dir / "sandbox.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert sandbox.admin.ok("GET", "/whoami")["role"] == "platform_admin"


def test_s3_buckets_of_both_tenants_exist(sandbox: RunningSandbox) -> None:
    s3 = _expand(sandbox.target["adapters"]["s3"], sandbox.process.env)
    client = boto3.client("s3", endpoint_url=s3["endpoint"], region_name="us-east-1",
                          aws_access_key_id=s3["access_key"],
                          aws_secret_access_key=s3["secret_key"])
    client.put_object(Bucket=s3["bucket"], Key="probe.txt", Body=b"stored")
    assert client.get_object(Bucket=s3["bucket"], Key="probe.txt")["Body"].read() == b"stored"
    other = s3["other_tenant"]
    other_client = boto3.client("s3", endpoint_url=s3["endpoint"], region_name="us-east-1",
                                aws_access_key_id=other["access_key"],
                                aws_secret_access_key=other["secret_key"])
    # Each tenant's listing holds its own bucket only (ListBuckets is confined to the caller).
    assert {b["Name"] for b in client.list_buckets()["Buckets"]} == {s3["bucket"]}
    assert {b["Name"] for b in other_client.list_buckets()["Buckets"]} == {other["bucket"]}
    storage = sandbox.admin.ok("GET", "/tenants/sca-probe/storage")
    assert (storage["bucket"], storage["access_key"]) == (s3["bucket"], s3["access_key"])
