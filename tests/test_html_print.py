"""The HTML report as a deliverable, in headless Chromium: it renders, and "print to PDF"
gives a readable document whose first page holds the summary and where evidence is
expanded, numbers formatted and derived texts marked."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from . import chromium

pytestmark = pytest.mark.skipif(
    chromium.executable() is None or shutil.which("pdftotext") is None,
    reason="chromium and poppler-utils are not installed (.ci/run installs them)")

CHECKS = """
import pytest


@pytest.mark.clause("6.1.a")
def test_pass(sca):
    sca.evidence("tenant listing", "EVIDENCE-MARKER-6-1-A tenant-a tenant-b")


@pytest.mark.clause("6.1.b")
def test_fail():
    assert False, "[6.1.b] quota 1 card not enforced: job requesting 2 reached running"


@pytest.mark.clause("6.1.c")
def test_error():
    raise RuntimeError("POST /api/v1/jobs answered 503")


@pytest.mark.clause("9.1.a")
def test_measured(sca):
    sca.measure("matmul fp32 throughput", 26.85633391480387, "GFLOP/s", threshold=10.0,
                comparison=">=", threshold_source="target file capabilities.perf")


@pytest.mark.clause("10.2.a")
def test_manual(sca):
    sca.not_assessed("physical security has no API")


@pytest.mark.clause("6.3.a")
def test_waived():
    assert False, "[6.3.a] no preset images"
"""

TARGET = """
name: print-me
evaluation:
  laboratory: Example Evaluation Laboratory
  evaluator: Li Ming
  approver: Zhang Wei
  client: ACME Cloud
  report_id: EX-2026-001
  start: 2026-11-20
  end: 2026-11-21
evidence:
  "10.2.a": {verdict: pass, reviewer: Wang Fang, date: 2026-10-30, document: "audit 3.2"}
waivers:
  "6.3.a": {reason: "images come from the customer's registry", expires: 2099-12-31}
"""


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("print")
    (folder / "target.yaml").write_text(TARGET, encoding="utf-8")
    (folder / "checks").mkdir()
    (folder / "checks" / "test_checks.py").write_text(CHECKS, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pytest", "--sca-target=target.yaml", "checks",
                    "-p", "no:cacheprovider", "--sca-html=report.html"],
                   cwd=folder, capture_output=True, timeout=600, check=False)
    page = folder / "report.html"
    png = chromium.screenshot(page, folder / "screen.png")
    pdf = chromium.print_to_pdf(page, folder / "report.pdf")
    return {"folder": folder, "png": png, "pdf": pdf,
            "html": page.read_text(encoding="utf-8")}


@pytest.mark.slow
def test_it_renders(printed: dict[str, Any]) -> None:
    data = printed["png"].read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000


def test_the_first_printed_page_is_the_summary(printed: dict[str, Any]) -> None:
    first = chromium.pdf_text(printed["pdf"], 1, 1)
    for words in ("Evaluation report", "print-me", "Summary", "no grade: partial evaluation",
                  "partial evaluation — not a grade", "score", "conformant",
                  "What did not conform, and why", "[6.1.b] quota 1 card not enforced",
                  "POST /api/v1/jobs answered 503", "Waivers", "page 1 of"):
        assert words in first, words
    assert "Scope and identity" not in first


def test_the_printed_document_is_readable(printed: dict[str, Any]) -> None:
    pages = chromium.pdf_pages(printed["pdf"])
    assert 4 <= pages <= 12, pages
    text = chromium.pdf_text(printed["pdf"])
    for words in ("Scope and identity", "Laboratory and evaluator", "Example Evaluation "
                  "Laboratory", "EX-2026-001", "2026-11-20 – 2026-11-21", "signature and date",
                  "Scores", "Subdomains", "derived text", "quoted",
                  "matmul fp32 throughput: 26.9 GFLOP/s (threshold ≥ 10 GFLOP/s",
                  "EVIDENCE-MARKER-6-1-A", "manual pass by Wang Fang", "How to read this report"):
        assert words in text, words
    assert "26.85633391480387" not in text
    assert f"page {pages} of {pages}" in text


def test_every_item_has_an_anchor_and_a_contents_entry(printed: dict[str, Any]) -> None:
    page = printed["html"]
    report = _report(printed["folder"])
    for item in report["items"]:
        assert f'id="item-{item["id"]}"' in page and f"href='#item-{item['id']}'" in page
    assert "<script" not in page and "http://" not in page.split("<body>")[1].split(
        "</header>")[0]


def _report(folder: Path) -> dict[str, Any]:
    text = (folder / "reports" / "sca-report.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]
