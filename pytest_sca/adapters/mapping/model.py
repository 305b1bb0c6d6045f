"""What a mapping entry may say: requests, sequences of steps, lists and answers (pydantic).

Every template is compiled while the entry is validated, so that a bad expression is
an error when the target file is loaded, never in the middle of a check.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .pointers import check_pointer, is_pointer
from .templates import Expression, Template, TemplateFailure, compile_expression, split_text

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Format = Literal["json", "text", "none"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _compile_all(value: Any) -> Any:
    try:
        Template(value)
    except TemplateFailure as exc:
        raise ValueError(str(exc)) from None
    return value


def expression_of(value: str) -> Expression:
    """The compiled expression of a condition or locator: one ``{…}`` (braces optional)."""
    text = value.strip()
    if "{" in text:
        pieces = split_text(text)
        if len(pieces) == 1 and isinstance(pieces[0], Expression):
            return pieces[0]
        raise TemplateFailure(f"{value!r} must be one expression in braces, "
                              "e.g. {answer.state == 'DONE'}")
    return compile_expression(text, value)


def _expression(value: str | None) -> str | None:
    """Validate a condition (``until``, ``when``, ``for_each``…)."""
    if value is None:
        return None
    try:
        expression_of(value)
    except TemplateFailure as exc:
        raise ValueError(str(exc)) from None
    return value


def locator_of(value: str) -> str | Expression:
    """A locator field (``result``, ``items``, ``next``…): a JSON pointer, or an expression."""
    return value if is_pointer(value) else expression_of(value)


def _locator(value: str | None) -> str | None:
    """A JSON pointer (``/data/items``) or an expression in braces (``{answer.a or []}``)."""
    if value is None or is_pointer(value):
        return value
    if "{" not in value:
        check_pointer(value)
    return _expression(value)


def _check_statuses(value: list[int]) -> list[int]:
    bad = [status for status in value if not 400 <= status <= 599]
    if bad:
        raise ValueError(f"status {bad[0]} is not an error status (400-599): 2xx and 3xx "
                         "are answers already")
    return value


def _check_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"path {value!r} must start with '/'")
    try:
        split_text(value)
    except TemplateFailure as exc:
        raise ValueError(str(exc)) from None
    return value


class RequestSpec(_Strict):
    """One HTTP request of an operation: route, templates, and which statuses are answers."""

    method: Method
    path: str = Field(description="route template below the base URL, e.g. /v2/jobs/{job_id}")
    query: dict[str, Any] = Field(default_factory=dict, description="query parameter templates")
    body: Any = Field(default=None, description="template of the request body")
    headers: dict[str, str] = Field(default_factory=dict, description="request header templates")
    format: Format = Field(default="json", description="what the answer is: json, text or none")
    encoding: Literal["json", "form"] = Field(
        default="json", description="how the body is sent: JSON, or an HTML form")
    ok: list[int] = Field(
        default_factory=list,
        description="statuses >= 400 that are answers, not refusals (e.g. 404 on a delete)")

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _check_path(value)

    @field_validator("query", "body", "headers")
    @classmethod
    def _templates(cls, value: Any) -> Any:
        return _compile_all(value)

    @field_validator("ok")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        return _check_statuses(value)

    def templates(self) -> Iterator[tuple[str, Template]]:
        """(field, template) of every request template."""
        yield "path", Template(self.path)
        yield "query", Template(self.query)
        yield "body", Template(self.body)
        yield "headers", Template(self.headers)


class Step(RequestSpec):
    """One call of an operation that takes several: named, conditional, repeated."""

    name: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="later steps read this step's answer as steps.<name>")
    when: str | None = Field(default=None, description="skip the step unless this is true")
    for_each: str | None = Field(
        default=None, description="run the step once per element of this list (as item)")
    until: str | None = Field(
        default=None,
        description="repeat the request until this is true (answer, status, header)")
    every: float = Field(default=0.5, gt=0, le=60, description="first seconds between polls")
    timeout: float = Field(default=60.0, gt=0, le=3600, description="deadline of until, s")
    compensate: RequestSpec | None = Field(
        default=None, description="request that undoes this step if a later step fails")

    @field_validator("when", "for_each", "until")
    @classmethod
    def _conditions(cls, value: str | None) -> str | None:
        return _expression(value)


class Pages(_Strict):
    """How a vendor serves a long list: page numbers, offsets, cursors or Link headers."""

    style: Literal["page", "offset", "cursor", "link"]
    param: str | None = Field(
        default=None, description="query (or body) field of the page number, offset or cursor")
    size_param: str | None = Field(default=None, description="field of the page size")
    size: int = Field(default=100, ge=1, le=10000, description="page size asked for")
    start: int | None = Field(default=None, description="first page number (1) or offset (0)")
    next: str | None = Field(
        default=None, description="cursor: pointer or expression of the next page's token")
    total: str | None = Field(
        default=None, description="pointer or expression of the total number of items")
    max_pages: int = Field(default=100, ge=1, le=100000, description="at most this many pages")
    location: Literal["query", "body"] = Field(
        default="query", alias="in", description="where param and size_param go")

    @field_validator("next", "total")
    @classmethod
    def _locators(cls, value: str | None) -> str | None:
        return _locator(value)

    @model_validator(mode="after")
    def _complete(self) -> Pages:
        if self.style in ("page", "offset", "cursor") and not self.param:
            raise ValueError(f"pages of style {self.style} need 'param' (the query field)")
        if self.style == "cursor" and not self.next:
            raise ValueError("pages of style cursor need 'next' (where the next token is)")
        return self


def _check_response(response: Mapping[str, Any], prefix: str) -> None:
    for name, spec in response.items():
        where = f"{prefix}{name}"
        if isinstance(spec, Mapping) and "each" in spec:
            extra = set(spec) - {"each", "fields", "values"}
            if extra:
                raise ValueError(f"field {where!r}: a list renaming takes each, fields and "
                                 f"values, not {sorted(extra)[0]!r}")
            try:
                _locator(str(spec["each"]))
            except ValueError as exc:
                raise ValueError(f"field {where!r}: {exc}") from None
            if spec.get("fields") is not None:
                _check_response(spec["fields"], f"{where}[].")
            continue
        if isinstance(spec, Mapping):
            _check_response(spec, f"{where}.")
            continue
        if spec is None or isinstance(spec, (bool, int, float)):
            continue  # a constant
        try:
            if not isinstance(spec, str):
                raise ValueError(f"{spec!r} is neither a JSON pointer nor a mapping")
            if "{" in spec and not is_pointer(spec):
                _compile_all(spec)
            else:
                check_pointer(spec)
        except ValueError as exc:
            raise ValueError(f"field {where!r}: {exc}") from None


class Operation(_Strict):
    """How one operation is spelt: one request (``method``, ``path``…) or ``steps``, and where
    the answer's fields are."""

    method: Method | None = None
    path: str | None = Field(
        default=None, description="route template below the base URL, e.g. /v2/workloads/{job_id}")
    query: dict[str, Any] = Field(default_factory=dict, description="query parameter templates")
    body: Any = Field(default=None, description="JSON template of the request body")
    headers: dict[str, str] = Field(default_factory=dict, description="request header templates")
    format: Format = Field(default="json", description="answer kind")
    encoding: Literal["json", "form"] = "json"
    ok: list[int] = Field(default_factory=list,
                          description="statuses >= 400 that are answers, not refusals")
    steps: list[Step] | None = Field(
        default=None, description="several calls, in order (instead of method/path)")
    answer: str | None = Field(
        default=None, description="the step whose answer the operation returns (default: last)")
    result: str = Field(default="", description="JSON pointer of the object in the answer")
    items: str | None = Field(default=None, description="JSON pointer of the list in the answer")
    response: dict[str, Any] | None = Field(
        default=None,
        description="reference field → JSON pointer inside the object / each item, an "
        "expression in braces, a constant, a nested mapping, or {each, fields} for a list",
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
    pages: Pages | None = Field(default=None, description="pagination of a list operation")
    filter: dict[str, str] = Field(
        default_factory=dict,
        description="parameter → client-side filter after listing: field, field:<name>, "
        "labels, or an expression of item and value")
    sort: list[str] = Field(
        default_factory=list, description="sort the list by these fields (-field: descending)")
    ignore: list[str] = Field(
        default_factory=list,
        description="parameters the vendor cannot honour, knowingly left out")

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else _check_path(value)

    @field_validator("query", "body", "headers")
    @classmethod
    def _templates(cls, value: Any) -> Any:
        return _compile_all(value)

    @field_validator("ok")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        return _check_statuses(value)

    @field_validator("result", "items")
    @classmethod
    def _locators(cls, value: str | None) -> str | None:
        return _locator(value)

    @field_validator("response")
    @classmethod
    def _response(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _check_response(value, "")
        return value

    @field_validator("filter")
    @classmethod
    def _filters(cls, value: dict[str, str]) -> dict[str, str]:
        for param, rule in value.items():
            if rule in ("field", "labels") or rule.startswith("field:"):
                continue
            try:
                _expression(rule)
            except ValueError as exc:
                raise ValueError(f"{param}: {exc}") from None
            if "{" not in rule:
                raise ValueError(f"{param}: {rule!r} is not a filter: use field, "
                                 "field:<name>, labels, or an expression in braces")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Operation:
        if self.steps is None and (self.method is None or self.path is None):
            raise ValueError("give method and path, or steps")
        if self.steps is not None:
            single = [key for key in ("method", "path", "query", "body", "headers", "ok")
                      if key in self.model_fields_set]
            if single:
                raise ValueError(f"{single[0]!r} belongs in a step when the operation has steps")
            if not self.steps:
                raise ValueError("steps: give at least one step")
            names = [step.name for step in self.steps if step.name]
            if len(names) != len(set(names)):
                raise ValueError("steps: two steps have the same name")
            if self.answer is not None and self.answer not in names:
                raise ValueError(f"answer: no step is named {self.answer!r}")
        elif self.answer is not None:
            raise ValueError("answer names a step: give steps")
        return self

    @property
    def sequence(self) -> list[Step]:
        """The steps of the operation (a single request is one step)."""
        if self.steps is not None:
            return list(self.steps)
        assert self.method is not None and self.path is not None
        return [Step(method=self.method, path=self.path, query=self.query, body=self.body,
                     headers=self.headers, format=self.format, encoding=self.encoding,
                     ok=self.ok)]

    @property
    def answer_index(self) -> int:
        """Index of the step whose answer is the operation's."""
        steps = self.sequence
        if self.answer is None:
            return len(steps) - 1
        return next(i for i, step in enumerate(steps) if step.name == self.answer)

    @property
    def answer_format(self) -> Format:
        """What the answering step returns."""
        return self.sequence[self.answer_index].format
