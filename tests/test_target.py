"""Target files: ${VAR} secrets, strict schema, one-line errors that name file, field and fix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_sca.catalog import load_catalog
from pytest_sca.target import TargetFileError, export_schema, load_target

CATALOG = load_catalog()
REPO = Path(__file__).resolve().parents[1]

MALFORMED = {
    "not-yaml": ("name: x\nadapters:\n  platform: {url: [\n", "line 4 column 1: not valid YAML"),
    "not-a-mapping": ("- name: x\n", "top level must be a mapping"),
    "no-name": ("adapters: {}\n", "name is required: add `name`"),
    "unknown-section": ("name: x\nadapter: {}\n", "adapter is not a known field: remove it or "
                        "fix its spelling"),
    "unknown-transport": ("name: x\nadapters: {kubernets: {}}\n",
                          "adapters.kubernets: unknown transport: use one of"),
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


def test_example_targets_are_valid() -> None:
    examples = sorted((REPO / "targets").glob("*.yaml"))
    assert examples
    # Every ${VAR} the examples use, given a placeholder value.
    names = {m for path in examples
             for m in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", path.read_text())}
    environ = {name: f"value-of-{name.lower()}" for name in names}
    for example in examples:
        try:
            load_target(example, CATALOG, environ)
        except TargetFileError as exc:  # pragma: no cover - the message is the failure
            pytest.fail(str(exc))
