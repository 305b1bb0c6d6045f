"""The evidence bundle: packed with a SHA-256 manifest bound to the run, verified, tamper
found; the target file's literal secrets masked; the CNCF-style export of the same data."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from pytest_sca.bundle import BundleError, make_bundle, masked_target, verify_bundle
from pytest_sca.reporting.export import cncf

from .conftest import write_checks

CHECKS = """
import pytest

@pytest.mark.clause("6.1.a")
def test_pass(sca):
    sca.evidence("tenants", {"items": ["a", "b"]})

@pytest.mark.clause("6.1.b")
@pytest.mark.parametrize("n", [1, 2])
def test_partly(n):
    assert n == 1, "[6.1.b] quota not enforced"

@pytest.mark.clause("6.2.a")
def test_waived():
    assert False, "[6.2.a] no inventory"

@pytest.mark.clause("6.2.b")
def test_not_assessed(sca):
    sca.not_assessed("no accelerators declared")
"""

TARGET = """
name: bundled
evaluation: {laboratory: Lab, evaluator: Li Ming, client: ACME Cloud}
adapters:
  comfyui:
    url: http://127.0.0.1:9/
    headers: {Authorization: "Bearer literal-header-secret"}
  prometheus: {url: "http://127.0.0.1:9/", token: "${PROM_TOKEN}"}
  registry: {url: "http://127.0.0.1:9/", username: sca, password: literal-password-1}
waivers:
  "6.2.a": {reason: "inventory API in Q2", expires: 2099-01-01}
"""


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROM_TOKEN", "env-prom-token-xyz")
    write_checks(pytester, CHECKS)
    pytester.makefile(".yaml", target=TARGET)
    pytester.runpytest("--sca-target=target.yaml", "checks", "--sca-json=report.json",
                       "--sca-html=report.html", "--junitxml=junit.xml", "--alluredir=allure",
                       "--sca-preflight=off", "-p", "no:cacheprovider")
    return pytester.path


def test_bundle_verifies_and_is_bound_to_the_run(run: Path) -> None:
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    manifest = make_bundle(run / "report.json", run / "out" / "b.zip", html=run / "report.html",
                           junit=run / "junit.xml", allure=run / "allure",
                           target=run / "target.yaml")
    assert (manifest.run_id, manifest.fingerprint) == (report["run"]["id"],
                                                       report["target"]["fingerprint"])
    problems, again = verify_bundle(run / "out" / "b.zip", digest=manifest.digest)
    assert problems == [] and again.digest == manifest.digest
    with zipfile.ZipFile(run / "out" / "b.zip") as archive:
        names = set(archive.namelist())
        target = archive.read("target.yaml").decode()
        assert {"MANIFEST.json", "MANIFEST.sha256", "report.json", "report.html", "junit.xml",
                "self-assessment.yaml", "target.yaml"} <= names
        assert "evidence/6.1.a/01-tenants.txt" in names
        assert any(n.startswith("allure/") for n in names)
    assert "literal-header-secret" not in target and "literal-password-1" not in target
    assert "${PROM_TOKEN}" in target and "username: sca" in target


def test_verify_finds_tampering(run: Path, tmp_path: Path) -> None:
    manifest = make_bundle(run / "report.json", tmp_path / "b.zip", junit=run / "junit.xml")
    tampered = tmp_path / "t.zip"
    with zipfile.ZipFile(tmp_path / "b.zip") as source, zipfile.ZipFile(tampered, "w") as out:
        for name in source.namelist():
            data = source.read(name)
            if name == "report.json":
                data = data.replace(b'"verdict": "fail"', b'"verdict": "pass"', 1)
            out.writestr(name, data)
        out.writestr("extra.txt", b"added later")
    problems, _ = verify_bundle(tampered)
    assert any(p.startswith("report.json: SHA-256") for p in problems)
    assert "extra.txt: not in the manifest" in problems
    wrong_digest, _ = verify_bundle(tmp_path / "b.zip", digest="0" * 64)
    assert wrong_digest and "signed digest" in wrong_digest[0]
    assert manifest.digest != "0" * 64


def test_files_of_another_run_are_refused(run: Path, tmp_path: Path) -> None:
    junit = (run / "junit.xml").read_text(encoding="utf-8")
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    (tmp_path / "junit.xml").write_text(junit.replace(report["run"]["id"], "other-run"))
    with pytest.raises(BundleError, match="the JUnit file is of run other-run"):
        make_bundle(run / "report.json", tmp_path / "b.zip", junit=tmp_path / "junit.xml")


def test_the_command_line_bundles_and_verifies(pytester: pytest.Pytester, run: Path) -> None:
    made = pytester.run(sys.executable, "-m", "pytest_sca", "bundle", "report.json", "--html",
                        "report.html", "--junit", "junit.xml", "--target", "target.yaml",
                        "-o", "bundle.zip")
    assert made.ret == 0
    digest = made.stdout.lines[-1].rsplit(" ", 1)[-1]
    checked = pytester.run(sys.executable, "-m", "pytest_sca", "verify", "bundle.zip",
                           "--digest", digest)
    assert checked.ret == 0 and "intact" in checked.stdout.str()
    broken = pytester.run(sys.executable, "-m", "pytest_sca", "verify", "bundle.zip",
                          "--digest", "f" * 64)
    assert broken.ret == 1 and "NOT intact" in broken.stdout.str()


def test_cncf_export_is_the_same_data(run: Path) -> None:
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    exported = cncf(report)
    assert exported["metadata"]["platformName"] == "bundled"
    assert exported["metadata"]["vendorName"] == "ACME Cloud"
    entries = {e["id"]: e for group in exported["spec"].values() for e in group}
    assert set(entries) == {i["id"] for i in report["items"]}
    assert entries["6.1.a"]["status"] == "Implemented" and entries["6.1.a"]["level"] == "MUST"
    assert entries["6.1.b"]["status"] == "Partially Implemented"
    assert entries["6.2.a"]["status"] == "N/A" and "inventory API in Q2" in entries["6.2.a"][
        "notes"]
    assert entries["6.2.b"]["status"] == "" and "not assessed" in entries["6.2.b"]["notes"]
    assert "evidence/6.1.a/01-tenants.txt" in entries["6.1.a"]["evidence"]
    text = (run / "export.yaml")
    from pytest_sca.__main__ import main

    assert main(["export", str(run / "report.json"), "-o", str(text)]) == 0
    assert yaml.safe_load(text.read_text(encoding="utf-8")) == exported


def test_masked_target_keeps_references_and_masks_literals(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("name: t\nadapters:\n  platform: {url: 'https://x/', token: '${T}'}\n"
                    "  s3: {endpoint: 'https://s3/', access_key: AKIA1234, "
                    "secret_key: 's3cr3t-value'}\n"
                    "  comfyui: {url: 'https://c/', headers: {X-Api: 'k-123456', "
                    "Authorization: 'Bearer ${TOKEN}'}}\n")
    masked = yaml.safe_load(masked_target(path).decode())
    adapters = masked["adapters"]
    assert adapters["platform"]["token"] == "${T}"
    assert adapters["s3"]["access_key"] == "***" and adapters["s3"]["secret_key"] == "***"
    assert adapters["comfyui"]["headers"] == {"X-Api": "***", "Authorization": "Bearer ${TOKEN}"}
    assert adapters["s3"]["endpoint"] == "https://s3/"
