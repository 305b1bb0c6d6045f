"""``pytest --sca-list``: the catalogue, with level, source and the checks that cover each item."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import pytest

from ..collection import UncoveredItem, clause_id_of

if TYPE_CHECKING:
    from ..runstate import ScaRun


def print_catalog(session: pytest.Session, run: ScaRun) -> None:
    checks: dict[str, list[str]] = defaultdict(list)
    for item in session.items:
        clause_id = clause_id_of(item)
        if clause_id is not None and not isinstance(item, UncoveredItem):
            checks[clause_id].append(item.nodeid)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    write = reporter.write_line if reporter else print
    catalog = run.catalog
    write(f"{catalog.edition.title_zh} / {catalog.edition.title_en}")
    write(f"edition {catalog.edition.id} ({catalog.edition.status}), {len(catalog)} items; "
          f"covered by a check: {sum(1 for c in catalog if checks[c.id])}")
    for domain in catalog.domains:
        write("")
        write(f"{domain.chapter} {domain.name_zh} {domain.name_en} [{domain.id}]")
        for clause in (c for c in catalog if c.domain == domain.id):
            covering = checks[clause.id]
            status = f"{len(covering)} check(s)" if covering else "no check"
            write(f"  {clause.id:<9} {clause.level:<5} {clause.source:<7} {status:<11} "
                  f"{clause.text_zh}")
            for nodeid in covering:
                write(f"  {'':<9} {'':<5} {'':<7} ↳ {nodeid}")
