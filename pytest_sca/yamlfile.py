"""Read a YAML file of the user's, turning every problem into a one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_yaml(file: Path, error: type[Exception], what: str, missing_fix: str) -> Any:
    """The parsed content of ``file``; ``error`` (one line: file, where, fix) if unreadable."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{file}: no such {what}: {missing_fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{file}: cannot read the {what}: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or "syntax error"
        raise error(f"{file}: {where}: not valid YAML ({problem}): "
                    "fix the indentation or quoting there") from None
