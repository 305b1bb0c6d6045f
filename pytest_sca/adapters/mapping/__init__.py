"""The declarative mapping: how each platform operation is spelt on the wire.

The reference API (docs/platform-api.md) is only the default table; a vendor
whose routes and field names differ writes ``adapters.platform.mapping`` in
the target file (docs/mapping.md) and the platform adapter follows it through
the same code path. Nothing here opens a connection: the platform client hands
the engine a ``send`` callable.

- :mod:`.templates`: ``{expressions}`` evaluated by Jinja2's sandbox, and the filters;
- :mod:`.model`: what an operation entry may say (requests, steps, pages, answers);
- :mod:`.engine`: running an operation (steps, polls, pages, compensation, reshaping);
- :mod:`.validation`: the reference operations, and one-line errors for bad mappings.
"""

from __future__ import annotations

from ...capabilities import Unsupported
from .engine import OperationNotMapped, OperationTable, Reply, Request, Send
from .model import Operation, Pages, RequestSpec, Step
from .pointers import check_pointer, error_envelope, resolve_pointer
from .templates import FILTERS, Template, TemplateFailure
from .validation import (
    OPERATIONS,
    REFERENCE_API,
    MappingError,
    OperationSpec,
    build_table,
    load_operations,
    validate_mapping,
    validate_operation,
)

__all__ = [
    "FILTERS",
    "OPERATIONS",
    "REFERENCE_API",
    "MappingError",
    "Operation",
    "OperationNotMapped",
    "OperationSpec",
    "OperationTable",
    "Pages",
    "Reply",
    "Request",
    "RequestSpec",
    "Send",
    "Step",
    "Template",
    "TemplateFailure",
    "Unsupported",
    "build_table",
    "check_pointer",
    "load_operations",
    "error_envelope",
    "resolve_pointer",
    "validate_mapping",
    "validate_operation",
]
