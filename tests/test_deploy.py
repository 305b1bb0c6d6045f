"""The in-cluster deployment (deploy/): the Kubernetes manifests and the Sonobuoy plugin
validate against the Kubernetes API schemas, the RBAC covers what the adapter creates, and
the Containerfile keeps its contract (slim base, locked install, non-root, the entry point).

The schemas are the Kubernetes OpenAPI definitions as the official client ships them: its
models are generated from the API server's OpenAPI document and validate strictly (unknown
fields, wrong types and missing required fields are errors), so no cluster is needed. This
machine cannot build the image (no ``RUN`` steps work here): its contract is read instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from pytest_sca.adapters.kubernetes import adapter as kube_adapter
from pytest_sca.adapters.kubernetes.resources import KINDS
from pytest_sca.catalog import load_catalog
from pytest_sca.target import parse_target

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
#: kind → the official client's model of it (generated from the Kubernetes OpenAPI schema).
MODELS: dict[str, Any] = {
    "Namespace": client.V1Namespace, "ServiceAccount": client.V1ServiceAccount,
    "ClusterRole": client.V1ClusterRole, "ClusterRoleBinding": client.V1ClusterRoleBinding,
    "ConfigMap": client.V1ConfigMap, "PersistentVolumeClaim": client.V1PersistentVolumeClaim,
    "Job": client.V1Job,
}
#: Core kinds the adapter creates → their resource name in RBAC rules.
CORE_RESOURCES = {"job": ("batch", "jobs"), "pod": ("", "pods"), "service": ("", "services"),
                  "persistentvolumeclaim": ("", "persistentvolumeclaims"),
                  "serviceaccount": ("", "serviceaccounts"),
                  "rolebinding": ("rbac.authorization.k8s.io", "rolebindings"),
                  "clusterrolebinding": ("rbac.authorization.k8s.io", "clusterrolebindings"),
                  "resourcequota": ("", "resourcequotas"), "namespace": ("", "namespaces")}


def _documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                found.append((f"{path.name}:{document['kind']}/"
                              f"{document['metadata']['name']}", document))
    return found


@pytest.mark.parametrize(("where", "document"), _documents(), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_manifest_validates_against_the_kubernetes_schema(where: str,
                                                          document: dict[str, Any]) -> None:
    model = MODELS[document["kind"]]
    model.model_validate(document)  # raises on an unknown field, a wrong type, a missing one


def test_a_broken_manifest_is_caught() -> None:
    job = dict(next(d for _, d in _documents() if d["kind"] == "Job"))
    broken = {**job, "spec": {**job["spec"], "backofLimit": 0}}
    with pytest.raises(ValueError, match="backofLimit"):
        client.V1Job.model_validate(broken)


def test_rbac_lets_the_adapter_create_and_delete_everything_it_creates() -> None:
    role = next(d for _, d in _documents() if d["kind"] == "ClusterRole")
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    wanted = {kind: (KINDS[kind].group, KINDS[kind].plural) if kind in KINDS
              else CORE_RESOURCES[kind] for kind in kube_adapter._KINDS}
    missing = {kind: where for kind, where in wanted.items()
               if not {"create", "delete", "list"} <= granted.get(where, set())}
    assert not missing, f"the evaluator's ClusterRole cannot create/list/delete {missing}"
    assert "cluster-admin" not in {r["roleRef"]["name"] for _, r in _documents()
                                   if r["kind"] == "ClusterRoleBinding"}


def test_the_jobs_target_file_loads() -> None:
    config = next(d for _, d in _documents() if d["kind"] == "ConfigMap")
    raw = yaml.safe_load(config["data"]["target.yaml"])
    target = parse_target(raw, "sca-target/target.yaml", load_catalog(), {}, None)
    assert "kubernetes" in target.adapters


def test_sonobuoy_plugin_definition() -> None:
    plugin = yaml.safe_load((DEPLOY / "sonobuoy" / "pytest-sca-plugin.yaml").read_text())
    config = plugin["sonobuoy-config"]
    assert config["driver"] in ("Job", "DaemonSet") and config["plugin-name"]
    assert config["result-format"] in ("junit", "raw", "manual", "gojson")
    client.V1Container.model_validate(plugin["spec"])
    for volume in plugin.get("extra-volumes") or []:
        client.V1Volume.model_validate(volume)
    script = " ".join(plugin["spec"]["args"])
    # Sonobuoy's contract: results under /tmp/sonobuoy/results, then the `done` file.
    assert "/tmp/sonobuoy/results/junit.xml" in script and "results/done" in script


def test_containerfile_contract() -> None:
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert re.match(r"FROM python:3\.\d+-slim$", lines[0]), lines[0]
    assert any(re.match(r"RUN pip install --require-hashes .*-r requirements\.lock", line)
               for line in lines), "dependencies are not installed from the hash-locked file"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root"), users
    entry = next(line for line in lines if line.startswith("ENTRYPOINT"))
    assert '"pytest"' in entry and '"pytest_sca.plugin"' in entry, entry
    lock = (DEPLOY / "requirements.lock").read_text(encoding="utf-8")
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==\S+", lock, re.M)
    assert {"pytest", "kubernetes", "pydantic"} <= {p.lower() for p in pins}
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", lock.split("\n", 1)[1] if lock else "")
    assert all("--hash=sha256:" in b for b in blocks if re.match(r"[A-Za-z0-9_.-]+==", b))
