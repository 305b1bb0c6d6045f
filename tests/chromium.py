"""Headless Chromium (Debian's `chromium`) for the HTML report's tests: a screenshot, and
the PDF that "print to PDF" gives. Also run by hand to refresh the screenshots in docs/:

    python -m tests.chromium reports/sca-report.html docs/report-screen.png docs/report.pdf
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: The flags of every run: no sandbox (root in CI), no GPU, nothing fetched or synced.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def executable() -> str | None:
    """The Chromium binary, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(*arguments: str, timeout: float = 120) -> None:
    binary = executable()
    if binary is None:
        raise RuntimeError("chromium is not installed: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="sca-chromium-") as profile:
        done = subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *arguments],
                              capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 1700) -> Path:
    """A screenshot of the top of ``page`` as a browser window shows it."""
    _run(f"--window-size={width},{height}", f"--screenshot={png}", page.resolve().as_uri())
    return png


def print_to_pdf(page: Path, pdf: Path) -> Path:
    """What "print to PDF" gives, with the page's own headers and footers (@page)."""
    _run("--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.resolve().as_uri())
    return pdf


def pdf_pages(pdf: Path) -> int:
    """The page count (pdfinfo, poppler-utils)."""
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return int(next(line.split()[-1] for line in info.stdout.splitlines()
                    if line.startswith("Pages:")))


def pdf_text(pdf: Path, first: int = 1, last: int | None = None) -> str:
    """The text of pages ``first``..``last`` (pdftotext, poppler-utils)."""
    command = ["pdftotext", "-f", str(first), "-layout"]
    if last is not None:
        command += ["-l", str(last)]
    done = subprocess.run([*command, str(pdf), "-"], capture_output=True, text=True, check=True)
    return done.stdout


def pdf_page_png(pdf: Path, page: int, png: Path, dpi: int = 80) -> Path:
    """One page of a PDF as a PNG (pdftoppm, poppler-utils)."""
    stem = png.with_suffix("")
    subprocess.run(["pdftoppm", "-f", str(page), "-l", str(page), "-r", str(dpi), "-png",
                    "-singlefile", str(pdf), str(stem)], check=True)
    return png


if __name__ == "__main__":
    html, png, pdf = (Path(a) for a in sys.argv[1:4])
    screenshot(html, png)
    print_to_pdf(html, pdf)
    pdf_page_png(pdf, 1, png.with_name(png.stem + "-print-page1.png"))
    print(f"{png}, {pdf}: {pdf_pages(pdf)} pages")
