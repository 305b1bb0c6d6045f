"""Read a YAML file of the user's, turning every problem into a one-line error.

The file is untrusted input: before anything is built from it, the reader checks that it is
a regular file of bounded size, and walks its YAML events (an iterative parse, no recursion)
to bound the nesting depth, the number of keys and the size the document would have once
every alias is expanded (an "alias bomb" of a few hundred bytes would otherwise expand to
gigabytes). Only then is it constructed, by a safe loader that rejects duplicate keys and
non-string keys and keeps dates as text (their validation is the schema's job).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

#: The largest file read, in bytes. A target file is a page or two.
MAX_BYTES = 1 << 20
#: The deepest nesting of mappings and lists.
MAX_DEPTH = 32
#: The most nodes the document may have with every alias expanded.
MAX_NODES = 200_000
#: The most keys over all mappings.
MAX_KEYS = 50_000


class _Problem(Exception):
    """A problem of the document, located: becomes the caller's one-line error."""

    def __init__(self, where: str, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.where = where
        self.problem = problem
        self.fix = fix


def _where(mark: Any) -> str:
    return f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else "YAML"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate and non-string keys and keeps timestamps as text."""

    #: The parser whose events :func:`_check_shape` walks (the same as the loader's).
    events: type[Any] = yaml.SafeLoader

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise _Problem(_where(node.start_mark), "expected a mapping", "fix the structure")
        seen: set[str] = set()
        for key_node, _ in node.value:  # the keys written here (a merge `<<` may be overridden)
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise _Problem(_where(key_node.start_mark),
                                   f"duplicate key {key_node.value!r}", "keep one of them: a "
                                   "later one would silently replace the first")
                seen.add(key_node.value)
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise _Problem(_where(key_node.start_mark), f"key {key!r} is not a string",
                               "write keys as plain words (quote numbers and dates)")
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


#: The same loader over libyaml's parser (when PyYAML has it): about 15 times faster on the
#: catalogue, which every run reads. Only its success counts: on any problem the file is read
#: again by the pure-Python loader, whose messages (and marks) are the ones users see.
_FastLoader: type[_StrictLoader] | None = None
if getattr(yaml, "__with_libyaml__", False):
    class _CStrictLoader(yaml.CSafeLoader):  # type: ignore[misc, name-defined]
        events = yaml.CSafeLoader  # type: ignore[attr-defined]
        construct_mapping = _StrictLoader.construct_mapping

    _FastLoader = _CStrictLoader  # type: ignore[assignment]

for _loader in (_StrictLoader, _FastLoader):
    if _loader is None:
        continue
    # Dates and times stay strings: `date: 2026-13-01` is then the schema's one-line error,
    # not a ValueError from PyYAML's constructor.
    _loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers
                if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _loader.add_constructor("tag:yaml.org,2002:timestamp",  # type: ignore[type-var]
                            yaml.SafeLoader.construct_yaml_str)
    _loader.add_constructor("tag:yaml.org,2002:map", _loader.construct_mapping)
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                            _loader.construct_mapping)


def _check_shape(text: str, parser: type[Any] = yaml.SafeLoader) -> None:
    """Bound depth, keys and expanded size by walking the parse events (no recursion)."""
    sizes: dict[str, int] = {}
    stack: list[list[Any]] = []  # per open collection: [anchor, nodes, is_mapping, keys]
    total_keys = 0
    root_size = 0

    def add(nodes: int, mark: Any) -> None:
        nonlocal root_size
        if stack:
            stack[-1][1] += nodes
        else:
            root_size += nodes
        if root_size > MAX_NODES or (stack and stack[-1][1] > MAX_NODES):
            raise _Problem(_where(mark), f"the document expands to more than {MAX_NODES} "
                           "values (aliases of aliases?)", "write the values out plainly")

    for event in yaml.parse(text, Loader=parser):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(stack) >= MAX_DEPTH:
                raise _Problem(_where(event.start_mark), f"nested deeper than {MAX_DEPTH} "
                               "levels", "flatten the structure")
            stack.append([event.anchor, 0, isinstance(event, yaml.MappingStartEvent), 0])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, nodes, _, _ = stack.pop()
            if anchor is not None:
                sizes[anchor] = nodes + 1
            add(nodes + 1, event.start_mark)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                sizes[event.anchor] = 1
            if stack and stack[-1][2]:
                stack[-1][3] += 1
                if stack[-1][3] % 2:  # every other scalar of a mapping is a key
                    total_keys += 1
                    if total_keys > MAX_KEYS:
                        raise _Problem(_where(event.start_mark),
                                       f"more than {MAX_KEYS} keys", "split the file")
            add(1, event.start_mark)
        elif isinstance(event, yaml.AliasEvent):
            add(sizes.get(event.anchor or "", 1), event.start_mark)


def read_yaml(file: Path, error: type[Exception], what: str, missing_fix: str) -> Any:
    """The parsed content of ``file``; ``error`` (one line: file, where, fix) if unreadable."""
    try:
        info = os.stat(file)
    except FileNotFoundError:
        raise error(f"{file}: no such {what}: {missing_fix}") from None
    except OSError as exc:
        raise error(f"{file}: cannot read the {what}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{file}: the {what} is not a regular file: give the path of a YAML file")
    if info.st_size > MAX_BYTES:
        raise error(f"{file}: the {what} is larger than {MAX_BYTES // 1024} KiB: "
                    f"give the YAML file itself")
    try:
        with open(file, encoding="utf-8") as handle:
            text = handle.read(MAX_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{file}: cannot read the {what}: {exc}") from None
    if len(text) > MAX_BYTES:
        raise error(f"{file}: the {what} is larger than {MAX_BYTES // 1024} KiB")
    if _FastLoader is not None:
        try:
            return _load(text, _FastLoader)
        except Exception:  # noqa: BLE001, S110 - read again below, for the exact message
            pass
    try:
        return _load(text, _StrictLoader)
    except _Problem as problem:
        raise error(f"{file}: {problem.where}: {problem.problem}: {problem.fix}") from None
    except yaml.reader.ReaderError as exc:
        raise error(f"{file}: character {exc.position + 1}: not valid YAML (control character "
                    f"{exc.character!r}): save the file as UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what_went_wrong = getattr(exc, "problem", None) or "syntax error"
        raise error(f"{file}: {_where(mark)}: not valid YAML ({_one_line(what_went_wrong)}): "
                    "fix the indentation or quoting there") from None
    except (ValueError, TypeError, OverflowError, RecursionError, AttributeError, IndexError,
            KeyError) as exc:
        # PyYAML's constructors raise these for values they cannot build: `!!int abc`,
        # `!!float x`, `!!binary` that is not base64, an integer of thousands of digits.
        raise error(f"{file}: a value cannot be read ({_one_line(str(exc))}): write it as "
                    "plain text, a number or a list") from None


def _load(text: str, loader: type[_StrictLoader]) -> Any:
    """Check the document's shape, then construct it with ``loader`` (a safe loader)."""
    _check_shape(text, loader.events)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader (or CSafeLoader) subclass


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
