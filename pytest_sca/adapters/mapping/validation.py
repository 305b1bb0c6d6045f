"""Loading the reference operations and validating a mapping: one-line errors naming the field.

The reference API's operations (``platform/reference-api.yaml``) are the signatures a
mapping may use; a target's mapping replaces their routes by name. Everything that can
be known before a check runs is checked here, when the target file is loaded: unknown
operations, fields, filters, pointers, placeholders, step names, and parameters a
mapping would silently drop.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from .engine import ENGINE_NAMES, OperationTable
from .model import Operation, RequestSpec, expression_of, locator_of
from .pointers import is_pointer
from .templates import Expression, Template, TemplateFailure


class MappingError(ValueError):
    """The mapping in the target file is invalid; the message is one line naming the field."""


@dataclass(frozen=True)
class OperationSpec:
    """What the suite means by one operation: its parameters, what it returns, and its
    route on the reference API (a mapping entry, validated like a vendor's)."""

    params: tuple[str, ...]
    returns: Literal["object", "list", "text", "none"]
    default: Mapping[str, Any]


#: The data file of the reference API: every operation's signature and reference route.
REFERENCE_API = Path(__file__).parent.parent / "platform" / "reference-api.yaml"
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


def _at(*parts: object) -> str:
    """A dotted location, empty parts left out."""
    return ".".join(str(part) for part in parts if part != "")


def _prefixed(location: str, message: str) -> str:
    return f"{location}: {message}" if location else message


def _one_line(error: ValidationError, where: str) -> str:
    first = error.errors()[0]
    location = _at(where, *first["loc"])
    message = first["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    more = len(error.errors()) - 1
    return f"{location}: {message}" + (f" (and {more} more)" if more else "")


class _Scope:
    """Which names an expression at one place of an operation may read."""

    def __init__(self, name: str, params: Iterable[str], where: str) -> None:
        self.name = name
        self.params = tuple(params)
        self.where = where
        self.used: set[str] = set()

    def check(self, expression: Expression, field: str, extra: Iterable[str] = (),
              steps: Iterable[str] | None = None) -> None:
        allowed = set(self.params) | {"const"} | set(extra)
        self.used |= expression.names & set(self.params)
        unknown = sorted(expression.names - allowed)
        if unknown:
            bad = unknown[0]
            if bad in ENGINE_NAMES:
                raise MappingError(
                    f"{self.where}: {field}: {{{bad}}} means nothing here ({expression.source!r}); "
                    f"here a template may read {', '.join(sorted(allowed))}")
            raise MappingError(
                f"{self.where}: placeholder {{{bad}}} is not a parameter of {self.name} "
                f"(parameters: {', '.join(self.params) or 'none'})")
        if steps is not None:
            missing = sorted(expression.step_refs - set(steps))
            if missing:
                known = ", ".join(steps) or "none"
                raise MappingError(
                    f"{self.where}: {field}: {{{expression.source}}} reads step {missing[0]!r}, "
                    f"which has not run there (named steps before it: {known})")

    def template(self, template: Template, field: str, extra: Iterable[str] = (),
                 steps: Iterable[str] | None = None) -> None:
        for expression in template.expressions():
            self.check(expression, field, extra, steps)


_STEP_RESULTS = ("steps", "headers", "statuses")


def _check_request(scope: _Scope, spec: RequestSpec, label: str, extra: set[str],
                   before: list[str]) -> None:
    for field, template in spec.templates():
        scope.template(template, f"{label}{field}", extra, before)


def _check_names(name: str, operation: Operation, scope: _Scope) -> None:
    before: list[str] = []
    sequence = operation.sequence
    for index, step in enumerate(sequence):
        label = f"steps[{index}]." if operation.steps is not None else ""
        base = set(_STEP_RESULTS)
        local = base | ({"item", "index"} if step.for_each is not None else set())
        for key, extra in (("when", base), ("for_each", base),
                           ("until", local | {"answer", "status", "header"})):
            condition = getattr(step, key)
            if condition is not None:
                scope.check(expression_of(condition), f"{label}{key}", extra, before)
        _check_request(scope, step, label, local, before)
        if step.name:
            before.append(step.name)
        if step.compensate is not None:
            _check_request(scope, step.compensate, f"{label}compensate.", base, before)
    answers = set(_STEP_RESULTS) | {"answer"}
    for key in ("result", "items"):
        locator = getattr(operation, key)
        if locator is not None:
            found = locator_of(locator)
            if isinstance(found, Expression):
                scope.check(found, key, answers, before)
    if operation.pages is not None:
        for key in ("next", "total"):
            locator = getattr(operation.pages, key)
            paged = locator_of(locator) if locator is not None else None
            if isinstance(paged, Expression):
                scope.check(paged, f"pages.{key}", answers, before)
    if operation.response is not None:
        _check_response_names(scope, operation.response, "response", answers | {"item"}, before)
    for param, rule in operation.filter.items():
        if param not in scope.params:
            raise MappingError(
                f"{scope.where}: filter: {param!r} is not a parameter of {name} "
                f"(parameters: {', '.join(scope.params) or 'none'})")
        if "{" in rule:
            scope.check(expression_of(rule), f"filter.{param}", {"item", "value"}, [])


def _check_response_names(scope: _Scope, response: Mapping[str, Any], where: str,
                          extra: set[str], steps: list[str]) -> None:
    for field, spec in response.items():
        if isinstance(spec, Mapping) and "each" in spec:
            found = locator_of(str(spec["each"]))
            if isinstance(found, Expression):
                scope.check(found, f"{where}.{field}", extra, steps)
            if spec.get("fields"):
                _check_response_names(scope, spec["fields"], f"{where}.{field}", extra, steps)
        elif isinstance(spec, Mapping):
            _check_response_names(scope, spec, f"{where}.{field}", extra, steps)
        elif isinstance(spec, str) and not is_pointer(spec):
            scope.template(Template(spec), f"{where}.{field}", extra, steps)


def validate_operation(name: str, raw: Any, where: str) -> Operation:
    """Validate one operation entry of a mapping; :class:`MappingError` in one line if bad."""
    location = _at(where, name)
    try:
        operation = Operation.model_validate(raw)
    except ValidationError as exc:
        raise MappingError(_one_line(exc, location)) from None
    except (ValueError, TemplateFailure) as exc:
        raise MappingError(f"{location}: {exc}") from None
    spec = OPERATIONS[name]
    scope = _Scope(name, spec.params, location)
    try:
        _check_names(name, operation, scope)
    except TemplateFailure as exc:
        raise MappingError(f"{location}: {exc}") from None
    unknown_ignored = sorted(set(operation.ignore) - set(spec.params))
    if unknown_ignored:
        raise MappingError(f"{location}.ignore: {unknown_ignored[0]!r} is not a parameter of "
                           f"{name} (parameters: {', '.join(spec.params) or 'none'})")
    dropped = [param for param in spec.params
               if param not in scope.used and param not in operation.filter
               and param not in operation.ignore]
    if dropped:
        param = dropped[0]
        fix = (f"filter it after listing (filter: {{{param}: field}})"
               if spec.returns == "list" else f"send it ({{{param}}} in a template)")
        raise MappingError(
            f"{location}: parameter {param!r} is neither sent nor filtered: {fix}, or list it "
            "under ignore if the vendor cannot honour it")
    if spec.returns == "list" and operation.answer_format == "json" and operation.items is None:
        raise MappingError(f"{location}: a list operation needs 'items', the list's pointer")
    if operation.pages is not None and spec.returns != "list":
        raise MappingError(f"{location}.pages: {name} does not return a list")
    if (operation.filter or operation.sort) and spec.returns != "list":
        raise MappingError(f"{location}: filter and sort apply to lists; {name} returns "
                           f"{spec.returns}")
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
    for name in OPERATIONS:
        if name in mapping and mapping[name] is None:
            operations[name] = None
        elif name in mapping:
            operations[name] = validate_operation(name, mapping[name], where)
        elif fallback == "reference":
            operations[name] = _reference(name)
        else:
            operations[name] = None
    return OperationTable(operations, OPERATIONS)


_REFERENCE_CACHE: dict[str, Operation] = {}


def _reference(name: str) -> Operation:
    if name not in _REFERENCE_CACHE:
        _REFERENCE_CACHE[name] = validate_operation(name, dict(OPERATIONS[name].default),
                                                    "reference")
    return _REFERENCE_CACHE[name]


def validate_mapping(mapping: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """Check a raw mapping (for the config model); return it unchanged or raise MappingError.

    Locations in the message are relative to the mapping (``jobs.get.response``):
    the config model's error already names ``adapters.platform.mapping``.
    """
    build_table(mapping, where="")
    return mapping
