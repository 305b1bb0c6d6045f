"""The target file's `evaluation:` (laboratory block of the reports) and `baseline:` (drift
bands) sections: typed, validated in one line, exported in the JSON Schema."""

from __future__ import annotations

import datetime as dt

import pytest

from pytest_sca.catalog import load_catalog
from pytest_sca.target import TargetFileError, describe_secret_free, export_schema, parse_target


def _parse(document: dict) -> object:  # type: ignore[type-arg]
    return parse_target({"name": "t", **document}, "t.yaml", load_catalog(), environ={})


def test_evaluation_section_is_typed_and_reported() -> None:
    target = _parse({"evaluation": {"laboratory": "Lab", "evaluator": "Li Ming",
                                    "start": "2026-11-20", "end": "2026-11-21"}})
    assert target.evaluation.start == dt.date(2026, 11, 20)  # type: ignore[attr-defined]
    described = describe_secret_free(target)  # type: ignore[arg-type]
    assert described["evaluation"]["laboratory"] == "Lab"
    assert described["evaluation"]["end"] == "2026-11-21"


@pytest.mark.parametrize(("document", "message"), [
    ({"evaluation": {"labratory": "x"}}, "t.yaml: evaluation.labratory is not a known field: "
                                         "did you mean evaluation.laboratory?"),
    ({"evaluation": {"start": "2026-11-21", "end": "2026-11-20"}},
     "t.yaml: evaluation is invalid: end 2026-11-20 is before start 2026-11-21: swap them"),
    ({"baseline": {"drift_bands": {"9.1.a": -0.1}}},
     "t.yaml: baseline.drift_bands is invalid: 9.1.a: a band is a fraction ≥ 0"),
])
def test_mistakes_are_one_line(document: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(TargetFileError) as error:
        _parse(document)
    assert str(error.value).startswith(message), str(error.value)


def test_bands_by_measurement_then_item_then_default() -> None:
    target = _parse({"baseline": {"drift_band": 0.05,
                                  "drift_bands": {"9.1.a": 0.2, "latency": 0.5}}})
    bands = target.drift  # type: ignore[attr-defined]
    assert bands.band_for("9.1.a", "latency") == 0.5
    assert bands.band_for("9.1.a", "throughput") == 0.2
    assert bands.band_for("6.1.a", "throughput") == 0.05


def test_sections_are_in_the_exported_schema() -> None:
    properties = export_schema()["properties"]
    assert {"evaluation", "baseline"} <= set(properties)
