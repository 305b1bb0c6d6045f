"""Target files are untrusted input: every bad file is a one-line error, fast, never a raw
exception, a hang or an accepted invalid value.

The cases of the first table were each seen to crash, hang or slip through the loader
before it was hardened; the property test mutates the shipped example targets at random.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_sca.catalog import load_catalog
from pytest_sca.target import TargetFileError, load_target

CATALOG = load_catalog()
REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "targets").glob("*.yaml"))
ENV = {name: f"value-of-{name.lower()}" for path in EXAMPLES
       for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", path.read_text())}
PLATFORM = "name: t\nadapters:\n  platform:\n    url: https://api.example/\n"
BOMB = "".join(f"{c}: &{c} [" + ",".join([f"*{p}" if p else '"x"'] * 9) + "]\n"
               for p, c in zip(["", *"abcdefg"], "abcdefgh", strict=True))

#: file text → words its one-line error must contain
BAD: dict[str, tuple[str, str]] = {
    "bad-date": (PLATFORM + "evidence:\n  '10.2.a': {verdict: pass, reviewer: r, "
                 "date: 2026-13-01, document: d}\n", "date"),
    "int-tag": (PLATFORM + "    retries: !!int abc\n", "cannot be read"),
    "timestamp-tag": (PLATFORM + "    retries: !!timestamp x\n", "retries"),
    "huge-int": (PLATFORM + "    retries: " + "9" * 5000 + "\n", "cannot be read"),
    "mixed-keys": ("name: t\n1: x\n", "not a string"),
    "deep": ("name: t\nx: " + "[" * 200 + "]" * 200 + "\n", "nested deeper"),
    "alias-bomb": ("name: t\n" + BOMB, "expands to more than"),
    "duplicate-key": (PLATFORM + "    url: https://other.example/\n", "duplicate key"),
    "infinite-timeout": (PLATFORM + "    timeout: .inf\n", "timeout"),
    "huge-timeout": (PLATFORM + "    timeout: 86400\n", "timeout"),
    "missing-ca": (PLATFORM + "    verify: /nonexistent/ca.pem\n", "no such file"),
    "ftp-url": ("name: t\nadapters:\n  platform: {url: 'ftp://files.example/'}\n",
                "not an http(s) URL"),
    "bad-port-url": ("name: t\nadapters:\n  platform: {url: 'https://h:99999/'}\n",
                     "port out of range"),
    "ssh-port": ("name: t\nadapters:\n  ssh: {nodes: [{name: n, host: h, port: 99999}]}\n",
                 "port"),
    "empty-token": (PLATFORM + "    token: ''\n", "token"),
    "empty-secret-from-env": (PLATFORM + "    token: ${EMPTY_SECRET}\n", "token"),
    "missing-key-file": ("name: t\nadapters:\n  ssh: {nodes: [{name: n, host: h, "
                         "key_file: /nonexistent/id}]}\n", "no such file"),
    "not-a-mapping": ("- a\n- b\n", "top level"),
    "binary-garbage": ("\x00\x01\x02name: t\n", "not valid YAML (control character"),
}


def _load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Any:
    path = tmp_path / "target.yaml"
    path.write_text(text, encoding="utf-8")
    return load_target(path, CATALOG, {"EMPTY_SECRET": "", **(environ or {})})


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_is_one_fast_line(tmp_path: Path, name: str) -> None:
    text, words = BAD[name]
    started = time.monotonic()
    with pytest.raises(TargetFileError) as error:
        _load(tmp_path, text)
    assert time.monotonic() - started < 1.0
    message = str(error.value)
    assert "\n" not in message and message.startswith(str(tmp_path / "target.yaml"))
    assert words in message, message


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero"), tmp_path):
        started = time.monotonic()
        with pytest.raises(TargetFileError, match="not a regular file"):
            load_target(path, CATALOG, {})
        assert time.monotonic() - started < 1.0


def test_large_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TargetFileError, match="larger than"):
        _load(tmp_path, "name: t\n" + "# padding\n" * 200_000)


def test_a_bad_target_file_exits_4_with_one_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", bomb="name: t\n" + BOMB)
    result = pytester.runpytest_subprocess("--sca-target=bomb.yaml", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stderr.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output
    assert [line for line in output.splitlines() if "bomb.yaml" in line]


# -- property: random mutations of the shipped examples ---------------------------------------

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40),
                     st.sampled_from(["", "~/x", "ftp://h/", "https://h:0/", ".inf", "-1",
                                      "${UNSET_VARIABLE}", "!!int x", "2026-13-01"]))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _set(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[head] = _set(copy[head], tuple(rest), value)
    return copy


@st.composite
def mutated_targets(draw: st.DrawFn) -> str:
    example = draw(st.sampled_from(EXAMPLES))
    document = yaml.safe_load(example.read_text())
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(document)))
        kind = draw(st.sampled_from(["scalar", "list", "mapping", "extra-key"]))
        if kind == "scalar":
            value: Any = draw(_SCALARS)
        elif kind == "list":
            value = draw(st.lists(_SCALARS, max_size=3))
        elif kind == "mapping":
            value = draw(st.dictionaries(st.text(max_size=8), _SCALARS, max_size=3))
        else:
            value = {draw(st.text(min_size=1, max_size=12)): draw(_SCALARS)}
        document = _set(document, path, value)
    text = yaml.safe_dump(document, allow_unicode=True)
    if draw(st.booleans()):  # damage the text itself too
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.text(max_size=20)) + text[cut:]
    return text


@pytest.mark.slow
@settings(max_examples=600, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=mutated_targets())
def test_mutated_example_loads_or_fails_in_one_line(tmp_path: Path, text: str) -> None:
    # CPU time, not wall time: a loaded CI machine must not turn a bound into a flake.
    started = time.process_time()
    try:
        _load(tmp_path, text, ENV)
    except TargetFileError as error:
        assert "\n" not in str(error)
    assert time.process_time() - started < 1.0
