"""The declarative mapping: how each platform operation is spelt on the wire.

The reference API (docs/platform-api.md) is only the default table; a vendor
whose routes and field names differ writes ``adapters.platform.mapping`` in
the target file (docs/mapping.md) and the platform adapter follows it through
the same code path. Nothing here touches the network.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..capabilities import Unsupported


class MappingError(ValueError):
    """The mapping in the target file is invalid; the message is one line naming the field."""


class OperationNotMapped(Unsupported):
    """The target maps no route for an operation and asked for no reference fallback.

    The target gives no means to check what needs it: the verdict is ``not_assessed``.
    """


@dataclass(frozen=True)
class OperationSpec:
    """What the suite means by one operation: its parameters, what it returns, and its
    route on the reference API (a mapping entry, validated like a vendor's)."""

    params: tuple[str, ...]
    returns: Literal["object", "list", "text", "none"]
    default: Mapping[str, Any]


#: The data file of the reference API: every operation's signature and reference route.
REFERENCE_API = Path(__file__).with_name("platform") / "reference-api.yaml"
_RETURNS = ("object", "list", "text", "none")


def load_operations(path: Path = REFERENCE_API) -> dict[str, OperationSpec]:
    """The operations of the reference API file: name → signature and route.

    The file is part of the package; a mistake in it is a bug, reported with its
    location like a mapping error.
    """
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise MappingError(f"{path.name}: expected operation name → entry")
    operations: dict[str, OperationSpec] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise MappingError(f"{path.name}: {name}: expected a mapping")
        route = dict(entry)
        params, returns = route.pop("params", None), route.pop("returns", None)
        if not (isinstance(params, list) and all(isinstance(p, str) for p in params)):
            raise MappingError(f"{path.name}: {name}.params: expected a list of names")
        if returns not in _RETURNS:
            raise MappingError(f"{path.name}: {name}.returns: use one of {', '.join(_RETURNS)}")
        operations[name] = OperationSpec(tuple(params), returns, route)
    return operations


#: operation name → parameters, what it returns, and its reference route (the default mapping).
OPERATIONS: dict[str, OperationSpec] = load_operations()

_WHOLE_PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}$")
_POINTER = re.compile(r"^(/([^~/]|~[01])*)*$")
_FORMATTER = string.Formatter()


def check_pointer(value: str) -> str:
    """Return ``value`` if it is an RFC 6901 JSON pointer, else raise ValueError."""
    if not _POINTER.match(value):
        raise ValueError(
            f"{value!r} is not a JSON pointer: use '' or '/a/b' (escape ~ as ~0, / as ~1)"
        )
    return value


_MISSING = object()


def resolve_pointer(document: Any, pointer: str, default: Any = _MISSING) -> Any:
    """Resolve an RFC 6901 JSON pointer; return ``default`` (or raise KeyError) if absent."""
    if pointer == "":
        return document
    current = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        elif default is _MISSING:
            raise KeyError(pointer)
        else:
            return default
    return current


class Operation(BaseModel):
    """How one operation is spelt: route, request templates, and where the answer's fields are.

    ``body`` and ``query`` values are templates: a string that is exactly
    ``"{name}"`` is replaced by the parameter's value (any JSON type; the key is
    left out when the value is absent), other strings are formatted, and
    ``{resources.accelerators}`` reaches into a mapping parameter.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str = Field(description="route template below the base URL, e.g. /v2/workloads/{job_id}")
    body: Any = Field(default=None, description="JSON template of the request body")
    query: dict[str, Any] = Field(default_factory=dict, description="query parameter templates")
    format: Literal["json", "text", "none"] = Field(default="json", description="answer kind")
    result: str = Field(default="", description="JSON pointer of the object in the answer")
    items: str | None = Field(default=None, description="JSON pointer of the list in the answer")
    response: dict[str, Any] | None = Field(
        default=None,
        description="reference field → JSON pointer inside the object / each item, "
        "or a mapping of the same kind for a nested object",
    )
    keep_unmapped: bool = Field(
        default=False, description="keep the answer's own fields beside the mapped ones"
    )
    values: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="reference field → {vendor value: reference value}"
    )
    param_values: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="parameter → {reference value: vendor value}"
    )

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _path_is_absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"path {value!r} must start with '/'")
        return value

    @field_validator("result", "items")
    @classmethod
    def _pointer(cls, value: str | None) -> str | None:
        return None if value is None else check_pointer(value)

    @field_validator("response")
    @classmethod
    def _pointers(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _check_response(value, "")
        return value

    def placeholders(self) -> set[str]:
        """Every parameter name the templates use (first segment of dotted names)."""
        found: set[str] = set()
        for template in (self.path, self.body, self.query):
            _collect_placeholders(template, found)
        return {name.split(".")[0] for name in found}


def _check_response(response: Mapping[str, Any], prefix: str) -> None:
    for field, pointer in response.items():
        if isinstance(pointer, Mapping):
            _check_response(pointer, f"{prefix}{field}.")
            continue
        try:
            if not isinstance(pointer, str):
                raise ValueError(f"{pointer!r} is neither a JSON pointer nor a mapping")
            check_pointer(pointer)
        except ValueError as exc:
            raise ValueError(f"field {prefix}{field!r}: {exc}") from None


def _collect_placeholders(template: Any, found: set[str]) -> None:
    if isinstance(template, str):
        for _, name, spec, conversion in _FORMATTER.parse(template):
            if name is None:
                continue
            if not name or spec or conversion or not re.fullmatch(r"[A-Za-z_][\w.]*", name):
                raise ValueError(f"placeholder {{{name}}} in {template!r} must be a plain name")
            found.add(name)
    elif isinstance(template, Mapping):
        for item in template.values():
            _collect_placeholders(item, found)
    elif isinstance(template, list):
        for item in template:
            _collect_placeholders(item, found)


@dataclass(frozen=True)
class Request:
    """A rendered request: what to send for one call."""

    method: str
    path: str
    query: dict[str, Any]
    body: Any


_ABSENT = object()


class OperationTable:
    """The operations of one target: its mapping over the reference routes."""

    def __init__(self, operations: Mapping[str, Operation | None]) -> None:
        self._operations = dict(operations)

    def get(self, name: str) -> Operation:
        """The mapped operation; :class:`OperationNotMapped` if the target has none."""
        if name not in OPERATIONS:
            raise KeyError(f"unknown operation {name!r}")
        operation = self._operations.get(name)
        if operation is None:
            raise OperationNotMapped(
                f"the target's adapters.platform.mapping maps no route for {name!r}"
            )
        return operation

    def render(self, name: str, params: Mapping[str, Any]) -> Request:
        """Fill the templates of ``name`` with ``params``."""
        operation = self.get(name)
        if operation.param_values:
            params = {
                key: _translate(value, operation.param_values.get(key))
                for key, value in params.items()
            }
        path = _render_path(operation.path, params)
        query = _render_template(operation.query, params)
        body = _render_template(operation.body, params) if operation.body is not None else None
        return Request(
            operation.method,
            path,
            query if isinstance(query, dict) else {},
            None if body is _ABSENT else body,
        )

    def extract(self, name: str, answer: Any) -> Any:
        """Turn the answer of ``name`` into the reference shape; KeyError if a pointer misses."""
        operation = self.get(name)
        if operation.format != "json":
            return answer
        if operation.items is not None:
            listed = resolve_pointer(answer, operation.items)
            if not isinstance(listed, list):
                raise KeyError(operation.items)
            return [_reshape(operation, item) for item in listed]
        return _reshape(operation, resolve_pointer(answer, operation.result))


def _reshape(operation: Operation, document: Any) -> Any:
    if operation.response is None:
        shaped = document
    else:
        kept = dict(document) if operation.keep_unmapped and isinstance(document, dict) else {}
        shaped = {**kept, **_pick(document, operation.response)}
    if operation.values and isinstance(shaped, dict):
        shaped = dict(shaped)
        for field, translation in operation.values.items():
            if field in shaped:
                shaped[field] = _translate(shaped[field], translation)
    return shaped


def _pick(document: Any, response: Mapping[str, Any]) -> dict[str, Any]:
    return {
        field: _pick(document, pointer)
        if isinstance(pointer, Mapping)
        else resolve_pointer(document, pointer, default=None)
        for field, pointer in response.items()
    }


def _translate(value: Any, translation: Mapping[str, Any] | None) -> Any:
    if translation and isinstance(value, (str, int, float, bool)) and str(value) in translation:
        return translation[str(value)]
    return value


def _lookup(params: Mapping[str, Any], dotted: str) -> Any:
    current: Any = params
    for part in dotted.split("."):
        if isinstance(current, Mapping) and current.get(part) is not None:
            current = current[part]
        else:
            return _ABSENT
    return current


def _render_path(template: str, params: Mapping[str, Any]) -> str:
    pieces: list[str] = []
    for literal, name, _, _ in _FORMATTER.parse(template):
        pieces.append(literal)
        if name is not None:
            value = _lookup(params, name)
            if value is _ABSENT:
                raise ValueError(f"path parameter {name!r} is missing")
            pieces.append(quote(str(value), safe=""))
    return "".join(pieces)


def _render_template(template: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(template, str):
        whole = _WHOLE_PLACEHOLDER.match(template)
        if whole:
            return _lookup(params, whole.group(1))
        pieces: list[str] = []
        for literal, name, _, _ in _FORMATTER.parse(template):
            pieces.append(literal)
            if name is not None:
                value = _lookup(params, name)
                pieces.append("" if value is _ABSENT else str(value))
        return "".join(pieces)
    if isinstance(template, Mapping):
        rendered = {key: _render_template(item, params) for key, item in template.items()}
        return {key: item for key, item in rendered.items() if item is not _ABSENT}
    if isinstance(template, list):
        rendered_items = [_render_template(item, params) for item in template]
        return [item for item in rendered_items if item is not _ABSENT]
    return template


def _at(*parts: object) -> str:
    """A dotted location, empty parts left out."""
    return ".".join(str(part) for part in parts if part != "")


def _prefixed(location: str, message: str) -> str:
    return f"{location}: {message}" if location else message


def _one_line(error: ValidationError, where: str) -> str:
    first = error.errors()[0]
    location = _at(where, *first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    more = len(error.errors()) - 1
    return f"{location}: {message}" + (f" (and {more} more)" if more else "")


def validate_operation(name: str, raw: Any, where: str) -> Operation:
    """Validate one operation entry of a mapping; :class:`MappingError` in one line if bad."""
    try:
        operation = Operation.model_validate(raw)
    except ValidationError as exc:
        raise MappingError(_one_line(exc, _at(where, name))) from None
    except ValueError as exc:
        raise MappingError(f"{_at(where, name)}: {exc}") from None
    known = OPERATIONS[name].params
    try:
        unknown = sorted(operation.placeholders() - set(known))
    except ValueError as exc:
        raise MappingError(f"{_at(where, name)}: {exc}") from None
    if unknown:
        raise MappingError(
            f"{_at(where, name)}: placeholder {{{unknown[0]}}} is not a parameter of {name} "
            f"(parameters: {', '.join(known) or 'none'})"
        )
    expects_list = OPERATIONS[name].returns == "list"
    if expects_list and operation.format == "json" and operation.items is None:
        raise MappingError(
            f"{_at(where, name)}: a list operation needs 'items', the list's pointer"
        )
    return operation


def build_table(
    mapping: Mapping[str, Any] | None,
    *,
    fallback: Literal["reference", "none"] = "reference",
    where: str = "adapters.platform.mapping",
) -> OperationTable:
    """The operation table of a target: its mapping, and the reference routes for the rest.

    With ``fallback="none"`` an operation the mapping leaves out is not available
    at all (:class:`OperationNotMapped`) instead of falling back to the reference route.
    """
    mapping = mapping or {}
    if not isinstance(mapping, Mapping):
        raise MappingError(_prefixed(where, "expected a mapping of operation name → route"))
    unknown = sorted(set(mapping) - set(OPERATIONS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], OPERATIONS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise MappingError(
            _prefixed(
                where,
                f"unknown operation {unknown[0]!r}{hint}; known operations are "
                f"{', '.join(sorted(OPERATIONS))}",
            )
        )
    operations: dict[str, Operation | None] = {}
    for name, spec in OPERATIONS.items():
        if name in mapping and mapping[name] is None:
            operations[name] = None
        elif name in mapping:
            operations[name] = validate_operation(name, mapping[name], where)
        elif fallback == "reference":
            operations[name] = validate_operation(name, dict(spec.default), "reference")
        else:
            operations[name] = None
    return OperationTable(operations)


def validate_mapping(mapping: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """Check a raw mapping (for the config model); return it unchanged or raise MappingError.

    Locations in the message are relative to the mapping (``jobs.get.response``):
    the config model's error already names ``adapters.platform.mapping``.
    """
    build_table(mapping, where="")
    return mapping
