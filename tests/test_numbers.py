"""Numbers: one rule for whole numbers, and the same checks with or without a YAML tag.

Rule: where the schema wants an integer, an integer-valued float (`12.0`, `!!float 12`) is
refused (AF204) with a hint to write `12`; it is never coerced. A tag (`!!float`, `!!int`) gets
the same finite (AF111) and size (AF112) checks as a plain scalar.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aifab.load import load_text
from aifab.pipeline import run
from aifab.schema import document
from bundled import BLUEPRINTS, edit, fleet_copy

SEOUL = BLUEPRINTS / "seoul-rtxpro.yaml"


def _integer_fields(node: object, path: str = "") -> list[str]:
    """Schema paths typed `integer` (to prove the list below covers them all)."""
    found = []
    if isinstance(node, dict):
        if node.get("type") == "integer":
            found.append(path)
        for key, value in node.items():
            found += _integer_fields(value, f"{path}/{key}")
    return found


# (schema path, text in seoul-rtxpro.yaml, its float twin)
SEOUL_FIELDS = [
    ("/$defs/gpuQuota/additionalProperties", "        rtx-mig: 32\n", "        rtx-mig: 32.0\n"),
    ("/$defs/priorityClass/properties/value", "        value: 1000\n", "        value: 1000.0\n"),
    ("/$defs/nodePool/properties/nodes", "      nodes: 12\n", "      nodes: 12.0\n"),
    ("/$defs/nodePool/properties/sharing/properties/timeSlicing/properties/replicas",
     "          replicas: 4\n", "          replicas: !!float 4\n"),
]
OTHER_FIELDS = {  # integer fields seoul-rtxpro does not use, tested below or in the corpus
    "/$defs/fabric/properties/compute/properties/linkGbps",
    "/$defs/nodePool/properties/racks",
    "/$defs/nodePool/properties/sharing/properties/mps/properties/replicas",
    "/$defs/tenantEgressRule/properties/ports/items",  # tests/test_tenant_network.py
    "/$defs/tenantIngressRule/properties/ports/items",
}


def test_the_cases_cover_every_integer_field_of_the_schema():
    schema = document("Cluster")
    assert set(_integer_fields(schema)) == {p for p, _, _ in SEOUL_FIELDS} | OTHER_FIELDS


@pytest.mark.parametrize("field, whole, fraction", SEOUL_FIELDS, ids=lambda v: str(v)[-24:])
def test_an_integer_valued_float_is_refused_with_a_hint(field, whole, fraction, tmp_path):
    path = tmp_path / "seoul.yaml"
    path.write_text(SEOUL.read_text(encoding="utf-8"), encoding="utf-8")
    edit(path, whole, fraction)
    result = run(path)
    found = [(f.code, f.hint) for f in result.findings if f.is_error]
    number = whole.split(":")[1].strip()
    assert found == [("AF204", f"write {number}: a whole number is written without a decimal "
                               "point")], result.findings
    assert result.cluster is None


@pytest.mark.parametrize("old, new", [
    ("      racks: 16 ", "      racks: 16.0 "),
    ("      linkGbps: 400\n", "      linkGbps: 400.0\n"),
])
def test_other_integer_fields_refuse_floats_too(old, new, tmp_path):
    path = tmp_path / "gwangju.yaml"
    path.write_text((BLUEPRINTS / "gwangju-gb200.yaml").read_text(encoding="utf-8"))
    edit(path, old, new)
    assert [f.code for f in run(path).findings if f.is_error] == ["AF204"]


def test_a_fraction_is_refused_with_a_plain_hint(tmp_path):
    path = tmp_path / "seoul.yaml"
    path.write_text(SEOUL.read_text(encoding="utf-8"), encoding="utf-8")
    edit(path, "      nodes: 12\n", "      nodes: 12.5\n")
    assert [(f.code, f.hint) for f in run(path).findings] == [("AF204", "use a whole number")]


def test_fleet_allocations_refuse_floats(tmp_path):
    fleet = fleet_copy(tmp_path)
    edit(fleet, "      gpus: 600\n", "      gpus: 600.0\n")
    result = run(fleet)
    assert [f.code for f in result.findings if f.is_error] == ["AF204"]


def test_whole_numbers_stay_whole_numbers(tmp_path):
    """Control: the same blueprint with integers is valid."""
    assert run(SEOUL).ok and run(SEOUL).cluster is not None


@pytest.mark.parametrize("text, code", [
    (".nan", "AF111"), ("!!float .nan", "AF111"), ("-.inf", "AF111"), ("!!float -.inf", "AF111"),
    ("1e309", "AF111"), ("!!float 1e309", "AF111"), ("!!float 12e999", "AF111"),
    ("99999999999999999999999999", "AF112"), ("!!int 99999999999999999999999999", "AF112"),
    ("9" * 40, "AF112"), ("!!int " + "9" * 40, "AF112"), ("!!float " + "9" * 40, "AF112"),
])
def test_a_tag_gets_the_checks_of_a_plain_scalar(text, code):
    doc = load_text(f"a: {text}\n", "x.yaml")
    assert [f.code for f in doc.findings] == [code] and doc.data == {"a": None}


def test_a_tag_that_does_not_fit_is_refused():
    doc = load_text("a: !!int .nan\n", "x.yaml")
    assert [f.code for f in doc.findings] == ["AF110"]


@pytest.mark.parametrize("text, value", [("!!int 12", 12), ("!!float 12", 12.0),
                                         ("!!float 1.5", 1.5), ("!!int 0x10", 16)])
def test_tags_that_fit_load(text, value):
    doc = load_text(f"a: {text}\n", "x.yaml")
    assert doc.findings == () and doc.data == {"a": value}
    assert type(doc.data["a"]) is type(value)


def test_summary_never_shows_nan(tmp_path: Path):
    path = tmp_path / "seoul.yaml"
    path.write_text(SEOUL.read_text(encoding="utf-8"), encoding="utf-8")
    edit(path, "    powerBudgetKW: 150\n", "    powerBudgetKW: !!float .nan\n")
    assert [f.code for f in run(path).findings] == ["AF111"]
