"""Collection: clause markers expanded from the catalogue, and the catalogue's uncovered items.

A check author writes ``@pytest.mark.clause("6.2.c")``; the plugin adds
``chapter6``, ``shall``/``may``, the domain id, and a keyworded
``clause(id=…, level=…, domain=…, subdomain=…)`` so that ``-m`` selects on any
of them. Every catalogue item in scope that no check covers becomes a
:class:`UncoveredItem` whose verdict is ``not_assessed`` — never missing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import pytest

from .catalog import Catalog, Clause
from .scope import Selection
from .verdicts import NotAssessed

SUITES_ROOT = Path(str(resources.files("pytest_sca") / "suites"))
_EXPANDED = pytest.StashKey[str]()
_ROUTE = pytest.StashKey[str]()
_CHAPTER_DIR = re.compile(r"^chapter(\d+)_")
_SUBDOMAIN_FILE = re.compile(r"^test_(\d+)_(\d+)(?:_(\d+))?_")

MARKERS = {
    "clause(id, route=)": "the clause item a check verifies, e.g. clause('6.2.c'); route= names "
    "the platform shape of an alternative check of the item (ROUTES in pytest_sca.collection); "
    "the plugin adds chapterN, shall|may, the domain id and "
    "clause(id=, level=, domain=, subdomain=)",
    "shall": "check of a mandatory (应) clause item",
    "may": "check of an optional (可) clause item",
    "scheduling": "domain: resource scheduling and management (chapter 6)",
    "development": "domain: model development (chapter 7)",
    "application": "domain: model application (chapter 8)",
    "performance": "domain: cloud platform performance (chapter 9)",
    "security": "domain: cloud platform security (chapter 10)",
    "mutating": "the check creates resources on the target (not run with --sca-readonly)",
    "disruptive": "the check disturbs the target (kills workers, takes links down): "
    "runs only with --sca-disruptive, and alone under pytest-xdist",
    "measuring": "the check's verdict rests on a time or a rate it measures (as most chapter 9 "
    "checks' do): under pytest-xdist it runs alone",
    **{f"chapter{n}": f"check of a chapter {n} clause item" for n in range(6, 11)},
}


def clause_id_of(item: pytest.Item) -> str | None:
    """The clause id a test checks, from its ``clause`` marker (positional or ``id=``).

    Once :func:`expand_markers` has run, the id it stored is the answer: the hooks ask for
    every phase of every test, and walking the markers each time costs (issue 18).
    """
    expanded = item.stash.get(_EXPANDED, None)
    if expanded is not None:
        return expanded
    marker = item.get_closest_marker("clause")
    if marker is None:
        return None
    if marker.args:
        return str(marker.args[0])
    value = marker.kwargs.get("id")
    return str(value) if value is not None else None


#: The alternative routes a check may take to its item (``clause(id, route=…)``): each route
#: is a complete check of the item on one platform shape, so the item is assessed along
#: whichever routes the target can serve (:func:`pytest_sca.verdicts.combine_tests`). The
#: main route ("") is every check without ``route=``. One entry per shape, never per item.
ROUTES: dict[str, str] = {
    "": "the item's main checks",
    "files": "a model service's files API (OpenAI's /files): tenant data stored as files",
}


def route_of(item: pytest.Item) -> str:
    """The route a clause check takes to its item (``""``: the main route).

    Raises ``KeyError`` naming the route when :data:`ROUTES` has no such route.
    """
    route = item.stash.get(_ROUTE, None)
    if route is None:
        route = next((str(m.kwargs["route"]) for m in item.iter_markers("clause")
                      if "route" in m.kwargs), "")
        if route not in ROUTES:
            raise KeyError(route)
        item.stash[_ROUTE] = route
    return route


def expand_markers(item: pytest.Item, catalog: Catalog) -> Clause | None:
    """Add the catalogue's markers to a clause check; ``None`` for a non-clause test.

    Raises ``KeyError`` naming the id when the catalogue has no such item, and
    :class:`UnknownRoute` when the marker names a route :data:`ROUTES` does not list.
    """
    clause_id = clause_id_of(item)
    if clause_id is None:
        return None
    clause = catalog.item(clause_id)
    try:
        route_of(item)
    except KeyError as missing:
        raise UnknownRoute(str(missing)) from None
    if _EXPANDED not in item.stash:
        item.stash[_EXPANDED] = clause_id
        for mark in _catalogue_marks(clause):
            item.add_marker(mark)
        item.user_properties.append(("sca_clause", clause.id))
        # `-k 6.2.c` (or `-k 6.2`) selects an item's checks whatever their function names.
        item.extra_keyword_matches.add(clause.id)
    return clause


@functools.cache
def _catalogue_marks(clause: Clause) -> tuple[pytest.MarkDecorator, ...]:
    """The markers :func:`expand_markers` adds for ``clause``, made once per item of the
    catalogue rather than once per check (a run of thousands of checks made them anew for
    each: issue 18's plugin overhead)."""
    return (*(getattr(pytest.mark, name) for name in (
        f"chapter{clause.chapter}", clause.level, clause.domain)),
        pytest.mark.clause(id=clause.id, level=clause.level, domain=clause.domain,
                           subdomain=clause.subdomain))


class UnknownRoute(Exception):
    """A ``clause`` marker names a route :data:`ROUTES` does not list."""


class UncoveredItem(pytest.Item):
    """A catalogue item no check covers: runs, and reports ``not_assessed``."""

    def __init__(self, *, clause: Clause, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.clause = clause
        self.add_marker(pytest.mark.clause(clause.id))

    def runtest(self) -> None:
        raise NotAssessed("no check implemented yet")

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.clause.id} (no check)"


def make_uncovered(session: pytest.Session, clauses: Iterable[Clause]) -> list[UncoveredItem]:
    """One :class:`UncoveredItem` per clause, named ``sca-catalogue::<id>``."""
    return [
        UncoveredItem.from_parent(session, name=clause.id, clause=clause, path=SUITES_ROOT,
                                  nodeid=f"sca-catalogue::{clause.id}")
        for clause in clauses
    ]


def scope_of_args(args: Iterable[str], catalog: Catalog) -> set[str] | None:
    """Catalogue items the command-line paths point at; ``None`` means all of them.

    The suites root (or a folder above it) covers the whole catalogue; a chapter
    folder its chapter; a subdomain file (``test_6_02_…``) its subdomain;
    anything else (a node id, the user's own checks) only the items its checks name.
    """
    scope: set[str] = set()
    root = SUITES_ROOT.resolve()
    for arg in args:
        if "::" in arg:
            continue
        path = Path(arg).resolve()
        if path == root or root.is_relative_to(path):
            return None
        if not path.is_relative_to(root):
            continue
        chapter = next((int(m.group(1)) for part in path.relative_to(root).parts
                        if (m := _CHAPTER_DIR.match(part))), None)
        file_match = _SUBDOMAIN_FILE.match(path.name)
        if file_match:
            subdomain = ".".join(str(int(g)) for g in file_match.groups() if g)
            scope.update(c.id for c in catalog if c.subdomain == subdomain)
        elif chapter is not None:
            scope.update(c.id for c in catalog if c.chapter == chapter)
    return scope


def selection_of(config: pytest.Config) -> Selection:
    """How pytest's options narrow the run: ``-m``, ``-k``, paths, ``--lf``, ``--sw``, ``-x``,
    ``--deselect`` (what the reports' scope section records)."""
    option = config.option
    paths: list[str] = []
    if config.args_source is pytest.Config.ArgsSource.ARGS:
        root = SUITES_ROOT.resolve()
        for arg in config.args:
            path = Path(arg.split("::")[0])
            resolved = path.resolve() if "::" not in arg else None
            if resolved is not None and (resolved == root or root.is_relative_to(resolved)):
                continue
            paths.append(arg)
    return Selection(
        markexpr=str(getattr(option, "markexpr", "") or ""),
        keyword=str(getattr(option, "keyword", "") or ""),
        paths=paths,
        last_failed=bool(getattr(option, "lf", False)),
        stepwise=bool(getattr(option, "stepwise", False)),
        maxfail=int(getattr(option, "maxfail", 0) or 0),
        deselect=[str(d) for d in (getattr(option, "deselect", None) or [])],
    )
