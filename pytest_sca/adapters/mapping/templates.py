"""Templates of a mapping: JSON values whose strings hold ``{expressions}``.

A string of a request template (``path``, ``query``, ``body``, ``headers``) or of a
condition holds literal text and expressions in single braces: ``"{name}"``,
``"run-{name}"``, ``"{command | shell_quote}"``, ``"{labels['sca-run']}"``. ``{{``
and ``}}`` are literal braces. Each expression is evaluated by Jinja2's immutable
sandbox (``jinja2.sandbox.ImmutableSandboxedEnvironment``): a mapping file can
compute, never reach Python objects or change the parameters it is given.

- A string that is exactly one expression keeps the value's JSON type (a list stays
  a list); when the value is absent or ``null`` the key (or list item) is left out.
- Inside text, ``null`` is the empty string and a list or object is an error: say
  how it becomes text (``| join(' ')``, ``| shell_quote``, ``| to_json``).
- In a ``path`` every value is URL-escaped; a missing one is an error.

The filters beside Jinja2's own are :data:`FILTERS` (documented in docs/mapping.md).
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from jinja2 import ChainableUndefined, Undefined, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

#: A rendered value that is not there: its key (or list item) is left out.
ABSENT: Any = object()


class TemplateFailure(ValueError):
    """A template could not be compiled (at load time) or rendered (at run time)."""


# -- filters ------------------------------------------------------------------------------

_UNITS: dict[str, tuple[str, float]] = {
    **{name: ("bytes", 1.0) for name in ("B", "bytes")},
    "KB": ("bytes", 1e3), "MB": ("bytes", 1e6), "GB": ("bytes", 1e9), "TB": ("bytes", 1e12),
    "KiB": ("bytes", 2.0**10), "MiB": ("bytes", 2.0**20), "GiB": ("bytes", 2.0**30),
    "TiB": ("bytes", 2.0**40),
    **{name: ("cpu", 1.0) for name in ("cores", "cpu")},
    **{name: ("cpu", 1e-3) for name in ("millicores", "m")},
    "ns": ("time", 1e-9), "us": ("time", 1e-6), "ms": ("time", 1e-3), "s": ("time", 1.0),
    "min": ("time", 60.0), "h": ("time", 3600.0), "d": ("time", 86400.0),
}
#: Kubernetes-style quantity suffixes (``16Gi``, ``500m``, ``2k``).
_QUANTITY_SUFFIXES: dict[str, float] = {
    "": 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50,
}
_QUANTITY = re.compile(r"^\s*([+-]?[0-9.]+(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)\s*$")
_EPOCH_UNITS = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


def _number(value: float) -> int | float:
    """An int when the value is whole (bytes, millicores), else the float."""
    if isinstance(value, float) and math.isfinite(value) and abs(value - round(value)) < 1e-9:
        return int(round(value))
    return value


def _missing(value: Any) -> bool:
    return value is None or isinstance(value, Undefined)


def unit(value: Any, source: str, target: str) -> Any:
    """Convert a number between units of one kind: ``{resources.memory_gib | unit('GiB',
    'B')}``. Kinds: bytes (B, KB…TB, KiB…TiB), cpu (cores, millicores/m), time (ns…d)."""
    if _missing(value):
        return None
    try:
        kind_from, factor_from = _UNITS[source]
        kind_to, factor_to = _UNITS[target]
    except KeyError as exc:
        raise TemplateFailure(f"unit: unknown unit {exc.args[0]!r}; known units are "
                              f"{', '.join(_UNITS)}") from None
    if kind_from != kind_to:
        raise TemplateFailure(f"unit: cannot convert {source} ({kind_from}) to {target} "
                              f"({kind_to})")
    return _number(float(value) * factor_from / factor_to)


def quantity(value: Any, target: str | None = None) -> Any:
    """A Kubernetes-style quantity (``16Gi``, ``500m``, ``2``) as a number, in base units or
    in ``target`` (``{item.memory | quantity('GiB')}``)."""
    if _missing(value):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        match = _QUANTITY.match(str(value))
        if not match or match.group(2) not in _QUANTITY_SUFFIXES:
            raise TemplateFailure(f"quantity: {value!r} is not a quantity such as 16Gi or 500m")
        number = float(match.group(1)) * _QUANTITY_SUFFIXES[match.group(2)]
    if target is None:
        return _number(number)
    return _number(number / _UNITS[target][1])


def rfc3339(value: Any, epoch_unit: str = "s") -> Any:
    """Epoch seconds (or ``'ms'``, ``'us'``, ``'ns'``) as an RFC 3339 UTC timestamp; a string
    that is already a timestamp passes unchanged, ``null`` stays ``null``."""
    if _missing(value) or value == "":
        return None
    if isinstance(value, str) and not re.fullmatch(r"[+-]?\d+(\.\d+)?", value):
        return value
    if epoch_unit not in _EPOCH_UNITS:
        raise TemplateFailure(f"rfc3339: unit {epoch_unit!r} is not one of s, ms, us, ns")
    seconds = float(value) / _EPOCH_UNITS[epoch_unit]
    moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def epoch(value: Any, epoch_unit: str = "s") -> Any:
    """An RFC 3339 timestamp as epoch seconds (or ``'ms'``, ``'us'``, ``'ns'``); a number
    passes unchanged, ``null`` stays ``null``."""
    if _missing(value) or value == "":
        return None
    if isinstance(value, (int, float)):
        return value
    if epoch_unit not in _EPOCH_UNITS:
        raise TemplateFailure(f"epoch: unit {epoch_unit!r} is not one of s, ms, us, ns")
    text = str(value).strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Python's parser takes at most microseconds; Kubernetes and Go write nanoseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TemplateFailure(f"epoch: {value!r} is not an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return _number(moment.timestamp() * _EPOCH_UNITS[epoch_unit])


def shell_quote(value: Any) -> Any:
    """An argv list as one POSIX shell string (``shlex.join``); a string is quoted as one
    word."""
    if _missing(value):
        return None
    if isinstance(value, (list, tuple)):
        return shlex.join(str(part) for part in value)
    return shlex.quote(str(value))


def merge(value: Any, *others: Any) -> dict[str, Any]:
    """Objects merged, later keys winning; ``null`` counts as ``{}``:
    ``{labels | merge({'team': 'ml'})}``."""
    merged: dict[str, Any] = {}
    for part in (value, *others):
        if _missing(part):
            continue
        if not isinstance(part, Mapping):
            raise TemplateFailure(f"merge: {part!r} is not an object")
        merged.update(part)
    return merged


def omit(value: Any, *keys: str) -> Any:
    """The object without ``keys``."""
    if _missing(value):
        return None
    return {key: item for key, item in dict(value).items() if key not in keys}


def pick(value: Any, *keys: str) -> Any:
    """The object with only ``keys`` (those present)."""
    if _missing(value):
        return None
    return {key: item for key, item in dict(value).items() if key in keys}


def dict_to_list(value: Any, key: str = "key", val: str = "value") -> Any:
    """``{a: 1}`` → ``[{key: a, value: 1}]`` (tags, environment lists)."""
    if _missing(value):
        return None
    return [{key: name, val: item} for name, item in dict(value).items()]


def list_to_dict(value: Any, key: str = "key", val: str = "value") -> Any:
    """``[{key: a, value: 1}]`` → ``{a: 1}``; ``'a=1'`` strings are split at ``=``."""
    if _missing(value):
        return None
    result: dict[str, Any] = {}
    for entry in value:
        if isinstance(entry, Mapping):
            result[str(entry.get(key))] = entry.get(val)
        else:
            name, _, item = str(entry).partition("=")
            result[name] = item
    return result


def compact(value: Any) -> Any:
    """The object (or list) without its ``null`` values: ``{ {'a': x, 'b': none} | compact}``."""
    if _missing(value):
        return None
    if isinstance(value, Mapping):
        return {key: item for key, item in value.items() if not _missing(item)}
    return [item for item in value if not _missing(item)]


def to_json(value: Any) -> Any:
    """The value as compact JSON text (keys kept in order)."""
    if isinstance(value, Undefined):
        return None
    return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)


def from_json(value: Any, fallback: Any = None) -> Any:
    """JSON text parsed; ``fallback`` when the text is empty or not JSON."""
    if _missing(value) or value == "":
        return fallback
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return fallback


def translate(value: Any, table: Mapping[str, Any], fallback: Any = ABSENT) -> Any:
    """Look ``value`` up in ``table``; unknown values pass unchanged (or give ``fallback``)."""
    if _missing(value):
        return None
    key = value if isinstance(value, str) else json.dumps(value)
    if key in table:
        return table[key]
    return value if fallback is ABSENT else fallback


def default(value: Any, fallback: Any = "", boolean: bool = False) -> Any:
    """``fallback`` when the value is absent or ``null`` (or falsy, with ``boolean=true``)."""
    if _missing(value) or (boolean and not value):
        return fallback
    return value


def split(value: Any, separator: str | None = None, limit: int = -1) -> Any:
    """Text split at ``separator`` (whitespace by default)."""
    if _missing(value):
        return None
    return str(value).split(separator, limit)


def b64encode(value: Any) -> Any:
    """Text as base64 (UTF-8)."""
    if _missing(value):
        return None
    data = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def b64decode(value: Any) -> Any:
    """Base64 as text (UTF-8)."""
    if _missing(value):
        return None
    return base64.b64decode(str(value)).decode("utf-8")


def label_selector(value: Any) -> Any:
    """``'k=v,k2=v2'`` (or ``'k'``) as an object of required labels (``null`` for a bare
    key: any value)."""
    if _missing(value) or value == "":
        return None
    selector: dict[str, Any] = {}
    for part in str(value).split(","):
        name, sep, wanted = part.strip().partition("=")
        selector[name.strip()] = wanted.strip() if sep else None
    return selector


def _unit_alias(source: str, target: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        return unit(value, source, target)

    convert.__doc__ = f"``unit('{source}', '{target}')``."
    return convert


#: The mapping's own filters, beside Jinja2's built-in ones (join, first, int, lower,
#: replace, map, selectattr…). Each is documented in docs/mapping.md.
FILTERS: dict[str, Callable[..., Any]] = {
    "shell_quote": shell_quote,
    "merge": merge,
    "omit": omit,
    "pick": pick,
    "compact": compact,
    "dict_to_list": dict_to_list,
    "list_to_dict": list_to_dict,
    "to_json": to_json,
    "tojson": to_json,
    "from_json": from_json,
    "translate": translate,
    "default": default,
    "d": default,
    "split": split,
    "b64encode": b64encode,
    "b64decode": b64decode,
    "unit": unit,
    "quantity": quantity,
    "gib_to_bytes": _unit_alias("GiB", "B"),
    "bytes_to_gib": _unit_alias("B", "GiB"),
    "gib_to_mib": _unit_alias("GiB", "MiB"),
    "mib_to_gib": _unit_alias("MiB", "GiB"),
    "cores_to_millicores": _unit_alias("cores", "millicores"),
    "millicores_to_cores": _unit_alias("millicores", "cores"),
    "rfc3339": rfc3339,
    "epoch": epoch,
    "label_selector": label_selector,
}


# -- the sandbox --------------------------------------------------------------------------


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox where ``a.b`` on an object is its key ``b`` (never a dict
    method such as ``items``), so that reference field names can be anything."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            if attribute in obj:
                return obj[attribute]
            return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


_ENV = _Sandbox(undefined=ChainableUndefined, autoescape=False)
_ENV.filters.update(FILTERS)


def _plain(value: Any) -> Any:
    """A rendered value as plain JSON data (``ABSENT`` for undefined)."""
    if isinstance(value, Undefined):
        return ABSENT
    if isinstance(value, Markup):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        plain = {str(key): _plain(item) for key, item in value.items()}
        return {key: item for key, item in plain.items() if item is not ABSENT}
    if isinstance(value, (list, tuple, Iterator)) or (
        isinstance(value, Iterable) and not isinstance(value, (bytes, bytearray))
    ):
        return [item for item in (_plain(i) for i in value) if item is not ABSENT]
    return value


# -- compiled templates -------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """One ``{...}`` of a template: its source, the names it reads, the steps it refers to."""

    source: str
    names: frozenset[str]
    step_refs: frozenset[str]
    _call: Callable[..., Any] = field(repr=False, compare=False)

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """The value as plain JSON data, ``ABSENT`` when undefined or ``null``."""
        try:
            value = _plain(self._call(**context))
        except TemplateFailure as exc:
            raise TemplateFailure(f"{{{self.source}}}: {exc}") from None
        except (TemplateError, SecurityError, TypeError, ValueError, KeyError,
                AttributeError, ArithmeticError) as exc:
            raise TemplateFailure(
                f"{{{self.source}}} failed: {type(exc).__name__}: {exc}") from None
        return ABSENT if value is None else value


def compile_expression(source: str, where: str = "") -> Expression:
    """Compile one expression (the inside of ``{...}``); :class:`TemplateFailure` if bad."""
    text = source.strip()
    if not text:
        raise TemplateFailure(f"empty placeholder {{}} in {where!r}")
    try:
        tree = _ENV.parse("{{ " + text + " }}")
        names = frozenset(find_undeclared_variables(tree))
        call = _ENV.compile_expression(text, undefined_to_none=False)
    except TemplateError as exc:
        message = exc.message or type(exc).__name__
        raise TemplateFailure(
            f"placeholder {{{text}}} in {where!r} is not a valid expression: {message}"
        ) from None
    return Expression(text, names, frozenset(_step_refs(tree)), call)


def _step_refs(tree: nodes.Node) -> Iterator[str]:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        inner = getattr(node, "node", None)
        if isinstance(inner, nodes.Name) and inner.name in ("steps", "headers", "statuses"):
            if isinstance(node, nodes.Getattr):
                yield str(node.attr)
            else:
                arg = getattr(node, "arg", None)
                if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                    yield arg.value


def split_text(text: str) -> list[str | Expression]:
    """Literal pieces and expressions of a template string, in order."""
    return list(_split_cached(text))


@functools.lru_cache(maxsize=4096)
def _split_cached(text: str) -> tuple[str | Expression, ...]:
    pieces: list[str | Expression] = []
    literal: list[str] = []
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char == "{" and text.startswith("{{", index):
            literal.append("{")
            index += 2
        elif char == "}" and text.startswith("}}", index):
            literal.append("}")
            index += 2
        elif char == "}":
            raise TemplateFailure(f"single '}}' in {text!r}: write '}}}}' for a literal brace")
        elif char == "{":
            end = _closing_brace(text, index)
            if literal:
                pieces.append("".join(literal))
                literal = []
            pieces.append(compile_expression(text[index + 1:end], text))
            index = end + 1
        else:
            literal.append(char)
            index += 1
    if literal:
        pieces.append("".join(literal))
    return tuple(pieces)


def _closing_brace(text: str, start: int) -> int:
    """The index of the ``}`` that closes the ``{`` at ``start`` (brackets and quotes
    inside the expression are balanced)."""
    depth, index, quote_char = 0, start + 1, ""
    while index < len(text):
        char = text[index]
        if quote_char:
            if char == "\\":
                index += 1
            elif char == quote_char:
                quote_char = ""
        elif char in "'\"":
            quote_char = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                if char == "}":
                    return index
                break
            depth -= 1
        index += 1
    raise TemplateFailure(f"unclosed '{{' in {text!r}: write '{{{{' for a literal brace")


class Template:
    """A JSON value whose strings may hold expressions, compiled once at load time."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self._compiled = _compile(raw)

    def expressions(self) -> Iterator[Expression]:
        """Every expression of the template."""
        yield from _expressions(self._compiled)

    def names(self) -> set[str]:
        """The names the template reads (parameters, ``steps``, ``const``…)."""
        return {name for expression in self.expressions() for name in expression.names}

    def render(self, context: Mapping[str, Any]) -> Any:
        """The JSON value; ``ABSENT`` when the whole template is one absent value."""
        return _render(self._compiled, context)


@dataclass(frozen=True)
class _Text:
    pieces: tuple[str | Expression, ...]


def _compile(raw: Any) -> Any:
    if isinstance(raw, str):
        pieces = split_text(raw)
        if not any(isinstance(piece, Expression) for piece in pieces):
            return "".join(piece for piece in pieces if isinstance(piece, str))
        return _Text(tuple(pieces))
    if isinstance(raw, Mapping):
        return {key: _compile(item) for key, item in raw.items()}
    if isinstance(raw, list):
        return [_compile(item) for item in raw]
    return raw


def _expressions(compiled: Any) -> Iterator[Expression]:
    if isinstance(compiled, _Text):
        yield from (piece for piece in compiled.pieces if isinstance(piece, Expression))
    elif isinstance(compiled, dict):
        for item in compiled.values():
            yield from _expressions(item)
    elif isinstance(compiled, list):
        for item in compiled:
            yield from _expressions(item)


def _render(compiled: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(compiled, _Text):
        if len(compiled.pieces) == 1:
            only = compiled.pieces[0]
            assert isinstance(only, Expression)
            return only.evaluate(context)
        return "".join(_as_text(piece, context) for piece in compiled.pieces)
    if isinstance(compiled, dict):
        rendered = {key: _render(item, context) for key, item in compiled.items()}
        return {key: item for key, item in rendered.items() if item is not ABSENT}
    if isinstance(compiled, list):
        return [item for item in (_render(i, context) for i in compiled) if item is not ABSENT]
    return compiled


def text_value(value: Any, source: str) -> str:
    """A rendered value as text: ``null`` is empty, true/false are JSON's words, and a list or
    object must be turned into text explicitly."""
    if value is ABSENT or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        kind = "a list" if isinstance(value, list) else "an object"
        raise TemplateFailure(
            f"{{{source}}} is {kind} inside text: write {{{source} | join(' ')}}, "
            f"{{{source} | shell_quote}} or {{{source} | to_json}}")
    return str(value)


def _as_text(piece: str | Expression, context: Mapping[str, Any]) -> str:
    if isinstance(piece, str):
        return piece
    return text_value(piece.evaluate(context), piece.source)


def render_path(template: str, compiled: list[str | Expression],
                context: Mapping[str, Any]) -> str:
    """A route with every value URL-escaped; a missing value is an error."""
    parts: list[str] = []
    for piece in compiled:
        if isinstance(piece, str):
            parts.append(piece)
            continue
        value = piece.evaluate(context)
        if value is ABSENT or value == "":
            raise TemplateFailure(f"path {template!r}: {{{piece.source}}} has no value")
        parts.append(quote(text_value(value, piece.source), safe=""))
    return "".join(parts)


def truthy(expression: Expression, context: Mapping[str, Any]) -> bool:
    """A condition's value (absent is false)."""
    value = expression.evaluate(context)
    return value is not ABSENT and bool(value)
