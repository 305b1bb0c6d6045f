"""Architecture rules are tests: the import contracts (import-linter) and the types (mypy).

The contracts live in pyproject.toml: the core imports neither the suites nor the sandbox,
adapters do not import the sandbox, the suites reach platforms only through the capability
contract, and no module imports in a cycle at any level of the package.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).with_name(
        "lint-imports"))
    result = subprocess.run([lint_imports, "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout


@pytest.mark.slow
def test_the_package_type_checks() -> None:
    """mypy over pytest_sca, the shipped checks included: no check takes an untyped capability."""
    api = pytest.importorskip("mypy.api")
    out, err, status = api.run(["--no-incremental", "--cache-dir=/dev/null",
                                str(ROOT / "pytest_sca")])
    assert status == 0, out[-6000:] + err[-2000:]
