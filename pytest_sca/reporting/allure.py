"""Allure integration: labels from the catalogue, and the run's environment file.

epic = domain, feature = subdomain, story = item id and title, severity from
level (shall → critical, may → minor), the requirement text as description.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .. import __version__
from ..catalog import Catalog
from ..collection import clause_id_of
from ..redaction import Redactor

if TYPE_CHECKING:
    from . import Evaluation

_SEVERITY = {"shall": "critical", "may": "minor"}


def label_items(items: list[pytest.Item], catalog: Catalog) -> None:
    """Add allure-pytest's label and description markers to every clause check."""
    for item in items:
        clause_id = clause_id_of(item)
        if clause_id is None:
            continue
        clause = catalog.item(clause_id)
        domain = catalog.domain(clause.domain)
        sub = catalog.subdomain(clause.subdomain)
        labels = {
            "epic": f"{domain.chapter} {domain.name_zh} {domain.name_en}",
            "feature": f"{sub.id} {sub.name_zh} {sub.name_en}",
            "story": f"{clause.id} {clause.text_en}",
            "severity": _SEVERITY[clause.level],
            "tag": clause.level,
        }
        for label_type, value in labels.items():
            item.add_marker(pytest.mark.allure_label(value, label_type=label_type))
        description = (f"[{clause.id}] ({clause.level}, {clause.source})\n\n{clause.text_zh}\n\n"
                       f"{clause.text_en}\n\nHow it is checked: {clause.how_to_check}")
        item.add_marker(pytest.mark.allure_description(description))


def write_environment(alluredir: str, evaluation: Evaluation) -> None:
    """Allure's ``environment.properties``: target, edition, tool version, run id, score."""
    run = evaluation.run
    assert run.target is not None
    values = {
        "sca.target": run.target.name,
        "sca.target.fingerprint": run.target.fingerprint,
        "sca.standard": run.catalog.edition.id,
        "sca.tool.version": __version__,
        "sca.run.id": run.run_id,
        "sca.score": f"{evaluation.scores.overall.score:.3f}",
        "sca.grade": f"{evaluation.scores.grade} ({evaluation.scores.scheme.status})",
    }
    folder = Path(alluredir)
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{key}={_escape(value)}\n" for key, value in values.items())
    (folder / "environment.properties").write_text(run.redact(text), encoding="utf-8")


def mask_results(alluredir: str, redact: Redactor) -> None:
    """Mask secrets in every text file of the results folder.

    allure-pytest formats exceptions and fixture outcomes on its own, from
    objects the plugin does not see; this last pass makes sure nothing it
    wrote carries a secret.
    """
    if not redact:
        return
    for path in Path(alluredir).iterdir():
        if path.is_file():
            data = path.read_bytes()
            masked = redact.bytes(data)
            if masked != data:
                path.write_bytes(masked)


def _escape(value: str) -> str:
    """Java properties escaping for non-ASCII text and separators."""
    out = []
    for char in value:
        if char in "=:\\":
            out.append("\\" + char)
        elif ord(char) > 126:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)
