"""Generic mutation operators: plausible platform defects, driven by the answer's shape.

An operator may answer in the platform's place (:meth:`Operator.intercept`: the request is
not forwarded), change the platform's answer (:meth:`Operator.mutate`) and hold the answer
back (:meth:`Operator.delay`). Every choice comes from the run's seeded
:class:`~.exchange.Context`; nothing here knows any check, route or clause.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from . import shape
from .exchange import Context, Request, Response, is_id_segment

#: Statuses a platform refuses a request with (what ``refusal_to_success`` turns around).
REFUSALS = frozenset({400, 401, 403, 404, 409, 422, 429})
#: Content types of streamed answers (server-sent events, JSON lines).
STREAMS = ("text/event-stream", "application/x-ndjson", "application/jsonl")


class Operator:
    """One kind of defect. Subclasses override what they need."""

    name = ""
    description = ""
    #: The platform may be left in a state a next run should not inherit (skipped deletes).
    dirty = False
    #: Needs streamed answers whole (otherwise they pass through as they come).
    buffers_streams = False

    def intercept(self, request: Request, ctx: Context) -> Response | None:
        """An answer given in the platform's place (the request is not forwarded), or None."""
        return None

    def mutate(self, request: Request, response: Response, ctx: Context) -> Response | None:
        """The changed answer, or None to leave it as it is."""
        return None

    def delay(self, request: Request, ctx: Context) -> float:
        """Seconds to hold the answer back."""
        return 0.0


class JsonOperator(Operator):
    """An operator on JSON answers: :meth:`change` edits a copy of the document in place."""

    #: Only successful answers (2xx); error answers pass unchanged.
    success_only = True

    def mutate(self, request: Request, response: Response, ctx: Context) -> Response | None:
        if self.success_only and not 200 <= response.status < 300:
            return None
        if not response.is_json:
            return None
        doc = copy.deepcopy(response.json())
        if not self.change(doc, request, ctx):
            return None
        ctx.fire(self.name)
        return response.with_json(doc)

    def change(self, doc: Any, request: Request, ctx: Context) -> bool:
        """Edit ``doc`` in place; True when something changed."""
        raise NotImplementedError


def _choose(ctx: Context, operator: str, request: Request,
            candidates: dict[shape.Location, list[dict[str, Any]]]) -> shape.Location | None:
    """The endpoint's field for this operator: the same one whenever it is present."""
    if not candidates:
        return None
    return min(candidates, key=lambda location: ctx.rank(operator, request, location))


class DropField(JsonOperator):
    name = "drop_field"
    description = "one field of an endpoint's answers is missing (the same field every time)"
    success_only = False

    def change(self, doc: Any, request: Request, ctx: Context) -> bool:
        candidates = shape.fields(
            doc, lambda key, value: shape.is_leaf(value) and not shape.is_identifier(key))
        location = _choose(ctx, self.name, request, candidates)
        if location is None:
            return False
        for obj in candidates[location]:
            obj.pop(location[-1], None)
        return True


class RenameField(JsonOperator):
    name = "rename_field"
    description = "one field of an endpoint's answers comes under another name (camelCase)"
    success_only = False

    def change(self, doc: Any, request: Request, ctx: Context) -> bool:
        candidates = shape.fields(
            doc, lambda key, value: shape.is_leaf(value) and not shape.is_identifier(key)
            and shape.camel(key) != key)
        location = _choose(ctx, self.name, request, candidates)
        if location is None:
            return False
        old = location[-1]
        new = shape.camel(old)
        for obj in candidates[location]:
            if new not in obj:
                obj[new] = obj.pop(old)
            else:
                obj.pop(old)
        return True


class FreezeTimestamps(JsonOperator):
    """Every timestamp keeps the first value the run saw at its place: a stopped clock."""

    name = "freeze_timestamps"
    description = "timestamps stop: each keeps the first value seen at its place on the endpoint"

    def change(self, doc: Any, request: Request, ctx: Context) -> bool:
        changed = False
        for location, obj in shape.objects(doc):
            for key, value in list(obj.items()):
                if shape.is_timestamp(key, value):
                    changed |= self._freeze(obj, key, (request.endpoint, *location, key), ctx)
                elif isinstance(value, list):
                    changed |= self._freeze_samples(value, (request.endpoint, *location, key), ctx)
        if isinstance(doc, list):
            changed |= self._freeze_samples(doc, (request.endpoint,), ctx)
        return changed

    def _freeze(self, holder: Any, index: Any, place: tuple[Any, ...], ctx: Context) -> bool:
        first = ctx.memory.setdefault((self.name, place), holder[index])
        if holder[index] == first or type(first) is not type(holder[index]):
            return False
        holder[index] = first
        return True

    def _freeze_samples(self, values: list[Any], place: tuple[Any, ...], ctx: Context) -> bool:
        """``[time, "value"]`` samples (the Prometheus shape), alone or in a list."""
        changed = False
        pairs = [values] if _is_sample(values) else [v for v in values if _is_sample(v)]
        for pair in pairs:
            changed |= self._freeze(pair, 0, (*place, "sample"), ctx)
        return changed


def _is_sample(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and shape.is_epoch(value[0])
            and isinstance(value[1], str))


class PerturbNumbers(JsonOperator):
    name = "perturb_numbers"
    description = "one numeric field of an endpoint's answers is off by 10–50 %"

    def change(self, doc: Any, request: Request, ctx: Context) -> bool:
        candidates = shape.fields(doc, lambda key, value: shape.is_number(value)
                                  and not shape.is_identifier(key)
                                  and not shape.is_timestamp(key, value))
        location = _choose(ctx, self.name, request, candidates)
        if location is None:
            return False
        rng = ctx.endpoint_random(self.name, request)
        factor = rng.uniform(0.1, 0.5) * rng.choice((-1, 1))
        key = location[-1]
        for obj in candidates[location]:
            value = obj[key]
            if isinstance(value, int):
                step = max(1, round(abs(value) * abs(factor)))
                obj[key] = value + step if factor > 0 or value - step < 0 else value - step
            else:
                obj[key] = value * (1 + factor) if value else abs(factor)
        return True


class TruncateLists(JsonOperator):
    """Lists of records lose their second half; streams lose their second half of events."""

    name = "truncate_lists"
    description = "lists of records and streams end halfway (the rest is silently missing)"
    buffers_streams = True

    def change(self, doc: Any, request: Request, ctx: Context) -> bool:
        changed = False
        for _, records in list(shape.record_lists(doc)):
            if len(records) >= 2:
                del records[math.ceil(len(records) / 2):]
                changed = True
        return changed

    def mutate(self, request: Request, response: Response, ctx: Context) -> Response | None:
        if response.content_type in STREAMS and 200 <= response.status < 300:
            body = truncate_stream(response.body, response.content_type)
            if body == response.body:
                return None
            ctx.fire(self.name)
            headers = {k: v for k, v in response.headers.items() if k != "content-length"}
            return Response(response.status, headers, body)
        return super().mutate(request, response, ctx)


def truncate_stream(body: bytes, content_type: str) -> bytes:
    """The first half of a stream's events, then its end marker (``[DONE]``) if it had one."""
    if content_type == "text/event-stream":
        events = [event for event in body.split(b"\n\n") if event.strip()]
        done = [event for event in events if event.strip() == b"data: [DONE]"]
        data = [event for event in events if event.strip() != b"data: [DONE]"]
        if len(data) < 2:
            return body
        kept = data[:math.ceil(len(data) / 2)] + done
        return b"".join(event + b"\n\n" for event in kept)
    lines = [line for line in body.split(b"\n") if line.strip()]
    if len(lines) < 2:
        return body
    return b"".join(line + b"\n" for line in lines[:math.ceil(len(lines) / 2)])


class WrongOwner(JsonOperator):
    """A list is filtered for the wrong owner.

    Where a list's records name their owner and more than one owner appears, the most common
    owner's records (the caller's) are left out and the others' kept; where all records share
    one owner, they come back attributed to another owner (one seen earlier in the run, or
    a made-up one).
    """

    name = "wrong_owner"
    description = "lists are filtered for another owner (tenant, project, user…)"

    def change(self, doc: Any, request: Request, ctx: Context) -> bool:
        seen: set[Any] = ctx.memory.setdefault((self.name, "owners"), set())
        changed = False
        for _, records in list(shape.record_lists(doc)):
            keys = sorted({key for record in records for key in record
                           if shape.is_owner_key(key) and _hashable(record[key])})
            if not keys:
                continue
            key = min(keys, key=lambda k: ctx.rank(self.name, request, k))
            owners = Counter(record[key] for record in records if _hashable(record.get(key)))
            seen.update(owners)
            if len(owners) > 1:
                mine = owners.most_common(1)[0][0]
                records[:] = [record for record in records if record.get(key) != mine]
            else:
                mine = next(iter(owners))
                other = _another_owner(mine, seen)
                for record in records:
                    if record.get(key) == mine:
                        record[key] = other
            changed = True
        return changed


def _hashable(value: Any) -> bool:
    return value is not None and isinstance(value, (str, int))


def _another_owner(owner: Any, seen: set[Any]) -> Any:
    others = sorted((o for o in seen if o != owner and type(o) is type(owner)), key=str)
    if others:
        return others[0]
    return owner + 1 if isinstance(owner, int) else f"{owner}-other"


class RefusalToSuccess(Operator):
    """A refusal (4xx) comes back as a success that echoes the request."""

    name = "refusal_to_success"
    description = "refusals (400/401/403/404/409/422/429) become 200/201 echoing the request"

    def mutate(self, request: Request, response: Response, ctx: Context) -> Response | None:
        if response.status not in REFUSALS:
            return None
        ctx.fire(self.name)
        return Response.of_json(201 if request.method == "POST" else 200, request.echo())


class NoAction(Operator):
    """Changes on existing resources are acknowledged but never done.

    DELETE, PUT and PATCH, and POST to an action of one resource (``…/{id}/stop``), are
    answered 2xx (echoing the request) without reaching the platform. Creating (POST to a
    collection) still works, so that there is something to act on.
    """

    name = "no_action"
    description = "updates, deletes and actions on a resource are acknowledged, not done"
    dirty = True

    def intercept(self, request: Request, ctx: Context) -> Response | None:
        if not _acts_on_existing(request):
            return None
        ctx.fire(self.name)
        if request.method == "DELETE":
            return Response(204, {}, b"")
        return Response.of_json(200, request.echo())


def _acts_on_existing(request: Request) -> bool:
    if request.method in ("PUT", "PATCH", "DELETE"):
        return True
    if request.method != "POST":
        return False
    segments = [part for part in request.path.split("/") if part]
    if not segments or is_id_segment(segments[-1]):
        return False
    return any(is_id_segment(part) for part in segments[:-1])


class Sporadic5xx(Operator):
    """About one request in 25 is answered 503 without reaching the platform."""

    name = "sporadic_5xx"
    description = "about 1 request in 25 fails with 503 (not forwarded)"
    dirty = True
    probability = 0.04

    def intercept(self, request: Request, ctx: Context) -> Response | None:
        if ctx.request_random(self.name, request).random() >= self.probability:
            return None
        ctx.fire(self.name)
        return Response.of_json(503, {"error": {"code": "UNAVAILABLE",
                                                "message": "service temporarily unavailable"}})


class Delay(Operator):
    """About one answer in 10 comes a second late."""

    name = "delay"
    description = "about 1 answer in 10 is held back 1 s"
    probability = 0.1
    seconds = 1.0

    def delay(self, request: Request, ctx: Context) -> float:
        if ctx.request_random(self.name, request).random() >= self.probability:
            return 0.0
        ctx.fire(self.name)
        return self.seconds


class Composite(Operator):
    """Several operators at once: the first interception wins, answers pass through each."""

    def __init__(self, operators: Sequence[Operator]) -> None:
        self.operators = list(operators)
        self.name = "+".join(op.name for op in self.operators) or "none"
        self.description = "; ".join(op.description for op in self.operators)
        self.dirty = any(op.dirty for op in self.operators)
        self.buffers_streams = any(op.buffers_streams for op in self.operators)

    def intercept(self, request: Request, ctx: Context) -> Response | None:
        for op in self.operators:
            answer = op.intercept(request, ctx)
            if answer is not None:
                return answer
        return None

    def mutate(self, request: Request, response: Response, ctx: Context) -> Response | None:
        current, changed = response, False
        for op in self.operators:
            mutated = op.mutate(request, current, ctx)
            if mutated is not None:
                current, changed = mutated, True
        return current if changed else None

    def delay(self, request: Request, ctx: Context) -> float:
        return sum(op.delay(request, ctx) for op in self.operators)


#: Every operator, by name, in the order the harness runs them.
OPERATORS: dict[str, type[Operator]] = {
    op.name: op for op in (DropField, RenameField, FreezeTimestamps, PerturbNumbers,
                           RefusalToSuccess, NoAction, TruncateLists, WrongOwner,
                           Sporadic5xx, Delay)
}


def parse(spec: str) -> Operator:
    """``drop_field`` or ``drop_field+delay`` (composed) → the operator; ``none`` → identity."""
    if spec in ("", "none"):
        return Composite([])
    names = [name.strip() for name in spec.split("+")]
    unknown = [name for name in names if name not in OPERATORS]
    if unknown:
        raise ValueError(f"unknown operator {', '.join(unknown)}: choose from "
                         f"{', '.join(OPERATORS)} (compose with +)")
    built = [OPERATORS[name]() for name in names]
    return built[0] if len(built) == 1 else Composite(built)
