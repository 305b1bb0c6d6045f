"""A starting mapping from a vendor's OpenAPI document (``python -m pytest_sca mapping-skeleton``).

Each of the reference API's operations is matched to the vendor operation that looks most
like it — by HTTP method, by the resource and action words of its path, and by the words of
its ``operationId`` and summary, with a table of the synonyms vendors use (orgs for tenants,
workloads for jobs, halt for stop…). Path parameters are renamed to the reference's, the
remaining parameters matched to the vendor's query or body fields by name, and the answer's
list, envelope and common fields (id, name, status, times, labels) located in the response
schema. Every guess is marked ``# guess`` with what it was based on; an operation with no
plausible match is written ``null`` (not offered) for a person to decide. The result is a
valid target file, so that a vendor iterates from ``pytest --sca-target`` on.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .validation import OPERATIONS, OperationSpec

METHODS = ("get", "post", "put", "patch", "delete")
#: A vendor operation below this score is no match.
THRESHOLD = 5.0

#: Reference word → the words vendors use for it (resources and actions).
SYNONYMS: dict[str, set[str]] = {
    "tenant": {"org", "organization", "project", "account", "namespace", "workspace"},
    "user": {"member", "principal"},
    "job": {"workload", "task"},
    "model": {"registered"},
    "image": {"repository", "container"},
    "node": {"host", "machine", "instance"},
    "cluster": {"pool"},
    "usage": {"metering", "meter"},
    "bill": {"invoice", "billing"},
    "list": {"search", "query", "index", "all", "find"},
    "get": {"describe", "show", "read", "fetch", "detail"},
    "create": {"add", "new", "register", "post"},
    "submit": {"create", "run", "launch"},
    "import": {"create", "register", "upload"},
    "delete": {"remove", "destroy"},
    "update": {"patch", "modify", "edit", "set"},
    "stop": {"cancel", "halt", "terminate", "kill", "abort"},
    "restart": {"rerun", "requeue", "retry", "resume"},
    "log": {"output", "stdout"},
    "event": {"timeline", "history"},
    "status": {"state", "phase"},
    "label": {"tag", "selector"},
    "command": {"cmd", "script", "argv", "args"},
    "env": {"environment"},
    "worker": {"replica", "task"},
    "resource": {"res", "requirement"},
    "info": {"version", "ping", "about"},
}
_NOISE = {"api", "rest"}
#: Reference record fields worth guessing in an answer, and the vendor names that hint at them.
FIELD_HINTS: dict[str, tuple[str, ...]] = {
    "id": ("id", "uid", "uuid"),
    "name": ("name", "title", "display_name"),
    "status": ("status", "state", "phase"),
    "labels": ("labels", "tags"),
    "description": ("description",),
    "created_at": ("created_at", "created", "creation_timestamp", "creation_time",
                   "submit_time", "create_time"),
}


def words(text: str) -> list[str]:
    """Lower-case singular words of an identifier, path or sentence."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    found = []
    for raw in re.split(r"[^A-Za-z0-9]+", spaced):
        word = raw.lower()
        if not word or re.fullmatch(r"v?\d+", word) or word in _NOISE:
            continue
        if word.endswith("ies") and len(word) > 4:
            word = word[:-3] + "y"
        elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
            word = word[:-1]
        found.append(word)
    return found


def _related(word: str) -> set[str]:
    related = {word} | SYNONYMS.get(word, set())
    related |= {key for key, values in SYNONYMS.items() if word in values}
    return related


@dataclass
class VendorOperation:
    """One operation of the vendor's OpenAPI document, with what matching needs."""

    method: str
    path: str
    operation_id: str
    summary: str
    path_params: list[str]
    query_params: list[str]
    body: dict[str, Any]
    required: list[str]
    answer: dict[str, Any]
    static: list[str] = field(default_factory=list)
    named: set[str] = field(default_factory=set)

    @property
    def item(self) -> bool:
        return self.path.rstrip("/").endswith("}")


class _Document:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    def resolve(self, schema: Any, depth: int = 0) -> dict[str, Any]:
        if not isinstance(schema, Mapping) or depth > 12:
            return {}
        if "$ref" in schema:
            target: Any = self.document
            for part in str(schema["$ref"]).lstrip("#/").split("/"):
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            return self.resolve(target, depth + 1)
        for combined in ("allOf", "oneOf", "anyOf"):
            if combined in schema:
                merged: dict[str, Any] = {"type": "object", "properties": {}}
                for part in schema[combined]:
                    resolved = self.resolve(part, depth + 1)
                    merged["properties"].update(resolved.get("properties") or {})
                    if resolved.get("type") == "array":
                        return resolved
                return merged
        return dict(schema)

    def operations(self) -> list[VendorOperation]:
        found = []
        for path, item in (self.document.get("paths") or {}).items():
            shared = item.get("parameters") or []
            for method in METHODS:
                operation = item.get(method)
                if not isinstance(operation, Mapping):
                    continue
                params = [self.resolve(p) for p in [*shared, *(operation.get("parameters") or [])]]
                body = self._body(operation)
                found.append(VendorOperation(
                    method.upper(), path, str(operation.get("operationId") or ""),
                    str(operation.get("summary") or operation.get("description") or "")[:200],
                    re.findall(r"\{([^}]+)\}", path),
                    [str(p.get("name")) for p in params if p.get("in") == "query"],
                    self.resolve(body).get("properties") or {},
                    list(self.resolve(body).get("required") or []),
                    self._answer(operation)))
        return found

    def _body(self, operation: Mapping[str, Any]) -> Any:
        content = (operation.get("requestBody") or {}).get("content") or {}
        for kind, media in content.items():
            if "json" in kind or kind == "*/*":
                return media.get("schema")
        for parameter in operation.get("parameters") or []:  # Swagger 2
            if isinstance(parameter, Mapping) and parameter.get("in") == "body":
                return parameter.get("schema")
        return None

    def _answer(self, operation: Mapping[str, Any]) -> dict[str, Any]:
        responses = operation.get("responses") or {}
        for status in ("200", "201", "202", "default"):
            answer = responses.get(status) or responses.get(int(status) if status.isdigit()
                                                            else status)
            if not isinstance(answer, Mapping):
                continue
            answer = self.resolve(answer)
            for kind, media in (answer.get("content") or {}).items():
                if "json" in kind:
                    return self.resolve(media.get("schema"))
            if "schema" in answer:
                return self.resolve(answer["schema"])
        return {}


@dataclass
class Match:
    """The vendor operation chosen for a reference operation, and why."""

    vendor: VendorOperation
    score: float
    reasons: list[str]


def _reference_words(name: str, spec: OperationSpec) -> tuple[list[str], list[str], list[str]]:
    parts = name.split(".")
    resource = words(" ".join(parts[:-1]))
    action = words(parts[-1])
    static = [w for w in words(re.sub(r"\{[^}]+\}", " ", str(spec.default.get("path", ""))))]
    return resource, action, static


#: Actions whose route a method and a path shape imply (list: GET a collection…).
_CRUD = {"list": ("GET", False), "get": ("GET", True), "create": ("POST", False),
         "submit": ("POST", False), "import": ("POST", False), "delete": ("DELETE", True),
         "update": ("PATCH", True)}


def score(name: str, spec: OperationSpec, vendor: VendorOperation) -> tuple[float, list[str]]:
    """How much ``vendor`` looks like reference operation ``name``, and the reasons; a
    vendor operation that names neither the resource nor a fitting action scores nothing."""
    resource, action, static = _reference_words(name, spec)
    method = str(spec.default.get("method", "GET")).upper()
    points, reasons = 0.0, []
    ref_item = str(spec.default.get("path", "")).rstrip("/").endswith("}")
    if static and vendor.static == static and vendor.method == method and ref_item == vendor.item:
        return 20.0, ["same method and route words"]
    related = set().union(*(_related(w) for w in resource + action))
    if all(_related(w) & set(vendor.static) for w in resource):
        points += 3
        reasons.append("the path names the resource")
    elif all(_related(w) & (vendor.named | set(vendor.static)) for w in resource):
        points += 1.5
        reasons.append("the operationId names the resource")
    else:
        return 0.0, []
    vendor_words = set(vendor.static) | vendor.named
    verb = [w for w in action if _related(w) & vendor_words]
    crud = _CRUD.get(action[0]) if len(action) == 1 else None
    if verb:
        points += 2
        reasons.append(f"action {'/'.join(verb)}")
    elif crud is not None and crud[0] == vendor.method and crud[1] == vendor.item:
        points += 1
        reasons.append(f"{vendor.method} of {'an item' if crud[1] else 'a collection'}")
    else:
        return 0.0, []
    if vendor.method == method:
        points += 2
        reasons.insert(0, f"method {method}")
    elif {vendor.method, method} <= {"PUT", "PATCH", "POST"}:
        points += 0.5
    else:
        # An action word found (cancel for stop) outweighs a different method and shape.
        points -= 1 if verb else 2
    if ref_item == vendor.item:
        points += 1
    elif not verb:
        points -= 1
    if len(re.findall(r"\{", str(spec.default.get("path", "")))) == len(vendor.path_params):
        points += 1
    if vendor.named and set(resource + action) <= vendor.named:
        points += 2
        reasons.append(f"operationId {vendor.operation_id!r}")
    points -= 0.5 * len([w for w in vendor.static if w not in related])
    return points, reasons


def _prepare(operations: list[VendorOperation]) -> None:
    """Words of each vendor path and name, without the prefix every route shares."""
    counts: Counter[str] = Counter()
    for operation in operations:
        operation.static = words(re.sub(r"\{[^}]+\}", " ", operation.path))
        counts.update(set(operation.static))
    common = {w for w, n in counts.items() if n > 0.6 * len(operations) and len(operations) > 4}
    for operation in operations:
        operation.static = [w for w in operation.static if w not in common]
        operation.named = set(words(f"{operation.operation_id} {operation.summary}")) - common


def match_all(document: Mapping[str, Any]) -> dict[str, Match | None]:
    """Reference operation → the best vendor operation above :data:`THRESHOLD`, or None."""
    operations = _Document(document).operations()
    _prepare(operations)
    matches: dict[str, Match | None] = {}
    for name, spec in OPERATIONS.items():
        best: Match | None = None
        for vendor in operations:
            points, reasons = score(name, spec, vendor)
            if points >= THRESHOLD and (best is None or points > best.score):
                best = Match(vendor, points, reasons)
        matches[name] = best
    return matches


# -- writing the skeleton ---------------------------------------------------------------------


def _similar(param: str, candidates: list[str]) -> str | None:
    """The candidate field whose words best fit ``param`` (synonyms count), or None."""
    wanted = words(param)
    related = set().union(*(_related(w) for w in wanted)) if wanted else set()
    best, best_points = None, 0.5
    for candidate in candidates:
        if candidate == param:
            return candidate
        found = words(candidate.rsplit(".", 1)[-1])
        overlap = len(set(found) & related)
        points = overlap - 0.3 * len([w for w in found if w not in related])
        if overlap and points > best_points:
            best, best_points = candidate, points
    return best


def _pointer(parts: list[str]) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


_NOT_RECORDS = {"error", "warning", "meta", "message", "link"}


def _candidates(schema: Mapping[str, Any], document: _Document, related: set[str],
                trail: list[str], depth: int = 0
                ) -> Iterator[tuple[float, list[str], str, dict[str, Any]]]:
    """(preference, pointer parts, kind, record schema) of every list or object inside an
    answer: lists of the resource first, then any list; errors and metadata never."""
    if depth > 3:
        return
    for name, sub in (schema.get("properties") or {}).items():
        name_words = set(words(str(name)))
        if name_words & _NOT_RECORDS:
            continue
        resolved = document.resolve(sub)
        bonus = 2.0 if name_words & related else 0.0
        if resolved.get("type") == "array":
            items = document.resolve(resolved.get("items"))
            records = bool(items.get("properties")) or items.get("type") in ("object", None)
            yield bonus + (1 if records else 0.5) - depth * 0.1, [*trail, str(name)], "list", \
                items
        elif resolved.get("properties"):
            yield bonus - depth * 0.1, [*trail, str(name)], "object", resolved
            yield from _candidates(resolved, document, related, [*trail, str(name)], depth + 1)


def _find_list(schema: Mapping[str, Any], document: _Document, related: set[str]
               ) -> tuple[list[str], dict[str, Any]] | None:
    if schema.get("type") == "array":
        return [], document.resolve(schema.get("items"))
    lists = [c for c in _candidates(schema, document, related, []) if c[2] == "list"]
    if not lists:
        return None
    best = max(lists, key=lambda c: c[0])
    return best[1], best[3]


def _find_object(schema: Mapping[str, Any], document: _Document, related: set[str]
                 ) -> tuple[list[str], dict[str, Any], str]:
    """Where the record is in an answer: the whole, an envelope, or the first of a list."""
    properties = schema.get("properties") or {}
    if any(_hint_of(str(p)) == "id" for p in properties):
        return [], dict(schema), "the answer itself"
    found = sorted(_candidates(schema, document, related, []), key=lambda c: -c[0])
    if not found:
        return [], dict(schema), "the answer itself"
    _, trail, kind, record = found[0]
    if kind == "list":
        return [*trail, "0"], record, f"the first of {trail[-1]!r}"
    return trail, record, f"the object in {trail[-1]!r}"


def _hint_of(name: str) -> str | None:
    lowered = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    for reference, hints in FIELD_HINTS.items():
        if lowered in hints or (reference == "id" and lowered.endswith("_id")):
            return reference
    return None


def _fields(record: Mapping[str, Any], document: _Document, resource: set[str]
            ) -> Iterator[tuple[str, str, str]]:
    """(reference field, value, comment) guessed from a vendor record schema."""
    properties = record.get("properties") or {}
    taken: set[str] = set()

    def rank(name: str) -> tuple[int, str]:
        found = words(name)
        if name in ("id", "name"):
            return 0, name
        if found[-1:] == ["id"] and set(found[:-1]) <= resource:
            return 1, name
        return 2, name

    ranked = sorted(properties, key=lambda name: rank(str(name)))
    for name in ranked:
        reference = _hint_of(str(name))
        if reference is None or reference in taken:
            continue
        taken.add(reference)
        schema = document.resolve(properties[name])
        pointer = _pointer([str(name)])
        if reference == "created_at" and schema.get("type") in ("integer", "number"):
            unit = "('ms')" if "timestamp" in name or "ms" in name else ""
            yield reference, json.dumps(f"{{item.{name} | rfc3339{unit}}}"), \
                "guess: epoch time as RFC 3339"
        elif reference == "labels" and schema.get("type") == "array":
            yield reference, json.dumps(f"{{item.{name} | list_to_dict}}"), \
                "guess: key/value list as labels"
        else:
            yield reference, pointer, f"guess: from {name!r}"
    if "id" not in taken and "name" in properties:
        yield "id", "/name", "guess: the name identifies it"


#: JSON types of the reference parameters that are not plain values.
_PARAM_TYPES = {"command": "array", "labels": "object", "env": "object", "resources": "object",
                "payload": "object", "graph": "object"}


def _fields_of(schema: Mapping[str, Any], document: _Document, prefix: str = "",
               depth: int = 0) -> dict[str, dict[str, Any]]:
    """Every field of a body schema by dotted name (``job.name``), two levels deep."""
    found: dict[str, dict[str, Any]] = {}
    for name, sub in (schema.get("properties") or {}).items():
        resolved = document.resolve(sub)
        found[f"{prefix}{name}"] = resolved
        if resolved.get("properties") and depth < 1:
            found.update(_fields_of(resolved, document, f"{prefix}{name}.", depth + 1))
    return found


def _value(reference: str, vendor_type: Any) -> str:
    """The template that sends reference parameter ``reference`` as the vendor's type."""
    ours = _PARAM_TYPES.get(reference)
    if ours == "array" and vendor_type == "string":
        return f"{{{reference} | shell_quote}}"
    if ours == "object" and vendor_type == "array":
        return f"{{{reference} | dict_to_list}}"
    if ours == "object" and vendor_type == "string":
        return f"{{{reference} | to_json}}"
    return f"{{{reference}}}"


def _nest(flat: Mapping[str, str]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, last = dotted.split(".")
        target: Any = nested
        for parent in parents:
            target = target.setdefault(parent, {}) if isinstance(target, dict) else None
        if isinstance(target, dict) and last not in target:
            target[last] = value
    return nested


def _entry(name: str, spec: OperationSpec, found: Match, document: _Document) -> list[str]:
    vendor = found.vendor
    lines = [f"  # guess: {vendor.method} {vendor.path} (score {found.score:g}: "
             f"{'; '.join(found.reasons) or 'weak'})"]
    lines.append(f"  {name}:")
    lines.append(f"    method: {vendor.method}")
    ref_path_params = re.findall(r"\{([^}]+)\}", str(spec.default.get("path", "")))
    path, remaining = vendor.path, list(spec.params)
    for vendor_param, reference in zip(vendor.path_params, ref_path_params, strict=False):
        path = path.replace(f"{{{vendor_param}}}", f"{{{reference}}}")
        remaining.remove(reference)
    lines.append(f"    path: {path}")
    for vendor_param in vendor.path_params[len(ref_path_params):]:
        lines.append(f"    # TODO: path parameter {{{vendor_param}}} has no reference parameter")
    in_query = vendor.method in ("GET", "DELETE") and not vendor.body
    fields = ({q: {} for q in vendor.query_params} if in_query
              else _fields_of({"properties": vendor.body}, document))
    sent: dict[str, str] = {}
    # An id the reference passes in the path may travel in the query or body (MLflow's name).
    for reference in [p for p in ref_path_params if p in remaining]:
        vendor_field = _similar(reference, list(fields)) or next(
            (f for f in fields if f in ("name", "id")), None)
        if vendor_field:
            sent[vendor_field] = f"{{{reference}}}"
            remaining.remove(reference)
    for reference in list(remaining):
        vendor_field = _similar(reference, [f for f in fields if f not in sent])
        if vendor_field:
            sent[vendor_field] = _value(reference, fields[vendor_field].get("type"))
            remaining.remove(reference)
    whole = [p for p in remaining if _PARAM_TYPES.get(p) == "object"]
    if not in_query and not fields and vendor.method in ("POST", "PUT", "PATCH") \
            and len(whole) == 1:
        lines.append(f"    body: \"{{{whole[0]}}}\"  # guess: the whole body")
        remaining.remove(whole[0])
    if sent:
        where = "query" if in_query else "body"
        flow = json.dumps(_nest(sent) if not in_query else sent)
        lines.append(f"    {where}: {flow}  # guess: by name")
    for required in [f for f in vendor.required if f not in {k.split('.')[0] for k in sent}]:
        lines.append(f"    # TODO: the vendor requires body field {required!r}: a constant "
                     "({const.NAME}) or an expression")
    related = set().union(*(_related(w) for w in words(name.rsplit(".", 1)[0])))
    if spec.returns == "text":
        lines.append("    format: text")
    elif spec.returns == "none":
        lines.append("    format: none  # guess: the answer is not read")
    elif spec.returns == "list":
        listed = _find_list(vendor.answer, document, related)
        record: dict[str, Any] = {}
        if listed:
            trail, record = listed
            lines.append(f"    items: \"{_pointer(trail)}\"  # guess: the list of the resource")
        else:
            lines.append("    items: \"\"  # TODO: no list in the answer schema")
        lines += _response(record, document, related)
    else:
        trail, record, where_found = _find_object(vendor.answer, document, related)
        if trail:
            lines.append(f"    result: {_pointer(trail)}  # guess: {where_found}")
        lines += _response(record, document, related)
    if spec.returns == "list":
        filters = {p: ("labels" if p == "label" else "field") for p in remaining}
        if filters:
            lines.append("    # guess: filters the vendor does not take are applied after listing")
            lines.append("    filter: {" + ", ".join(f"{p}: {r}" for p, r in filters.items())
                         + "}")
    elif remaining:
        lines.append(f"    # TODO: no vendor field for {', '.join(remaining)}: send them, "
                     "or leave them out knowingly")
        lines.append(f"    ignore: [{', '.join(remaining)}]")
    return lines


def _response(record: Mapping[str, Any], document: _Document, resource: set[str]
              ) -> list[str]:
    guessed = list(_fields(record, document, resource))
    if not guessed:
        return []
    lines = ["    response:"]
    for reference, value, comment in guessed:
        lines.append(f"      {reference}: {value}  # {comment}")
    others = sorted(str(p) for p in (record.get("properties") or {})
                    if _hint_of(str(p)) is None)
    if others:
        lines.append(f"      # the vendor's other fields: {', '.join(others)[:300]}")
    return lines


def skeleton(document: Mapping[str, Any], source: str = "the vendor's OpenAPI document") -> str:
    """A commented target file whose mapping is the best guess for every operation."""
    matches = match_all(document)
    parsed = _Document(document)
    info = document.get("info") or {}
    title = str(info.get("title") or "vendor API")
    found = sum(1 for m in matches.values() if m is not None)
    lines = [
        f"# A starting mapping of {title} {info.get('version', '')}".rstrip(),
        f"# generated by `python -m pytest_sca mapping-skeleton` from {source}.",
        f"# {found} of {len(matches)} reference operations matched a vendor operation; every",
        "# guess is marked `# guess`, every gap `# TODO`. Check each against the vendor's",
        "# documentation (docs/mapping.md), then: pytest --sca-target=THIS_FILE",
        f"name: {re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-') or 'vendor'}",
        "adapters:",
        "  platform:",
        "    url: ${VENDOR_URL}",
        "    token: ${VENDOR_TOKEN}",
        "    mapping_fallback: none",
        "    mapping:",
    ]
    for name, spec in OPERATIONS.items():
        found_match = matches[name]
        lines.append("")
        signature = f"params: {', '.join(spec.params) or 'none'}; returns {spec.returns}"
        lines.append(f"      # {name} ({signature})")
        if found_match is None:
            lines.append(f"      {name}: null  # no vendor operation looks like it: not offered")
            continue
        lines += ["    " + line for line in _entry(name, spec, found_match, parsed)]
    return "\n".join(lines) + "\n"


def load_document(path: Path) -> Mapping[str, Any]:
    """An OpenAPI document from JSON or YAML; ValueError in one line if it is none."""
    text = path.read_text(encoding="utf-8")
    try:
        document = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: not JSON or YAML ({type(exc).__name__})") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("paths"), Mapping):
        raise ValueError(f"{path}: not an OpenAPI document (no 'paths')")
    return document
