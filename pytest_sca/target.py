"""Target files: a platform under evaluation, described in YAML, validated into a Target.

Schema (``targets/target.schema.json`` is exported from these models):

    name: mycloud                 # shown in reports
    standard: saia-aicloud-2025-04-29
    adapters: {<transport>: {...}}          # see adapters/config.py
    capabilities: {...}                     # declared features and thresholds, see settings.py
    evidence: {<item>: {verdict, reviewer, date, document, note}}
    waivers: {<item>: {reason, expires, approved_by}}
    evaluation: {laboratory, evaluator, approver, client, report_id, start, end, location}
    baseline: {drift_band, drift_bands: {<measurement or item>: fraction}}
    sandbox: {faults: [...], state: DIR}    # start the embedded sandbox

``${VAR}`` anywhere in a string takes the value from the environment; every
such value is a secret and is masked in all output. Every mistake is reported
as one line naming the file, the field path and the fix.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import os
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .catalog import DEFAULT_EDITION, Catalog
from .redaction import MASK, Redactor
from .settings import Capabilities, file_name, section_model
from .yamlfile import read_yaml

_VAR = re.compile(r"\$\{([^}]*)\}")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TargetFileError(ValueError):
    """A target file is wrong; the message is one line: file, field path, fix."""

    def __init__(self, message: str) -> None:
        # A key of the file may hold a newline or a control character: escape it, so that
        # the message stays one line.
        super().__init__("".join(c if c.isprintable() else repr(c)[1:-1] for c in message))


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


class EvaluationInfo(_Strict):
    """Who evaluates, for whom, and when: the laboratory block of the reports."""

    laboratory: str | None = Field(default=None, description="the evaluation laboratory")
    accreditation: str | None = Field(
        default=None, description="the laboratory's accreditation, e.g. CNAS L0000")
    evaluator: str | None = Field(default=None, description="who ran the evaluation")
    approver: str | None = Field(default=None, description="who approves (signs) the report")
    client: str | None = Field(default=None, description="who commissioned the evaluation")
    report_id: str | None = Field(default=None, description="the laboratory's report number")
    location: str | None = Field(default=None, description="where the evaluation took place")
    start: dt.date | None = Field(default=None, description="first day of the evaluation")
    end: dt.date | None = Field(default=None, description="last day of the evaluation")

    @model_validator(mode="after")
    def _end_after_start(self) -> EvaluationInfo:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}: swap them")
        return self


class BaselineSettings(_Strict):
    """How far a measurement may drift from the baseline run before reports flag it."""

    drift_band: float = Field(
        default=0.10, ge=0,
        description="relative change (0.10 = ±10 %) a measurement may move from the baseline")
    drift_bands: dict[str, float] = Field(
        default_factory=dict,
        description="band per measurement name or item id (measurement name wins)")

    @field_validator("drift_bands")
    @classmethod
    def _non_negative(cls, bands: dict[str, float]) -> dict[str, float]:
        for name, band in bands.items():
            if band < 0:
                raise ValueError(f"{name}: a band is a fraction ≥ 0, e.g. 0.1 for ±10 %")
        return bands

    def band_for(self, item_id: str, measurement: str) -> float:
        """The band of one measurement of one item."""
        return self.drift_bands.get(measurement, self.drift_bands.get(item_id, self.drift_band))


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
    capabilities: Capabilities = Field(
        default_factory=Capabilities,
        description="declared features and thresholds (pytest_sca/settings.py)")
    evidence: dict[str, EvidenceEntry] = Field(default_factory=dict)
    waivers: dict[str, Waiver] = Field(default_factory=dict)
    evaluation: EvaluationInfo = Field(
        default_factory=EvaluationInfo,
        description="laboratory, evaluator, client and dates, shown in every report")
    baseline: BaselineSettings = Field(
        default_factory=BaselineSettings,
        description="drift bands for the comparison with --sca-baseline")
    sandbox: SandboxOptions | None = None


@dataclass
class Target:
    """A validated target: what the plugin and the adapters work from."""

    name: str
    standard: str
    path: Path | None
    adapters: dict[str, BaseModel]
    #: The typed ``capabilities:`` section, defaults filled in (what checks read).
    settings: Capabilities
    evidence: dict[str, EvidenceEntry]
    waivers: dict[str, Waiver]
    sandbox: SandboxOptions | None
    redact: Redactor = field(default_factory=Redactor)
    fingerprint: str = ""
    evaluation: EvaluationInfo = field(default_factory=EvaluationInfo)
    drift: BaselineSettings = field(default_factory=BaselineSettings)


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
    if kind == "model_type":
        return "write a mapping of its fields (name: value)"
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def _step(annotation: Any, key: Any) -> Any:
    """The annotation of what ``key`` reaches inside a value of type ``annotation``."""
    model = section_model(annotation)
    if model is not None:
        for attribute, info in model.model_fields.items():
            if key == file_name(info, attribute):
                return info.annotation
        return None
    origin = get_origin(annotation)
    if origin in (list, dict):
        return get_args(annotation)[-1]
    for arg in get_args(annotation):  # X | None, Annotated[X, ...]
        stepped = _step(arg, key)
        if stepped is not None:
            return stepped
    return None


def _known_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names (as a file writes them) of the group at ``loc`` inside ``model``."""
    annotation: Any = model
    for key in loc:
        annotation = _step(annotation, key)
        if annotation is None:
            return []
    inner = section_model(annotation)
    if inner is None:
        return []
    return [file_name(info, attribute) for attribute, info in inner.model_fields.items()]


def _unknown_field_fix(model: type[BaseModel], loc: tuple[Any, ...], prefix: str) -> str:
    """Did you mean the nearest known field, else which fields there are."""
    known = _known_fields(model, loc[:-1])
    nearest = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if nearest:
        return f"did you mean {_path(prefix, (*loc[:-1], nearest[0]))}?"
    if known:
        return f"remove it or fix its spelling (known here: {', '.join(known)})"
    return "remove it or fix its spelling"


def _path(prefix: str, loc: tuple[Any, ...]) -> str:
    parts = [prefix] if prefix else []
    parts += [f"[{p}]" if isinstance(p, int) else str(p) for p in loc]
    return ".".join(parts).replace(".[", "[") or "top level"


def _field_loc(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """``loc`` without the names pydantic gives the members of a union (``verify.bool``)."""
    annotation: Any = model
    kept = []
    for key in loc:
        members = [a for a in get_args(annotation) if a is not type(None)]
        if (get_origin(annotation) in (Union, types.UnionType) and len(members) > 1
                and _step(annotation, key) is None):
            continue
        kept.append(key)
        annotation = _step(annotation, key)
    return tuple(kept)


def _validation_message(file: str, exc: ValidationError, model: type[BaseModel],
                        prefix: str = "") -> str:
    errors = exc.errors()
    error = errors[0]
    loc = _field_loc(model, tuple(error["loc"]))
    where = _path(prefix, loc)
    problem = {"missing": "is required", "extra_forbidden": "is not a known field"}.get(
        error["type"], "is invalid")
    if error["type"] == "extra_forbidden":
        fix = _unknown_field_fix(model, loc, prefix)
    else:  # a value no member of a union accepts: say what each would take
        fixes = [_fix_for(e, where) for e in errors
                 if _field_loc(model, tuple(e["loc"])) == loc]
        fix = ", or ".join(dict.fromkeys(fixes))
    return f"{file}: {where} {problem}: {fix}"


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
        raise TargetFileError(_validation_message(file, exc, TargetModel)) from None
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
                _validation_message(file, exc, config_model, f"adapters.{transport}")) from None
    for section_name, entries in (("evidence", model.evidence), ("waivers", model.waivers)):
        for item_id in entries:
            if item_id not in catalog:
                raise TargetFileError(f"{file}: {section_name}.{item_id}: no such item in "
                                      f"{catalog.edition.id}: use an item id such as 10.2.a")
    return Target(
        name=model.name, standard=model.standard, path=path, adapters=adapters,
        settings=model.capabilities,
        evidence=dict(model.evidence),
        waivers=dict(model.waivers), sandbox=model.sandbox, redact=Redactor(secrets),
        fingerprint=_fingerprint(raw), evaluation=model.evaluation, drift=model.baseline,
    )


def load_target(path: Path | str, catalog: Catalog,
                environ: Mapping[str, str] | None = None) -> Target:
    """Read and validate a target file."""
    file = Path(path)
    raw = read_yaml(file, TargetFileError, "target file",
                    "give the path of a YAML target file, or `sandbox`")
    return parse_target(raw, str(file), catalog, environ, file.resolve())


def file_fingerprint(path: Path | str) -> str:
    """The fingerprint of a target file as a run computes it (no variable is expanded)."""
    file = Path(path)
    raw = read_yaml(file, TargetFileError, "target file", "give the path of a YAML target file")
    return _fingerprint(raw)


def describe_secret_free(target: Target) -> dict[str, Any]:
    """The target's identity for reports: name, edition, fingerprint, transports. No secrets."""
    return {
        "name": target.name,
        "standard": target.standard,
        "fingerprint": target.fingerprint,
        "adapters": sorted(target.adapters),
        "path": str(target.path) if target.path else None,
        "mask": MASK,
        "evaluation": target.evaluation.model_dump(mode="json"),
    }


def export_schema() -> dict[str, Any]:
    """The JSON Schema of target files: each built-in transport's settings, the capabilities."""
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
