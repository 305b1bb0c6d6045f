"""constraints.txt pins every dependency the project names, within its declared range."""

from __future__ import annotations

from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
#: The extras .ci/run installs (with what they pull in): the others (probes' torch, dev's
#: ruff) are the user's choice.
CI_EXTRAS = ("sandbox", "llama", "test", "mlflow")


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version
    return pins


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = list(project["dependencies"])
    for extra in CI_EXTRAS:
        declared += project["optional-dependencies"][extra]
    pins = _pins()
    problems = []
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name == "pytest-sca":
            continue
        if name not in pins:
            problems.append(f"{name} is not pinned")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{name}=={pins[name]} is outside {requirement.specifier}")
    assert not problems, "; ".join(problems)


def test_ci_and_the_readme_install_with_the_constraints() -> None:
    for path in (REPO / ".ci" / "run", REPO / "README.md"):
        text = path.read_text(encoding="utf-8")
        assert "pip install -c constraints.txt" in text, path
