"""The OCI registry adapter against a real registry: Debian's ``docker-registry``
(distribution 2.8) with htpasswd basic auth, started on loopback by the test."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import yaml

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import RegistryConfig
from pytest_sca.adapters.oci_registry import OciRegistry, RegistryAdapter
from pytest_sca.capabilities import Refused

from .logged_server import LoggedServer, start_logged_server

pytestmark = pytest.mark.skipif(shutil.which("docker-registry") is None,
                                reason="Debian's docker-registry is not installed (.ci/run)")

USER = "sca"
PASSWORD = "registry-test-password"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedServer]:
    folder = tmp_path_factory.mktemp("registry")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (folder / "htpasswd").write_text(f"{USER}:{hashed}\n")
    (folder / "config.yml").write_text(yaml.safe_dump({
        "version": 0.1,
        "storage": {"filesystem": {"rootdirectory": str(folder / "data")},
                    "delete": {"enabled": True}},
        "http": {"addr": "127.0.0.1:0"},
        "auth": {"htpasswd": {"realm": "sca", "path": str(folder / "htpasswd")}},
    }))
    server = start_logged_server(["docker-registry", "serve", str(folder / "config.yml")],
                                 folder / "registry.log", re.compile(r"listening on (\S+?)\""))
    try:
        yield server
    finally:
        server.stop()
    assert server.process.poll() is not None


def _adapter(url: str, password: str = PASSWORD) -> OciRegistry:
    config = RegistryConfig(url=url, username=USER, password=password)
    return OciRegistry(RegistryAdapter(config, AdapterContext("t", None, "20261128-reg")))


def test_push_list_pull_delete_against_a_real_registry(registry: LoggedServer) -> None:
    adapter = _adapter(registry.url)
    try:
        repository = adapter.probe_repository("Custom Image")
        assert repository == "sca-probe/20261128-reg-custom-image"
        first = adapter.push_probe_image(repository, "v1", b"one\n")
        second = adapter.push_probe_image(repository, "v2", b"two\n")
        assert first["digest"] != second["digest"]
        assert sorted(adapter.tags(repository)) == ["v1", "v2"]
        assert repository in adapter.catalog()
        pulled = adapter.pull(repository, "v1")
        assert pulled["digest"] == first["digest"] and pulled["bytes"] == first["bytes"]
        assert adapter.exists(repository, first["digest"])
        adapter.delete(repository, first["digest"])
        assert not adapter.exists(repository, "v1")
        assert adapter.exists(repository, "v2")
        assert adapter.tags("sca-probe/never-pushed") == []
        # The manifest the test deleted needs no undo; the other one is undone.
        ledger = adapter.subject.context.ledger
        assert [a.description for a in ledger.pending] == [
            f"delete {repository}@{second['digest']}"]
        assert ledger.sweep() == []
        assert not adapter.exists(repository, "v2")
        third = adapter.push_probe_image(repository, "v3", b"three\n")
        ledger.pending[0].cancel()  # as if the run had been killed before its cleanup
        assert adapter.subject.sweep("20261128-reg") == []
        assert not adapter.exists(repository, third["digest"])
    finally:
        adapter.subject.close()


def test_a_wrong_password_is_a_refusal_not_an_error(registry: LoggedServer) -> None:
    adapter = _adapter(registry.url, password="wrong-password")
    try:
        with pytest.raises(Refused) as refused:
            adapter.push_probe_image("sca-probe/denied", "v1")
        assert refused.value.status == 401 and refused.value.is_authorization
    finally:
        adapter.subject.close()


@pytest.mark.slow
def test_the_custom_image_check_passes_on_the_real_registry(registry: LoggedServer,
                                                            tmp_path: Path) -> None:
    """6.3.b evaluated against a target whose only adapter is this registry."""
    (tmp_path / "target.yaml").write_text(yaml.safe_dump({
        "name": "real-registry",
        "adapters": {"registry": {"url": registry.url, "username": USER,
                                  "password": "${SCA_TEST_REGISTRY_PASSWORD}"}},
    }))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--sca-target=target.yaml", "-p", "no:cacheprovider",
         "-m", "clause(id='6.3.b')", "--sca-json=report.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "SCA_TEST_REGISTRY_PASSWORD": PASSWORD})
    report = json.loads((tmp_path / "report.json").read_text())
    item = next(i for i in report["items"] if i["id"] == "6.3.b")
    assert item["verdict"] == "pass", (item, result.stdout[-2000:])
    assert PASSWORD not in result.stdout + result.stderr


def test_images_are_the_catalogue_presets_with_framework_and_version(
        registry: LoggedServer) -> None:
    """``images`` over the registry: tags of the platform's own repositories are presets
    (framework from the repository name, version from the tag), the run's are not, and an
    image the run creates is pushed and deleted."""
    from pytest_sca.adapters.oci_registry import OciImages

    context = AdapterContext("t", None, "20261129-img")
    adapter = RegistryAdapter(RegistryConfig(url=registry.url, username=USER,
                                             password=PASSWORD), context)
    try:
        operator = OciRegistry(RegistryAdapter(RegistryConfig(
            url=registry.url, username=USER, password=PASSWORD),
            AdapterContext("t", None, "operator")))
        operator.push_probe_image("library/pytorch", "2.4.1-cuda12.1", b"pt\n")
        operator.push_probe_image("library/tensorflow", "2.16.1-gpu", b"tf\n")
        images = OciImages(adapter)
        made = images.create_image("custom", "v1", framework="pytorch")
        listed = {i["id"]: i for i in images.list_images()}
        assert listed["library/pytorch:2.4.1-cuda12.1"]["framework"] == "pytorch"
        assert listed["library/pytorch:2.4.1-cuda12.1"]["framework_version"] == "2.4.1"
        assert listed["library/pytorch:2.4.1-cuda12.1"]["preset"] is True
        assert listed["library/tensorflow:2.16.1-gpu"]["framework"] == "tensorflow"
        assert listed[made["id"]]["preset"] is False
        images.delete_image(made["id"])
        assert made["id"] not in {i["id"] for i in images.list_images()}
        assert "images" in RegistryAdapter.provides
    finally:
        adapter.close()
