"""The standard as data: load and validate the catalogue YAML into frozen dataclasses.

The catalogue (``standards/<edition>.yaml``) lists domains, subdomains and
items. Level, chapter and domain of an item come from here and nowhere else:
a check names only the item id.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .yamlfile import read_yaml

DEFAULT_EDITION = "saia-aicloud-2025-04-29"
LEVELS = ("shall", "may")
SOURCES = ("notes", "derived")
_ITEM_ID = re.compile(r"^(\d+)(\.\d+)+\.[a-z]$")


class CatalogError(ValueError):
    """A catalogue file is malformed; the message is one line naming the file and the item."""


@dataclass(frozen=True)
class Domain:
    """A capability domain (能力域), one chapter of the standard."""

    id: str
    name_zh: str
    name_en: str
    chapter: int


@dataclass(frozen=True)
class Subdomain:
    """A capability subdomain (能力子域), e.g. 6.2 算力管理及分配."""

    id: str
    domain: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Clause:
    """One clause item, e.g. 6.2.c."""

    id: str
    chapter: int
    domain: str
    subdomain: str
    level: str
    source: str
    text_zh: str
    text_en: str
    how_to_check: str = ""

    @property
    def title(self) -> str:
        """A one-line title: id and English gist."""
        return f"{self.id} {self.text_en}"


@dataclass(frozen=True)
class Edition:
    """Identification of the standard's edition the catalogue encodes."""

    id: str
    title_zh: str
    title_en: str
    publisher_zh: str
    publisher_en: str
    date: str
    status: str


@dataclass(frozen=True)
class Catalog:
    """The whole catalogue of one edition, in the standard's order."""

    edition: Edition
    domains: tuple[Domain, ...]
    subdomains: tuple[Subdomain, ...]
    items: tuple[Clause, ...]
    path: Path

    def __iter__(self) -> Iterator[Clause]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._by_id

    @functools.cached_property
    def _by_id(self) -> dict[str, Clause]:
        return {item.id: item for item in self.items}

    def item(self, item_id: str) -> Clause:
        """The item with this id; ``KeyError`` when the catalogue has none."""
        return self._by_id[item_id]

    def domain(self, domain_id: str) -> Domain:
        return next(d for d in self.domains if d.id == domain_id)

    def subdomain(self, subdomain_id: str) -> Subdomain:
        return next(s for s in self.subdomains if s.id == subdomain_id)


_SECTION_KEYS: Mapping[str, tuple[set[str], set[str]]] = {
    # section → (required keys, optional keys)
    "domains": ({"id", "name_zh", "name_en", "chapter"}, set()),
    "subdomains": ({"id", "domain", "name_zh", "name_en"}, set()),
    "items": (
        {"id", "subdomain", "level", "source", "text_zh", "text_en"},
        {"how_to_check"},
    ),
}
_EDITION_KEYS = {"id", "title_zh", "title_en", "publisher_zh", "publisher_en", "date", "status"}


def _where(section: str, n: int, entry: Any) -> str:
    """How an error names an entry: by its id when it has one, else by its position."""
    if isinstance(entry, dict) and isinstance(entry.get("id"), str):
        return f"{section[:-1]} {entry['id']}"
    return f"{section}[{n}]"


def _fail(path: Path, where: str, problem: str) -> CatalogError:
    return CatalogError(f"{path}: {where}: {problem}")


def _check_keys(path: Path, where: str, entry: Any, section: str) -> None:
    required, optional = _SECTION_KEYS[section]
    if not isinstance(entry, dict):
        raise _fail(path, where, "must be a mapping")
    unknown = set(entry) - required - optional
    if unknown:
        raise _fail(path, where, f"unknown key {sorted(unknown)[0]!r}; allowed: "
                    + ", ".join(sorted(required | optional)))
    missing = required - set(entry)
    if missing:
        raise _fail(path, where, f"missing key {sorted(missing)[0]!r}")
    for key in required | optional:
        if key in entry and not isinstance(entry[key], int if key == "chapter" else str):
            kind = "number" if key == "chapter" else "string"
            raise _fail(path, where, f"{key} must be a {kind}")


def parse_catalog(data: Any, path: Path) -> Catalog:
    """Validate the parsed YAML of a catalogue and build the frozen :class:`Catalog`."""
    if not isinstance(data, dict):
        raise _fail(path, "top level", "must be a mapping with edition, domains, subdomains, items")
    unknown = set(data) - {"edition", *_SECTION_KEYS}
    if unknown:
        raise _fail(path, "top level", f"unknown key {sorted(unknown)[0]!r}")
    edition_data = data.get("edition")
    if not isinstance(edition_data, dict) or set(edition_data) != _EDITION_KEYS:
        raise _fail(path, "edition", "needs exactly the keys " + ", ".join(sorted(_EDITION_KEYS)))
    edition = Edition(**{k: str(v) for k, v in edition_data.items()})

    domains: dict[str, Domain] = {}
    for n, entry in enumerate(data.get("domains") or []):
        _check_keys(path, _where("domains", n, entry), entry, "domains")
        if entry["id"] in domains:
            raise _fail(path, f"domain {entry['id']}", "duplicate id")
        domains[entry["id"]] = Domain(**entry)
    subdomains: dict[str, Subdomain] = {}
    for n, entry in enumerate(data.get("subdomains") or []):
        _check_keys(path, _where("subdomains", n, entry), entry, "subdomains")
        where = f"subdomain {entry['id']}"
        if entry["id"] in subdomains:
            raise _fail(path, where, "duplicate id")
        if entry["domain"] not in domains:
            raise _fail(path, where, f"unknown domain {entry['domain']!r}")
        subdomains[entry["id"]] = Subdomain(**entry)
    items: dict[str, Clause] = {}
    for n, entry in enumerate(data.get("items") or []):
        _check_keys(path, _where("items", n, entry), entry, "items")
        item_id = entry["id"]
        where = f"item {item_id}"
        if item_id in items:
            raise _fail(path, where, "duplicate id")
        if not _ITEM_ID.match(item_id):
            raise _fail(path, where, "id must look like 6.2.c or 9.4.1.a")
        if entry["level"] not in LEVELS:
            raise _fail(path, where, f"level {entry['level']!r} is not one of {', '.join(LEVELS)}")
        if entry["source"] not in SOURCES:
            raise _fail(path, where, f"source {entry['source']!r} is not one of "
                        + ", ".join(SOURCES))
        sub = subdomains.get(entry["subdomain"])
        if sub is None:
            raise _fail(path, where, f"unknown subdomain {entry['subdomain']!r}")
        if item_id.rsplit(".", 1)[0] != sub.id:
            raise _fail(path, where, f"id does not belong to subdomain {sub.id}")
        items[item_id] = Clause(
            id=item_id,
            chapter=domains[sub.domain].chapter,
            domain=sub.domain,
            subdomain=sub.id,
            level=entry["level"],
            source=entry["source"],
            text_zh=entry["text_zh"],
            text_en=entry["text_en"],
            how_to_check=entry.get("how_to_check", ""),
        )
    if not items:
        raise _fail(path, "items", "the catalogue has no items")
    return Catalog(edition, tuple(domains.values()), tuple(subdomains.values()),
                   tuple(items.values()), path)


def catalog_path(edition: str = DEFAULT_EDITION) -> Path:
    """The shipped catalogue file of an edition."""
    return Path(str(resources.files("pytest_sca") / "standards" / f"{edition}.yaml"))


def load_catalog(path: Path | str | None = None) -> Catalog:
    """Load a catalogue file (the shipped default edition when ``path`` is None)."""
    file = Path(path) if path is not None else catalog_path()
    data = read_yaml(file, CatalogError, "catalogue", "give the path of a catalogue YAML file")
    return parse_catalog(data, file)
