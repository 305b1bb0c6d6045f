"""Running an operation of the mapping: its steps, polls, pages, and the reference shape.

The engine renders each step's request from the parameters and earlier answers,
hands it to a ``send`` callable (the platform client's HTTP client), repeats it
while an ``until`` condition is false (bounded by the step's deadline), follows a
list's pages, undoes finished steps (``compensate``) when a later one fails, and
reshapes the answer into the reference fields, filtering and sorting lists the
vendor could not filter. It opens no connection itself.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...capabilities import Refused, TargetError, Unsupported
from .model import Operation, Pages, RequestSpec, Step, expression_of, locator_of
from .pointers import MISSING, is_pointer, resolve_pointer
from .templates import (
    ABSENT,
    Expression,
    Template,
    TemplateFailure,
    label_selector,
    render_path,
    split_text,
    truthy,
)


class OperationNotMapped(Unsupported):
    """The target maps no route for an operation and asked for no reference fallback.

    The target gives no means to check what needs it: the verdict is ``not_assessed``.
    """


@dataclass(frozen=True)
class Request:
    """A rendered request: what to send for one call."""

    method: str
    path: str
    query: dict[str, Any]
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    format: str = "json"
    encoding: str = "json"
    #: Statuses >= 400 answered as values instead of refusals.
    accept: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Reply:
    """What came back: the status, the headers, the parsed body."""

    status: int
    headers: Mapping[str, str]
    body: Any


#: Sends one request; raises ``Refused`` (4xx not accepted) or ``TargetError``.
Send = Callable[[Request], Reply]

#: Names an expression may read besides the operation's parameters.
ENGINE_NAMES = frozenset({"const", "steps", "headers", "statuses", "answer", "status",
                          "header", "item", "index", "value"})
_LONGEST_POLL = 5.0
_SNIPPET = 160


class _MappingBug(TargetError):
    """A template failed while a check ran (a value of an unexpected type)."""


def _snippet(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET else flat[: _SNIPPET - 1] + "…"


class OperationTable:
    """The operations of one target: its mapping over the reference routes."""

    def __init__(self, operations: Mapping[str, Operation | None],
                 known: Mapping[str, Any] | None = None) -> None:
        self._operations = dict(operations)
        self._known = set(known) if known is not None else set(operations)

    def get(self, name: str) -> Operation:
        """The mapped operation; :class:`OperationNotMapped` if the target has none."""
        if name not in self._known:
            raise KeyError(f"unknown operation {name!r}")
        operation = self._operations.get(name)
        if operation is None:
            raise OperationNotMapped(
                f"the target's adapters.platform.mapping maps no route for {name!r}"
            )
        return operation

    def routes(self) -> list[tuple[str, str, str]]:
        """(operation, method, route template) of every request the mapped operations send
        (each step of an operation that takes several)."""
        found: list[tuple[str, str, str]] = []
        for name, operation in sorted(self._operations.items()):
            if operation is None or name not in self._known:
                continue
            if operation.steps:
                found += [(name, str(step.method), step.path) for step in operation.steps]
            elif operation.method and operation.path:
                found.append((name, str(operation.method), operation.path))
        return found

    def render(self, name: str, params: Mapping[str, Any],
               const: Mapping[str, Any] | None = None) -> Request:
        """The first request of ``name`` filled with ``params`` (no step run)."""
        operation = self.get(name)
        run = _Run(name, operation, params, const or {}, _no_send, time.monotonic, time.sleep)
        return run.request(operation.sequence[0], run.context)

    def extract(self, name: str, answer: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Turn the answer of ``name`` into the reference shape; KeyError if a pointer misses."""
        operation = self.get(name)
        run = _Run(name, operation, params or {}, {}, _no_send, time.monotonic, time.sleep)
        return run.shape(answer, None)

    def run(self, name: str, params: Mapping[str, Any], send: Send, *,
            const: Mapping[str, Any] | None = None,
            clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> Any:
        """Run every step of ``name`` and return its answer in the reference shape."""
        operation = self.get(name)
        return _Run(name, operation, params, const or {}, send, clock, sleep).execute()


def _no_send(request: Request) -> Reply:
    raise AssertionError("bug: render/extract send nothing")


class _Run:
    """One call of one operation."""

    def __init__(self, name: str, operation: Operation, params: Mapping[str, Any],
                 const: Mapping[str, Any], send: Send, clock: Callable[[], float],
                 sleep: Callable[[float], None]) -> None:
        self.name = name
        self.operation = operation
        self.params = {key: value for key, value in params.items() if value is not None}
        sent = {
            key: _translate(value, operation.param_values.get(key))
            for key, value in self.params.items()
        }
        # What the named steps answered. An operation's own parameter of the same name (the
        # reference API's finetunes.create takes ``steps``) wins: its templates mean it.
        self.answers: dict[str, Any] = {}
        self.answer_headers: dict[str, Any] = {}
        self.statuses: dict[str, int] = {}
        self.context: dict[str, Any] = {
            "const": dict(const), "steps": self.answers, "headers": self.answer_headers,
            "statuses": self.statuses, **sent}
        for shadowed in ENGINE_NAMES & set(params):
            self.context[shadowed] = sent.get(shadowed)  # absent: None, left out as any
        self.send = send
        self.clock = clock
        self.sleep = sleep
        self.last: Request | None = None

    # -- steps ----------------------------------------------------------------------------

    def execute(self) -> Any:
        try:
            return self._execute()
        except KeyError as exc:
            last = self.last
            route = f"{last.method} {last.path}" if last else self.name
            raise TargetError(
                f"{self.name}: the answer of {route} has nothing at {exc.args[0]!r} "
                "(see adapters.platform.mapping in the target file)"
            ) from None

    def _execute(self) -> Any:
        steps = self.operation.sequence
        answer_at = self.operation.answer_index
        done: list[tuple[Step, dict[str, Any]]] = []
        answer: Reply | None = None
        collected: list[Any] | None = None
        for index, step in enumerate(steps):
            context = self.context
            try:
                if step.when is not None and not self._truthy(step.when, context, "when"):
                    continue
                if index == answer_at and self.operation.pages is not None:
                    reply, collected = self.paginate(step, self.operation.pages)
                elif step.for_each is not None:
                    reply = self.each(step)
                else:
                    reply = self.call(step, context)
            except (Refused, TargetError) as failure:
                self.compensate(done)
                if isinstance(failure, Refused) and len(steps) > 1:
                    raise Refused(f"{self.name} step {step.name or index + 1}: {failure.what}",
                                  failure.status, failure.code, failure.message,
                                  failure.reason, enveloped=failure.enveloped) from None
                raise
            if step.name:
                self.answers[step.name] = reply.body
                self.answer_headers[step.name] = _headers(reply.headers)
                self.statuses[step.name] = reply.status
            done.append((step, dict(self.context)))
            if index == answer_at:
                answer = reply
        if self.operation.answer_format != "json":
            return None if answer is None else answer.body
        if answer is None:
            raise TargetError(f"{self.name}: the step that answers was skipped (its 'when' "
                              "was false); see adapters.platform.mapping in the target file")
        return self.shape(answer.body, collected)

    def each(self, step: Step) -> Reply:
        assert step.for_each is not None
        elements = self._value(expression_of(step.for_each), self.context, "for_each")
        if elements is ABSENT:
            elements = []
        if not isinstance(elements, list):
            raise _MappingBug(f"{self.name}: for_each {step.for_each!r} is not a list")
        reply = Reply(204, {}, None)
        for index, element in enumerate(elements):
            reply = self.call(step, {**self.context, "item": element, "index": index})
        return reply

    def call(self, step: Step, context: Mapping[str, Any],
             extra_query: Mapping[str, Any] | None = None,
             extra_body: Mapping[str, Any] | None = None, url: str | None = None) -> Reply:
        """Send one step (repeating it while ``until`` is false, up to its deadline)."""
        request = self.request(step, context)
        if extra_query:
            request = _replace(request, query={**request.query, **extra_query})
        if extra_body:
            body = request.body if isinstance(request.body, dict) else {}
            request = _replace(request, body={**body, **extra_body})
        if url is not None:
            request = _replace(request, path=url, query={})
        self.last = request
        if step.until is None:
            return self.send(request)
        deadline = self.clock() + step.timeout
        pause = step.every
        while True:
            reply = self.send(request)
            polled = {**context, "answer": reply.body, "status": reply.status,
                      "header": _headers(reply.headers)}
            if self._truthy(step.until, polled, "until"):
                return reply
            if self.clock() + pause > deadline:
                raise TargetError(
                    f"{self.name}: {request.method} {request.path} did not reach "
                    f"{step.until} within {step.timeout:g} s (last answer {reply.status}: "
                    f"{_snippet(reply.body)})")
            self.sleep(pause)
            pause = min(pause * 1.5, max(step.every, _LONGEST_POLL))

    def request(self, spec: RequestSpec, context: Mapping[str, Any]) -> Request:
        """Render one request of the operation."""
        try:
            path = render_path(spec.path, split_text(spec.path), context)
            query = Template(spec.query).render(context)
            body = Template(spec.body).render(context) if spec.body is not None else ABSENT
            headers = Template(spec.headers).render(context)
        except TemplateFailure as exc:
            raise _MappingBug(f"{self.name}: {exc} (see adapters.platform.mapping in the "
                              "target file)") from None
        return Request(spec.method, path, query if isinstance(query, dict) else {},
                       None if body is ABSENT else body,
                       {key: str(value) for key, value in (headers or {}).items()},
                       spec.format, spec.encoding, frozenset(spec.ok))

    def compensate(self, done: list[tuple[Step, dict[str, Any]]]) -> None:
        """Undo finished steps, newest first; best effort (the original failure is raised)."""
        for step, context in reversed(done):
            if step.compensate is None:
                continue
            with contextlib.suppress(Refused, TargetError):
                self.send(self.request(step.compensate, context))

    # -- lists ----------------------------------------------------------------------------

    def paginate(self, step: Step, pages: Pages) -> tuple[Reply, list[Any]]:
        """Every page of a list: the first reply and the vendor's items of all pages."""
        items_at = self.operation.items
        if items_at is None:
            raise _MappingBug(f"{self.name}: pages need 'items'")
        collected: list[Any] = []
        first: Reply | None = None
        position = pages.start if pages.start is not None else (1 if pages.style == "page"
                                                                  else 0)
        token: Any = None
        url: str | None = None
        for _ in range(pages.max_pages):
            fields: dict[str, Any] = {}
            if pages.size_param:
                fields[pages.size_param] = pages.size
            if pages.style in ("page", "offset"):
                fields[str(pages.param)] = position
            elif pages.style == "cursor" and token is not None:
                fields[str(pages.param)] = token
            in_query = pages.location == "query"
            reply = self.call(step, self.context,
                              extra_query=fields if in_query and url is None else None,
                              extra_body=None if in_query else fields, url=url)
            first = first or reply
            found = self._locate(items_at, reply.body, self.context)
            if not isinstance(found, list):
                raise KeyError(items_at)
            collected.extend(found)
            if pages.total is not None:
                total = self._locate(pages.total, reply.body, self.context, default=None)
                if isinstance(total, (int, float)) and len(collected) >= total:
                    return first, collected
            if pages.style in ("page", "offset"):
                if not found or (pages.size_param and len(found) < pages.size):
                    return first, collected
                position += 1 if pages.style == "page" else len(found)
            elif pages.style == "cursor":
                assert pages.next is not None
                following = self._locate(pages.next, reply.body, self.context, default=None)
                if following in (None, "", ABSENT) or following == token:
                    return first, collected
                token = following
            else:
                url = _next_link(reply.headers)
                if url is None:
                    return first, collected
        raise TargetError(f"{self.name}: the list has more than {pages.max_pages} pages: raise "
                          "pages.max_pages in adapters.platform.mapping")

    # -- answers --------------------------------------------------------------------------

    def shape(self, answer: Any, collected: list[Any] | None) -> Any:
        """The answer in the reference shape (a list filtered and sorted as mapped)."""
        operation = self.operation
        context = {**self.context, "answer": answer}
        if operation.answer_format != "json":
            return answer
        if operation.items is None:
            return self.reshape(self._locate(operation.result, answer, context), context)
        listed = collected if collected is not None else self._locate(
            operation.items, answer, context)
        if not isinstance(listed, list):
            raise KeyError(operation.items)
        shaped = [self.reshape(item, context) for item in listed]
        return self.sort(self.filter(shaped))

    def reshape(self, document: Any, context: Mapping[str, Any]) -> Any:
        operation = self.operation
        if operation.response is None:
            shaped = document
        else:
            kept = dict(document) if operation.keep_unmapped and isinstance(document, dict) else {}
            shaped = {**kept, **self.pick(document, operation.response, context)}
        return _translate_fields(shaped, operation.values)

    def pick(self, document: Any, response: Mapping[str, Any],
             context: Mapping[str, Any]) -> dict[str, Any]:
        local = {**context, "item": document}
        picked: dict[str, Any] = {}
        for name, spec in response.items():
            if isinstance(spec, Mapping) and "each" in spec:
                found = self._locate(str(spec["each"]), document, local, default=None)
                if isinstance(found, list):
                    fields = spec.get("fields")
                    found = [
                        _translate_fields(
                            self.pick(element, fields, local) if fields else element,
                            spec.get("values") or {})
                        for element in found
                    ]
                picked[name] = found
            elif isinstance(spec, Mapping):
                picked[name] = self.pick(document, spec, local)
            elif isinstance(spec, str) and is_pointer(spec):
                picked[name] = resolve_pointer(document, spec, None)
            elif isinstance(spec, str):
                picked[name] = self._render(Template(spec), local, f"response.{name}")
            else:
                picked[name] = spec
        return picked

    def filter(self, items: list[Any]) -> list[Any]:
        """Keep the items that match every client-side filter whose parameter was given."""
        for param, rule in self.operation.filter.items():
            if param not in self.params:
                continue
            wanted = self.params[param]
            items = [item for item in items if self._matches(rule, param, wanted, item)]
        return items

    def _matches(self, rule: str, param: str, wanted: Any, item: Any) -> bool:
        record = item if isinstance(item, Mapping) else {}
        if rule == "labels":
            labels = record.get("labels") or {}
            selector = label_selector(wanted) or {}
            return all(key in labels and (value is None or str(labels[key]) == value)
                       for key, value in selector.items())
        if rule == "field" or rule.startswith("field:"):
            name = rule.partition(":")[2] or param
            return _same(record.get(name), wanted)
        context = {**self.context, **self.params, "item": item, "value": wanted}
        return self._truthy(rule, context, f"filter.{param}")

    def sort(self, items: list[Any]) -> list[Any]:
        for key in reversed(self.operation.sort):
            name, descending = key.lstrip("-"), key.startswith("-")
            present = [i for i in items if isinstance(i, Mapping) and i.get(name) is not None]
            absent = [i for i in items if not (isinstance(i, Mapping)
                                               and i.get(name) is not None)]
            present.sort(key=functools.partial(_field_key, name), reverse=descending)
            items = present + absent
        return items

    # -- expressions ----------------------------------------------------------------------

    def _locate(self, locator: str, document: Any, context: Mapping[str, Any],
                default: Any = MISSING) -> Any:
        found = locator_of(locator)
        if isinstance(found, str):
            return resolve_pointer(document, found, default)
        value = self._value(found, {**context, "answer": context.get("answer", document)},
                            locator)
        if value is ABSENT:
            if default is MISSING:
                raise KeyError(locator)
            return default
        return value

    def _render(self, template: Template, context: Mapping[str, Any], what: str) -> Any:
        try:
            value = template.render(context)
        except TemplateFailure as exc:
            raise _MappingBug(f"{self.name}: {what}: {exc} (see adapters.platform.mapping in "
                              "the target file)") from None
        return None if value is ABSENT else value

    def _value(self, expression: Expression, context: Mapping[str, Any], what: str) -> Any:
        try:
            return expression.evaluate(context)
        except TemplateFailure as exc:
            raise _MappingBug(f"{self.name}: {what}: {exc} (see adapters.platform.mapping in "
                              "the target file)") from None

    def _truthy(self, condition: str, context: Mapping[str, Any], what: str) -> bool:
        try:
            return truthy(expression_of(condition), context)
        except TemplateFailure as exc:
            raise _MappingBug(f"{self.name}: {what}: {exc} (see adapters.platform.mapping in "
                              "the target file)") from None


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers as sent, and under their lower-case names (``header.location``)."""
    return {**dict(headers), **{name.lower(): value for name, value in headers.items()}}


def _replace(request: Request, **changes: Any) -> Request:
    from dataclasses import replace

    return replace(request, **changes)


def _translate(value: Any, translation: Mapping[str, Any] | None) -> Any:
    if translation and isinstance(value, (str, int, float, bool)) and str(value) in translation:
        return translation[str(value)]
    return value


def _translate_fields(shaped: Any, values: Mapping[str, Mapping[str, Any]]) -> Any:
    if not values or not isinstance(shaped, dict):
        return shaped
    shaped = dict(shaped)
    for name, translation in values.items():
        if name in shaped:
            shaped[name] = _translate(shaped[name], translation)
    return shaped


def _same(found: Any, wanted: Any) -> bool:
    if found == wanted:
        return True
    return found is not None and str(found) == str(wanted)


def _field_key(name: str, item: Mapping[str, Any]) -> tuple[int, Any]:
    return _sort_key(item[name])


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value))


_LINK = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,]+)*)')


def _next_link(headers: Mapping[str, str]) -> str | None:
    """The ``rel="next"`` target of an RFC 8288 ``Link`` header."""
    value = next((v for k, v in headers.items() if k.lower() == "link"), None)
    if not value:
        return None
    for match in _LINK.finditer(value):
        params = match.group(2)
        if re.search(r';\s*rel\s*=\s*"?([^";]*\s)?next(\s[^";]*)?"?', params):
            return match.group(1)
    return None


def iter_expressions(operation: Operation) -> Iterator[tuple[str, Expression]]:
    """(where, expression) of every expression of an operation (for validation)."""
    for index, step in enumerate(operation.sequence):
        label = f"steps[{index}]." if operation.steps is not None else ""
        for where, template in step.templates():
            for expression in template.expressions():
                yield f"{label}{where}", expression
        for key in ("when", "for_each", "until"):
            condition = getattr(step, key)
            if condition is not None:
                yield f"{label}{key}", expression_of(condition)
        if step.compensate is not None:
            for where, template in step.compensate.templates():
                for expression in template.expressions():
                    yield f"{label}compensate.{where}", expression
    for key in ("result", "items"):
        locator = getattr(operation, key)
        if locator is not None and not isinstance(locator_of(locator), str):
            found = locator_of(locator)
            assert isinstance(found, Expression)
            yield key, found
    if operation.pages is not None:
        for key in ("next", "total"):
            locator = getattr(operation.pages, key)
            if locator is not None:
                found = locator_of(locator)
                if isinstance(found, Expression):
                    yield f"pages.{key}", found
    if operation.response is not None:
        yield from _response_expressions(operation.response, "response")
    for param, rule in operation.filter.items():
        if "{" in rule:
            yield f"filter.{param}", expression_of(rule)


def _response_expressions(response: Mapping[str, Any], where: str
                          ) -> Iterator[tuple[str, Expression]]:
    for name, spec in response.items():
        if isinstance(spec, Mapping) and "each" in spec:
            found = locator_of(str(spec["each"]))
            if isinstance(found, Expression):
                yield f"{where}.{name}", found
            if spec.get("fields"):
                yield from _response_expressions(spec["fields"], f"{where}.{name}")
        elif isinstance(spec, Mapping):
            yield from _response_expressions(spec, f"{where}.{name}")
        elif isinstance(spec, str) and not is_pointer(spec):
            yield from ((f"{where}.{name}", e) for e in Template(spec).expressions())
