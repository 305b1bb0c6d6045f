"""Chapter 6 checks: pass on the healthy sandbox, fail under the fault that breaks each."""

from __future__ import annotations

from pathlib import Path

import pytest

from .matrix import assert_fails_under_fault, evaluate, verdicts

#: clause item → (sandbox fault that breaks it, words the fail reason must contain)
BREAKS: dict[str, tuple[str, str]] = {
    "6.1.a": ("cross_tenant_read", "tenant B's user could get the job"),
    "6.1.b": ("quota_not_enforced", "quota 1 accelerator not enforced"),
    "6.1.c": ("readonly_role_can_write", "a read-only user could submit a job"),
}


def test_every_check_passes_on_the_healthy_sandbox(tmp_path: Path) -> None:
    assert verdicts(evaluate(tmp_path, BREAKS)) == {item: ("pass", "") for item in BREAKS}


@pytest.mark.parametrize("item", sorted(BREAKS))
def test_check_fails_under_its_fault(item: str, tmp_path: Path) -> None:
    assert_fails_under_fault(tmp_path, item, *BREAKS[item])
