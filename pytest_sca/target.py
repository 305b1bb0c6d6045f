"""Target files: a platform under evaluation, described in YAML, validated into a Target.

Schema (``targets/target.schema.json`` is exported from these models):

    name: mycloud                 # shown in reports
    standard: saia-aicloud-2025-04-29
    adapters: {<transport>: {...}}          # see adapters/config.py
    capabilities: {...}                     # declared features and thresholds
    evidence: {<item>: {verdict, reviewer, date, document, note}}
    waivers: {<item>: {reason, expires, approved_by}}
    sandbox: {faults: [...], state: DIR}    # start the embedded sandbox

``${VAR}`` anywhere in a string takes the value from the environment; every
such value is a secret and is masked in all output. Every mistake is reported
as one line naming the file, the field path and the fix.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .catalog import DEFAULT_EDITION, Catalog
from .redaction import MASK, Redactor
from .yamlfile import read_yaml

_VAR = re.compile(r"\$\{([^}]*)\}")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TargetFileError(ValueError):
    """A target file is wrong; the message is one line: file, field path, fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvidenceEntry(_Strict):
    """An evaluator's verdict for an item that cannot be checked by software."""

    verdict: Literal["pass", "fail"]
    reviewer: str = Field(min_length=1)
    date: dt.date
    document: str = Field(min_length=1, description="document reference, e.g. report section")
    note: str = ""


class Waiver(_Strict):
    """An accepted deviation with a reason and an expiry date."""

    reason: str = Field(min_length=1)
    expires: dt.date
    approved_by: str | None = None


class SandboxOptions(_Strict):
    """Start the embedded reference platform and evaluate it."""

    faults: list[str] = Field(default_factory=list)
    state: str | None = Field(default=None, description="state directory kept across runs")


class TargetModel(_Strict):
    """The top level of a target file."""

    name: str = Field(min_length=1)
    standard: str = DEFAULT_EDITION
    description: str = ""
    adapters: dict[str, dict[str, Any]] = Field(default_factory=dict)
    capabilities: dict[str, Any] = Field(default_factory=dict)
    evidence: dict[str, EvidenceEntry] = Field(default_factory=dict)
    waivers: dict[str, Waiver] = Field(default_factory=dict)
    sandbox: SandboxOptions | None = None


@dataclass
class Target:
    """A validated target: what the plugin and the adapters work from."""

    name: str
    standard: str
    path: Path | None
    adapters: dict[str, BaseModel]
    capabilities: Mapping[str, Any]
    evidence: dict[str, EvidenceEntry]
    waivers: dict[str, Waiver]
    sandbox: SandboxOptions | None
    redact: Redactor = field(default_factory=Redactor)
    fingerprint: str = ""


def _fix_for(error: Mapping[str, Any], where: str) -> str:
    """A short 'what to do' for a pydantic error."""
    kind = error["type"]
    if kind == "missing":
        return f"add `{where}`"
    if kind == "extra_forbidden":
        return "remove it or fix its spelling"
    if kind.startswith("date"):
        return "write a date as YYYY-MM-DD"
    if kind == "literal_error":
        return error["msg"].replace("Input should be", "use")
    return error["msg"][:1].lower() + error["msg"][1:]


def _path(prefix: str, loc: tuple[Any, ...]) -> str:
    parts = [prefix] if prefix else []
    parts += [f"[{p}]" if isinstance(p, int) else str(p) for p in loc]
    return ".".join(parts).replace(".[", "[") or "top level"


def _validation_message(file: str, exc: ValidationError, prefix: str = "") -> str:
    error = exc.errors()[0]
    where = _path(prefix, tuple(error["loc"]))
    problem = {"missing": "is required", "extra_forbidden": "is not a known field"}.get(
        error["type"], "is invalid")
    return f"{file}: {where} {problem}: {_fix_for(error, where)}"


def expand_variables(node: Any, file: str, environ: Mapping[str, str],
                     secrets: set[str], where: str = "") -> Any:
    """Replace ``${VAR}`` in every string of the parsed YAML; collect the values as secrets."""
    if isinstance(node, dict):
        return {k: expand_variables(v, file, environ, secrets, f"{where}.{k}" if where else str(k))
                for k, v in node.items()}
    if isinstance(node, list):
        return [expand_variables(v, file, environ, secrets, f"{where}[{n}]")
                for n, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if not _VAR_NAME.match(name):
            raise TargetFileError(f"{file}: {where}: `${{{name}}}` is not a valid variable "
                                  "reference: use ${NAME} with letters, digits and _")
        if name not in environ:
            raise TargetFileError(f"{file}: {where}: environment variable {name} is not set: "
                                  f"export {name}=… before running")
        secrets.add(environ[name])
        return environ[name]

    return _VAR.sub(substitute, node)


def _fingerprint(raw: Any) -> str:
    """A digest of the target file with every ${VAR} reference left unexpanded (no secrets)."""
    canonical = json.dumps(raw, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _adapter_model(transport: str) -> type[BaseModel] | None:
    from .adapters import registry

    try:
        return registry.config_model_for(transport)
    except KeyError:
        return None


def parse_target(raw: Any, file: str, catalog: Catalog,
                 environ: Mapping[str, str] | None = None, path: Path | None = None) -> Target:
    """Validate a parsed target document; ``file`` names it in error messages."""
    if not isinstance(raw, dict):
        raise TargetFileError(f"{file}: top level must be a mapping with at least `name:`")
    secrets: set[str] = set()
    data = expand_variables(raw, file, os.environ if environ is None else environ, secrets)
    try:
        model = TargetModel.model_validate(data)
    except ValidationError as exc:
        raise TargetFileError(_validation_message(file, exc)) from None
    if model.standard != catalog.edition.id:
        raise TargetFileError(f"{file}: standard: edition {model.standard!r} is not known: "
                              f"use {catalog.edition.id!r}")
    adapters: dict[str, BaseModel] = {}
    for transport, section in model.adapters.items():
        config_model = _adapter_model(transport)
        if config_model is None:
            from .adapters import registry

            known = ", ".join(registry.known_transports())
            raise TargetFileError(f"{file}: adapters.{transport}: unknown transport: use one of "
                                  f"{known}, or install the package that provides it")
        if not isinstance(section, dict):
            raise TargetFileError(f"{file}: adapters.{transport} must be a mapping of settings")
        try:
            adapters[transport] = config_model.model_validate(section)
        except ValidationError as exc:
            raise TargetFileError(
                _validation_message(file, exc, f"adapters.{transport}")) from None
    for section_name, entries in (("evidence", model.evidence), ("waivers", model.waivers)):
        for item_id in entries:
            if item_id not in catalog:
                raise TargetFileError(f"{file}: {section_name}.{item_id}: no such item in "
                                      f"{catalog.edition.id}: use an item id such as 10.2.a")
    return Target(
        name=model.name, standard=model.standard, path=path, adapters=adapters,
        capabilities=model.capabilities, evidence=dict(model.evidence),
        waivers=dict(model.waivers), sandbox=model.sandbox, redact=Redactor(secrets),
        fingerprint=_fingerprint(raw),
    )


def load_target(path: Path | str, catalog: Catalog,
                environ: Mapping[str, str] | None = None) -> Target:
    """Read and validate a target file."""
    file = Path(path)
    raw = read_yaml(file, TargetFileError, "target file",
                    "give the path of a YAML target file, or `sandbox`")
    return parse_target(raw, str(file), catalog, environ, file.resolve())


def describe_secret_free(target: Target) -> dict[str, Any]:
    """The target's identity for reports: name, edition, fingerprint, transports. No secrets."""
    return {
        "name": target.name,
        "standard": target.standard,
        "fingerprint": target.fingerprint,
        "adapters": sorted(target.adapters),
        "path": str(target.path) if target.path else None,
        "mask": MASK,
    }


def export_schema() -> dict[str, Any]:
    """The JSON Schema of target files, with each built-in transport's settings."""
    from .adapters.config import BUILTIN_CONFIGS

    schema = TargetModel.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pytest-sca target file"
    schema["properties"]["adapters"] = {
        "type": "object",
        "description": "one section per transport",
        "properties": {name: model.model_json_schema() for name, model in BUILTIN_CONFIGS.items()},
        "additionalProperties": {"type": "object"},
    }
    return schema
