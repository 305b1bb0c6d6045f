"""Target files: ${VAR} secrets, strict schema, one-line errors that name file, field and fix."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_sca.catalog import load_catalog
from pytest_sca.target import TargetFileError, export_schema, load_target

CATALOG = load_catalog()
REPO = Path(__file__).resolve().parents[1]

MALFORMED = {
    "not-yaml": ("name: x\nadapters:\n  platform: {url: [\n", "line 4 column 1: not valid YAML"),
    "not-a-mapping": ("- name: x\n", "top level must be a mapping"),
    "no-name": ("adapters: {}\n", "name is required: add `name`"),
    "unknown-section": ("name: x\nadapter: {}\n", "adapter is not a known field: did you mean "
                        "adapters?"),
    "unknown-far-off": ("name: x\nzzz: {}\n", "zzz is not a known field: remove it or fix its "
                        "spelling (known here: name, standard"),
    "misspelt-capability": ("name: x\ncapabilities:\n  perf: {availabilty: {seconds: 3}}\n",
                            "capabilities.perf.availabilty is not a known field: did you mean "
                            "capabilities.perf.availability?"),
    "renamed-capability": ("name: x\ncapabilities: {finetune: {timeout: 60}}\n",
                           "capabilities.finetune.timeout is not a known field: did you mean "
                           "capabilities.finetune.timeout_s?"),
    "capability-wrong-type": ("name: x\ncapabilities: {perf: {long_job: {seconds: an hour}}}\n",
                              "capabilities.perf.long_job.seconds is invalid: input should be a "
                              "valid number"),
    "misspelt-node-field": ("name: x\nadapters:\n  ssh: {nodes: [{name: n, host: h, "
                            "kye_file: k}]}\n", "adapters.ssh.nodes[0].kye_file is not a known "
                            "field: did you mean adapters.ssh.nodes[0].key_file?"),
    "verify-neither": ("name: x\nadapters: {platform: {url: 'https://h/', verify: [1]}}\n",
                       "adapters.platform.verify is invalid: input should be a valid boolean, or "
                       "input should be a valid string"),
    "unknown-transport": ("name: x\nadapters: {kubernets: {}}\n",
                          "adapters.kubernets: unknown transport: use one of"),
    "dra-attribute-unqualified": (
        "name: x\nadapters: {kubernetes: {dra_topology_attribute: pcieRoot}}\n",
        "adapters.kubernetes.dra_topology_attribute is invalid: write a fully qualified DRA "
        "attribute name, <domain>/<name> (e.g. resource.kubernetes.io/pcieRoot), not "
        "'pcieRoot'"),
    "service-without-namespace": (
        "name: x\nadapters: {kubernetes: {comfyui_service: comfyui}}\n",
        "adapters.kubernetes.comfyui_service is invalid: write the Service as "
        "<namespace>/[scheme:]<service>[:port] (e.g. monitoring/prometheus-k8s:web), not "
        "'comfyui'"),
    "missing-url": ("name: x\nadapters: {platform: {token: abc}}\n",
                    "adapters.platform.url is required: add `adapters.platform.url`"),
    "bad-port": ("name: x\nadapters:\n  ssh: {nodes: [{name: n1, host: h, port: ssh}]}\n",
                 "adapters.ssh.nodes[0].port is invalid"),
    "missing-variable": ("name: x\nadapters: {platform: {url: 'http://h/', token: '${NOPE_X}'}}\n",
                         "adapters.platform.token: environment variable NOPE_X is not set: "
                         "export NOPE_X="),
    "evidence-without-reviewer": (
        "name: x\nevidence:\n  '10.2.a': {verdict: pass, date: 2026-01-01, document: d}\n",
        "evidence.10.2.a.reviewer is required: add `evidence.10.2.a.reviewer`"),
    "waiver-bad-date": ("name: x\nwaivers:\n  '6.1.a': {reason: r, expires: next year}\n",
                        "waivers.6.1.a.expires is invalid: write a date as YYYY-MM-DD"),
    "unknown-item": ("name: x\nwaivers:\n  '6.1.z': {reason: r, expires: 2030-01-01}\n",
                     "waivers.6.1.z: no such item in saia-aicloud-2025-04-29"),
    "wrong-edition": ("name: x\nstandard: gb-2019\n", "standard: edition 'gb-2019' is not known"),
    "bad-verdict": ("name: x\nevidence:\n  '10.2.a': {verdict: ok, reviewer: r, date: 2026-01-01,"
                    " document: d}\n", "evidence.10.2.a.verdict is invalid: use 'pass' or 'fail'"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_target_is_one_line_without_traceback(pytester: pytest.Pytester,
                                                        case: str) -> None:
    text, expected = MALFORMED[case]
    (pytester.path / "bad.yaml").write_text(text, encoding="utf-8")
    result = pytester.runpytest_subprocess("--sca-target=bad.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1, result.stderr.str()
    assert errors[0].startswith("ERROR: bad.yaml: ")
    assert expected in errors[0]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_missing_target_file_says_what_to_give(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--sca-target=nowhere.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: nowhere.yaml: no such target file: give the path*"])


def test_variables_expand_and_become_secrets(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("name: x\nadapters:\n  platform: {url: 'https://${HOST_X}/', "
                    "token: '${TOKEN_X}'}\n", encoding="utf-8")
    target = load_target(path, CATALOG, {"HOST_X": "cloud.example", "TOKEN_X": "s3cr3t-t0ken"})
    assert target.adapters["platform"].url == "https://cloud.example/"  # type: ignore[attr-defined]
    assert target.redact("Bearer s3cr3t-t0ken at cloud.example") == "Bearer *** at ***"
    # The fingerprint is computed from the unexpanded file: it holds no secret and is stable.
    other = load_target(path, CATALOG, {"HOST_X": "cloud.example", "TOKEN_X": "another-one"})
    assert target.fingerprint == other.fingerprint


def test_exported_schema_is_current() -> None:
    """targets/target.schema.json is what `python -m pytest_sca schema` prints."""
    committed = json.loads((REPO / "targets" / "target.schema.json").read_text(encoding="utf-8"))
    assert committed == export_schema()


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_example_targets_are_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every shipped target file loads, and its local paths come out with ``~`` expanded."""
    monkeypatch.setenv("HOME", str(tmp_path))
    examples = sorted((REPO / "targets").glob("*.yaml"))
    assert examples
    # Every ${VAR} the examples use, given a placeholder value.
    names = {m for path in examples
             for m in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", path.read_text())}
    # A variable that holds a whole URL (`url: ${MLFLOW_URL}`) gets one: URLs are validated.
    environ = {name: f"https://value-of-{name.lower().replace('_', '-')}.example/"
               if name.endswith("_URL") else f"value-of-{name.lower()}" for name in names}
    # The local files the examples name (keys, known_hosts, kubeconfig) must exist: the
    # user who copies an example has them; here a throwaway home holds them.
    for path in examples:
        for local in re.findall(r"(~/[^\s,}\]]+)", path.read_text()):
            file = tmp_path / local[2:]
            file.parent.mkdir(parents=True, exist_ok=True)
            file.touch()
    expanded = 0
    for example in examples:
        try:
            target = load_target(example, CATALOG, environ)
        except TargetFileError as exc:  # pragma: no cover - the message is the failure
            pytest.fail(str(exc))
        for transport, config in target.adapters.items():
            values = list(_strings(config.model_dump()))
            assert not [v for v in values if v.startswith("~")], (example.name, transport)
            expanded += len([v for v in values if v.startswith(f"{tmp_path}/")])
    # known_hosts, key_file and kubeconfig of the examples
    assert expanded >= 6


def test_local_paths_expand_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``~`` in a CA bundle, key, known_hosts or kubeconfig path is this machine's home."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for local in ("ca.pem", ".kube/config", ".ssh/known_hosts", ".ssh/id", ".ssh/jump"):
        (tmp_path / local).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / local).touch()
    path = tmp_path / "t.yaml"
    path.write_text(
        "name: x\nadapters:\n  platform: {url: 'https://h/', verify: ~/ca.pem}\n"
        "  s3: {endpoint: 'https://s3/', access_key: a, secret_key: b, verify: true}\n"
        "  kubernetes: {kubeconfig: ~/.kube/config}\n"
        "  ssh: {known_hosts: ~/.ssh/known_hosts, nodes: [{name: n, host: h, "
        "key_file: ~/.ssh/id}], jump_host: {name: j, host: g, key_file: ~/.ssh/jump}}\n",
        encoding="utf-8")
    adapters: dict[str, Any] = load_target(path, CATALOG, {}).adapters
    assert adapters["platform"].verify == f"{tmp_path}/ca.pem"
    assert adapters["s3"].verify is True
    assert adapters["kubernetes"].kubeconfig == f"{tmp_path}/.kube/config"
    assert adapters["ssh"].known_hosts == f"{tmp_path}/.ssh/known_hosts"
    assert adapters["ssh"].nodes[0].key_file == f"{tmp_path}/.ssh/id"
    assert adapters["ssh"].jump_host.key_file == f"{tmp_path}/.ssh/jump"
    # Paths on the remote nodes are theirs: never expanded here.
    assert adapters["ssh"].sshd_config == "/etc/ssh/sshd_config"
