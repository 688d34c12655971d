"""Schema findings point at the right line and say what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from aifab.load import load_text
from aifab.validate import validate, validator

REFERENCE = Path(__file__).resolve().parents[1] / "blueprints" / "gwangju-gb200.yaml"


def edited(old: str, new: str) -> str:
    text = REFERENCE.read_text(encoding="utf-8")
    assert old in text, old
    return text.replace(old, new, 1)


def findings_of(text: str):
    doc = load_text(text, "bp.yaml")
    assert doc.data is not None, doc.findings
    return validate(doc)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_reference_blueprint_is_schema_valid():
    assert findings_of(REFERENCE.read_text(encoding="utf-8")) == []


def test_validator_is_compiled_once():
    assert validator() is validator()


def test_unknown_key_points_at_the_key_and_suggests_the_name():
    text = edited("    powerBudgetKW: 3000", "    powerBudgetKw: 3000")
    (f,) = findings_of(text)
    assert (f.code, f.line, f.col) == ("AF201", line_of(text, "powerBudgetKw"), 5)
    assert f.path == ("spec", "site", "powerBudgetKw")
    assert f.hint == "did you mean 'powerBudgetKW'?"


def test_unknown_system_suggests_a_catalog_id():
    text = edited("system: gb200-nvl72", "system: gb200-nvl27")
    (f,) = findings_of(text)
    assert (f.code, f.line) == ("AF203", line_of(text, "gb200-nvl27"))
    assert f.hint == "did you mean 'gb200-nvl72'?"


def test_unquoted_version_gets_a_quoting_hint():
    text = edited('version: "1.34"', "version: 1.30")
    (f,) = findings_of(text)
    assert (f.code, f.path) == ("AF204", ("spec", "kubernetes", "version"))
    assert f.hint.startswith('quote it: "1.30"')


def test_missing_required_key_is_reported_at_its_parent_with_its_description():
    text = edited("    cooling: liquid              # liquid | air : NVL72 racks need liquid\n", "")
    (f,) = findings_of(text)
    assert f.code == "AF202" and text.splitlines()[f.line - 1] == "  site:"
    assert "cooling" in f.message and f.hint


def test_pattern_error_shows_an_example():
    text = edited("country: KR", "country: Korea")
    (f,) = findings_of(text)
    assert f.code == "AF205" and "for example" in f.hint


def test_range_error():
    text = edited("racks: 16", "racks: 0")
    (f,) = findings_of(text)
    assert (f.code, f.line) == ("AF206", line_of(text, "racks: 0"))
    assert "minimum of 1" in f.message


def test_bad_label_key_points_at_the_key():
    text = edited("aifab.dev/workload: training", "Bad Key!: training")
    (f,) = findings_of(text)
    assert (f.code, f.line) == ("AF205", line_of(text, "Bad Key!"))


@pytest.mark.parametrize("kind", ["Fleet", "cluster"])
def test_wrong_kind(kind):
    text = edited("kind: Cluster", f"kind: {kind}")
    (f,) = findings_of(text)
    assert f.code == "AF203" and "Cluster" in f.message


def test_all_errors_are_reported_together():
    text = edited("country: KR", "country: Korea").replace("racks: 16", "racks: 0")
    assert {f.code for f in findings_of(text)} == {"AF205", "AF206"}
