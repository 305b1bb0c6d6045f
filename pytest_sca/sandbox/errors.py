"""The one error type the sandbox's platform logic raises; the API turns it into a JSON body."""

from __future__ import annotations


class ApiError(Exception):
    """A client-visible error: HTTP status, machine code and one-line message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(what: str) -> ApiError:
    """404 ``not_found`` for ``what`` (e.g. "job job-1234")."""
    return ApiError(404, "not_found", f"{what} not found")


def forbidden(message: str) -> ApiError:
    """403 ``forbidden``."""
    return ApiError(403, "forbidden", message)


class UnenvelopedError(ApiError):
    """An error the API answers as a bare ``{"detail": message}``, outside its documented
    envelope (the ``auth_errors_unenveloped`` fault)."""
