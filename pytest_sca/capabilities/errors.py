"""How a capability call can end other than with an answer: the contract's exceptions.

Every adapter raises these and only these, whatever its transport, so that a
check never imports a transport's error class:

- :class:`Refused`: the target answered and refused the request (HTTP 4xx, a
  Kubernetes ``Forbidden``, a ComfyUI ``node_errors`` answer…). A refusal is an
  observation a check may assert on, classified by :class:`RefusalReason`.
- :class:`TargetError`: the target could not answer usefully (unreachable, timed
  out, 5xx, an answer of the wrong shape). Reported as ``error``, never ``fail``.
- :class:`Unsupported`: the target does not offer the operation at all (a mapping
  without a route for it, a cluster without the API group). Reported as
  ``not_assessed`` with the reason.
- :class:`WaitTimeout`: a bounded wait ended before the awaited state.
"""

from __future__ import annotations

import enum
from typing import Generic, TypeVar

from ..verdicts import NotAssessed


class TargetError(Exception):
    """The target answered in a way that stops a check from finishing.

    A 5xx answer, a malformed body, an unexpected protocol state. The plugin
    reports it as ``error`` (never ``fail``): nothing was observed about the
    requirement itself.
    """


class Unsupported(NotAssessed):
    """The target offers no means for an operation; the message names what is missing."""


class RefusalReason(str, enum.Enum):
    """Why the target refused: the classes a check tells apart."""

    #: No or invalid credentials (HTTP 401).
    UNAUTHENTICATED = "unauthenticated"
    #: Authenticated, but not allowed (HTTP 403).
    FORBIDDEN = "forbidden"
    #: The resource is not there, or not visible to the caller (HTTP 404, 410).
    NOT_FOUND = "not_found"
    #: The resource's state does not allow the action (HTTP 409, 412).
    CONFLICT = "conflict"
    #: The request itself is wrong (HTTP 400, 405, 413, 415, 422).
    INVALID = "invalid"
    #: A quota, limit or rate would be exceeded (HTTP 429, or a quota error code).
    QUOTA = "quota"
    #: A refusal none of the above describes.
    OTHER = "other"

    def __str__(self) -> str:
        return self.value


#: Error codes (lower case, ``-`` and spaces as ``_``) that name their class whatever the status.
_CODES: dict[str, RefusalReason] = {
    **dict.fromkeys(("quota_exceeded", "insufficient_quota", "exceeded_quota", "quota",
                     "resource_exhausted", "resourceexhausted", "quotaexceeded",
                     "rate_limit_exceeded", "too_many_requests", "toomanyrequests",
                     "assocgrpgres", "limit_exceeded"), RefusalReason.QUOTA),
    **dict.fromkeys(("unauthorized", "unauthenticated", "invalid_api_key", "invalid_token",
                     "authentication_error", "invalidaccesskeyid",
                     "signaturedoesnotmatch"), RefusalReason.UNAUTHENTICATED),
    **dict.fromkeys(("forbidden", "permission_denied", "access_denied", "accessdenied",
                     "permission_error"), RefusalReason.FORBIDDEN),
    **dict.fromkeys(("not_found", "notfound", "nosuchkey", "nosuchbucket",
                     "resource_does_not_exist", "model_not_found"), RefusalReason.NOT_FOUND),
    **dict.fromkeys(("conflict", "already_exists", "alreadyexists",
                     "resource_already_exists", "invalid_state"), RefusalReason.CONFLICT),
    **dict.fromkeys(("invalid_request", "invalid_request_error", "invalid", "bad_request",
                     "validation_error", "invalid_parameter_value", "invalid_argument",
                     "prompt_outputs_failed_validation", "prompt_no_outputs",
                     "invalid_prompt"), RefusalReason.INVALID),
}

_STATUSES: dict[int, RefusalReason] = {
    401: RefusalReason.UNAUTHENTICATED, 403: RefusalReason.FORBIDDEN,
    404: RefusalReason.NOT_FOUND, 410: RefusalReason.NOT_FOUND,
    409: RefusalReason.CONFLICT, 412: RefusalReason.CONFLICT,
    400: RefusalReason.INVALID, 405: RefusalReason.INVALID, 413: RefusalReason.INVALID,
    415: RefusalReason.INVALID, 422: RefusalReason.INVALID, 429: RefusalReason.QUOTA,
}


def classify(status: int | None, code: str | None = None) -> RefusalReason:
    """The class of a refusal: its error code when the code names one, else its status."""
    if code:
        key = code.strip().lower().replace("-", "_").replace(" ", "_")
        if key in _CODES:
            return _CODES[key]
    if status is None:
        return RefusalReason.OTHER
    return _STATUSES.get(status, RefusalReason.OTHER)


class Refused(Exception):
    """The target refused a request.

    ``what`` names the request (``POST /api/v1/jobs``, ``kubernetes create job``),
    ``status`` the protocol status when there is one (HTTP), ``code`` the
    target's machine-readable error code, ``reason`` its class. The message is
    one line and never carries a secret (adapters redact it). ``enveloped`` says
    whether the answer carried its code and message where the platform documents
    them (its error envelope); ``None`` where the transport has no such envelope.
    """

    def __init__(self, what: str, status: int | None, code: str | None, message: str,
                 reason: RefusalReason | None = None, *, enveloped: bool | None = None) -> None:
        self.what = what
        self.status = status
        self.code = code
        self.message = message
        self.enveloped = enveloped
        self.reason = reason if reason is not None else classify(status, code)
        super().__init__(f"{what} answered {status if status is not None else '-'} "
                         f"{code or '-'} ({self.reason}): {message}")

    @property
    def is_authorization(self) -> bool:
        """Whether this is an access-control refusal: not authenticated, or not allowed."""
        return self.reason in (RefusalReason.UNAUTHENTICATED, RefusalReason.FORBIDDEN)


_Last = TypeVar("_Last")


class WaitTimeout(TimeoutError, Generic[_Last]):
    """A bounded wait ended before the awaited state; ``last`` is what was read last."""

    def __init__(self, message: str, last: _Last | None) -> None:
        super().__init__(message)
        self.last = last
