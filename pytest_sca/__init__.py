"""pytest-sca: executable conformance checks for intelligent computing (AI) cloud platforms."""

from __future__ import annotations

__version__ = "0.1.0"
