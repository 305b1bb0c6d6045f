"""The signed-off evidence bundle: one archive of a run's outputs and a SHA-256 manifest.

``python -m pytest_sca bundle REPORT.json --html … --junit … --allure … --target … -o B.zip``
packs, in one zip:

    MANIFEST.json        bundle version, run id, target name and fingerprint, edition, tool
                         version, and every file with its SHA-256 and size
    MANIFEST.sha256      the same hashes in ``sha256sum -c`` format
    report.json          the JSON report (already free of secrets)
    report.html          the HTML report, junit.xml, allure/… when given
    self-assessment.yaml the CNCF-style export of the same report
    evidence/<item>/…    every evidence excerpt of the report, one file each
    target.yaml          the target file, literal secrets replaced by ***

The manifest is bound to the run: ``verify`` checks every hash, that nothing was added or
removed, and that report.json (and junit.xml, report.html) are of the run id, target
fingerprint, edition and tool version the manifest names. The SHA-256 of MANIFEST.json
(the *bundle digest*) is what an evaluator writes beside their signature; ``verify
--digest`` checks a bundle against it. Pure Python, no pytest import.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .reporting.export import cncf_yaml, evidence_paths
from .target import TargetFileError, file_fingerprint

BUNDLE_VERSION = 1
MANIFEST = "MANIFEST.json"
CHECKSUMS = "MANIFEST.sha256"
#: Keys whose literal values are secrets in a target file (``${VAR}`` references are kept).
_SECRET_KEY = re.compile(r"token|password|passwd|secret|api_?key|access_?key|authorization|"
                         r"credential|private_?key", re.IGNORECASE)
_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_SCHEMES = {"", "bearer", "basic", "token"}


class BundleError(ValueError):
    """A bundle cannot be made or read (one line: the file and the fix)."""


@dataclass
class Manifest:
    """What a bundle holds and which run it is bound to."""

    run_id: str
    target: str
    fingerprint: str
    edition: str
    tool_version: str
    created: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    digest: str = ""

    def to_json(self) -> bytes:
        data = {"bundle_version": BUNDLE_VERSION, "tool": {"name": "pytest-sca",
                                                           "version": self.tool_version},
                "run_id": self.run_id, "target": {"name": self.target,
                                                  "fingerprint": self.fingerprint},
                "edition": self.edition, "created": self.created, "notes": self.notes,
                "files": [{"path": p, **v} for p, v in sorted(self.files.items())]}
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            raw = json.loads(data)
            manifest = cls(run_id=raw["run_id"], target=raw["target"]["name"],
                           fingerprint=raw["target"]["fingerprint"], edition=raw["edition"],
                           tool_version=raw["tool"]["version"], created=raw["created"],
                           files={f["path"]: {"sha256": f["sha256"], "bytes": f["bytes"]}
                                  for f in raw["files"]},
                           notes=list(raw.get("notes", [])))
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"{MANIFEST} is not a pytest-sca bundle manifest ({exc})") from None
        manifest.digest = hashlib.sha256(data).hexdigest()
        return manifest


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _mask_value(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_value("authorization" if key == "headers" else str(k), v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_value(key, v) for v in value]
    if isinstance(value, str) and _SECRET_KEY.search(key):
        literal = _REFERENCE.sub("", value).strip().lower()
        return value if literal in _SCHEMES else "***"
    return value


def masked_target(path: Path) -> bytes:
    """The target file with every literal secret replaced by ``***`` (references kept)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BundleError(f"{path}: cannot read the target file ({exc})") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path}: not a target file (top level must be a mapping)")
    masked = {key: _mask_value(str(key), value) for key, value in data.items()}
    header = (f"# {path.name}, as bundled by pytest-sca: literal secrets replaced by ***, "
              "${VAR} references kept\n")
    return (header + yaml.safe_dump(masked, allow_unicode=True, sort_keys=False)).encode()


def _check_junit(data: bytes, run_id: str) -> None:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise BundleError(f"the JUnit file is not XML ({exc})") from None
    ids = {p.get("value") for p in root.iter("property") if p.get("name") == "sca_run_id"}
    if ids and ids != {run_id}:
        raise BundleError(f"the JUnit file is of run {', '.join(sorted(map(str, ids)))}, the "
                          f"report of run {run_id}: give the files of one run")


def _check_html(data: bytes, run_id: str) -> None:
    if f"run {run_id}".encode() not in data:
        raise BundleError(f"the HTML report does not name run {run_id}: give the HTML of the "
                          "same run (or render it: python -m pytest_sca html REPORT.json OUT)")


def make_bundle(report_path: Path, output: Path, *, html: Path | None = None,
                junit: Path | None = None, allure: Path | None = None,
                target: Path | None = None) -> Manifest:
    """Write the bundle of a run to ``output`` (a .zip); its manifest, with the digest."""
    try:
        report_bytes = report_path.read_bytes()
        report = json.loads(report_bytes)
        run_id = report["run"]["id"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{report_path}: not a pytest-sca JSON report ({exc}): give the "
                          "report of a run (--sca-json)") from None
    manifest = Manifest(run_id=run_id, target=report["target"]["name"],
                        fingerprint=report["target"]["fingerprint"],
                        edition=report["standard"]["edition"],
                        tool_version=report["tool"]["version"],
                        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    files: dict[str, bytes] = {"report.json": report_bytes,
                               "self-assessment.yaml": cncf_yaml(report).encode("utf-8")}
    for item in report["items"]:
        for name, evidence in zip(evidence_paths(item), item["evidence"], strict=True):
            files[name] = str(evidence["content"]).encode("utf-8")
    if html is not None:
        files["report.html"] = _read(html)
        _check_html(files["report.html"], run_id)
    if junit is not None:
        files["junit.xml"] = _read(junit)
        _check_junit(files["junit.xml"], run_id)
    if allure is not None:
        if not allure.is_dir():
            raise BundleError(f"{allure}: no such folder: give the --alluredir of the run")
        for file in sorted(p for p in allure.rglob("*") if p.is_file()):
            files[f"allure/{file.relative_to(allure).as_posix()}"] = file.read_bytes()
    if target is not None:
        files["target.yaml"] = masked_target(target)
        try:
            matches = file_fingerprint(target) == manifest.fingerprint
        except TargetFileError as exc:
            raise BundleError(str(exc)) from None
        if not matches:
            manifest.notes.append(f"target.yaml: its fingerprint differs from the report's "
                                  f"{manifest.fingerprint}: the file changed since the run, or "
                                  "the run evaluated a target it generated (the sandbox)")
    manifest.files = {p: {"sha256": _sha256(d), "bytes": len(d)} for p, d in files.items()}
    manifest_bytes = manifest.to_json()
    manifest.digest = _sha256(manifest_bytes)
    checksums = "".join(f"{v['sha256']}  {p}\n" for p, v in sorted(manifest.files.items()))
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, manifest_bytes)
        archive.writestr(CHECKSUMS, checksums)
        for path, data in sorted(files.items()):
            archive.writestr(path, data)
    return manifest


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: cannot read it ({exc.strerror})") from None


def verify_bundle(path: Path, digest: str | None = None) -> tuple[list[str], Manifest]:
    """Every problem of a bundle (none: intact), and its manifest."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{path}: not a bundle ({exc}): give the .zip `bundle` wrote") from None
    with archive:
        names = set(archive.namelist())
        if MANIFEST not in names:
            raise BundleError(f"{path}: has no {MANIFEST}: not a pytest-sca bundle")
        manifest = Manifest.from_json(archive.read(MANIFEST))
        problems: list[str] = []
        if digest is not None and digest.lower() != manifest.digest:
            problems.append(f"{MANIFEST}: its SHA-256 is {manifest.digest}, the signed digest "
                            f"{digest}: the manifest was changed or is another run's")
        for name, expected in sorted(manifest.files.items()):
            if name not in names:
                problems.append(f"{name}: missing")
                continue
            actual = _sha256(archive.read(name))
            if actual != expected["sha256"]:
                problems.append(f"{name}: SHA-256 {actual} differs from the manifest's "
                                f"{expected['sha256']}")
        for extra in sorted(names - set(manifest.files) - {MANIFEST, CHECKSUMS}):
            problems.append(f"{extra}: not in the manifest")
        if CHECKSUMS in names:
            listed = dict(line.split("  ", 1)[::-1] for line in
                          archive.read(CHECKSUMS).decode().splitlines() if "  " in line)
            if listed != {p: v["sha256"] for p, v in manifest.files.items()}:
                problems.append(f"{CHECKSUMS} disagrees with {MANIFEST}")
        if "report.json" in names:
            problems += _binding(json.loads(archive.read("report.json")), manifest)
        if "junit.xml" in names:
            try:
                _check_junit(archive.read("junit.xml"), manifest.run_id)
            except BundleError as exc:
                problems.append(f"junit.xml: {exc}")
    return problems, manifest


def _binding(report: dict[str, Any], manifest: Manifest) -> list[str]:
    """Whether report.json is of the run, target, edition and tool the manifest names."""
    found = {"run id": report.get("run", {}).get("id"),
             "target fingerprint": report.get("target", {}).get("fingerprint"),
             "edition": report.get("standard", {}).get("edition"),
             "tool version": report.get("tool", {}).get("version")}
    wanted = {"run id": manifest.run_id, "target fingerprint": manifest.fingerprint,
              "edition": manifest.edition, "tool version": manifest.tool_version}
    return [f"report.json: {key} {found[key]} is not the manifest's {wanted[key]}"
            for key in wanted if found[key] != wanted[key]]
