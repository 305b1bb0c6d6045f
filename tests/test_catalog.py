"""The catalogue: complete, faithful to the standard's notes, and strictly validated."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pytest_sca.catalog import CatalogError, catalog_path, load_catalog

NOTES = Path(__file__).parent / "data" / "explanatory-notes.zh.txt"
SHARED_NOTES = Path(__file__).resolve().parents[2] / "shared/standard/explanatory-notes.zh.txt"


def test_catalogue_has_all_items_domains_and_subdomains() -> None:
    catalog = load_catalog()
    assert len(catalog) == 97
    assert len(catalog.domains) == 5
    assert len(catalog.subdomains) == 29
    assert sum(c.source == "notes" for c in catalog) == 50
    assert sorted(c.id for c in catalog if c.level == "may") == sorted(
        ["6.3.d", "6.4.d", "6.5.d", "6.5.e", "6.5.f", "7.3.c", "10.2.g"])
    assert {d.id: d.chapter for d in catalog.domains} == {
        "scheduling": 6, "development": 7, "application": 8, "performance": 9, "security": 10}
    item = catalog.item("9.4.1.a")
    assert (item.chapter, item.domain, item.subdomain) == (9, "performance", "9.4.1")


def test_quoted_items_keep_the_notes_wording_verbatim() -> None:
    notes = NOTES.read_text(encoding="utf-8")
    quoted = [c for c in load_catalog() if c.source == "notes"]
    missing = [c.id for c in quoted if c.text_zh not in notes]
    assert not missing, f"text_zh of these notes items is not verbatim in the notes: {missing}"


@pytest.mark.skipif(not SHARED_NOTES.exists(), reason="the shared standard folder is not beside "
                    "this checkout")
def test_bundled_notes_are_the_shared_standard_text() -> None:
    assert NOTES.read_bytes() == SHARED_NOTES.read_bytes()


def test_subdomain_names_are_those_of_table_1() -> None:
    notes = NOTES.read_text(encoding="utf-8")
    assert all(sub.name_zh in notes for sub in load_catalog().subdomains)


def _broken(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(catalog_path().read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d["items"].append(dict(d["items"][0])), "item 6.1.a: duplicate id"),
    (lambda d: d["items"][1].update(colour="red"), "item 6.1.b: unknown key 'colour'"),
    (lambda d: d["items"][2].update(level="should"), "item 6.1.c: level 'should' is not one of"),
    (lambda d: d["items"][3].update(subdomain="6.99"), "item 6.2.a: unknown subdomain '6.99'"),
    (lambda d: d["items"][4].pop("text_en"), "item 6.2.b: missing key 'text_en'"),
], ids=["duplicate", "unknown-key", "bad-level", "bad-subdomain", "missing-key"])
def test_malformed_catalogue_is_one_line_naming_file_and_item(tmp_path: Path, edit, expected
                                                              ) -> None:  # type: ignore[no-untyped-def]
    path = _broken(tmp_path, edit)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message
