"""Messages that say what is wrong (issue 17.5): which part of a value breaks its pattern, YAML
syntax errors at the line to fix with a plain-words hint, no hint about quotes or tabs that are
not there, product names that suggest their system, no finding at a key the blueprint leaves
out, and rule findings reported together with unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from aifab.diagnostics import finding
from aifab.load import load_text
from aifab.pipeline import run_document

EXAMPLE = (Path(__file__).resolve().parents[1] / "src" / "aifab" / "data" / "init"
           / "blueprint.yaml").read_text()


def findings(old: str, new: str):
    assert old in EXAMPLE, old
    text = EXAMPLE.replace(old, new, 1)
    return [f for f in run_document(load_text(text, "b.yaml")).findings if f.is_error]


def line_of(text: str) -> int:
    return EXAMPLE.splitlines().index(text) + 1 if text in EXAMPLE.splitlines() else next(
        n for n, line in enumerate(EXAMPLE.splitlines(), 1) if line.startswith(text))


# -- which part of a value breaks its pattern ---------------------------------------------------

@pytest.mark.parametrize("old, new, says, fix", [
    ("name: lab-b200 ", "name: Lab-B200 ",
     "upper case 'B', 'L' where only lower case is allowed", "write 'lab-b200'"),
    ('"lab1-b200-{node:02d}"', '"lab1-b200-{nod:02d}"',
     "'{nod:02d}' is not a placeholder: hostnames can use {rack}, {tray}, {node}",
     "did you mean '{node:02d}'?"),
    ('"lab1-b200-{node:02d}"', '"lab1-b200-{node:02}"',
     "the format of '{node:02}' has no 'd' at the end", "write '{node:02d}'"),
    ('"lab1-b200-{node:02d}"', '"Lab1-b200-{node:02d}"',
     "upper case 'L' where only lower case is allowed", "write 'lab1-b200-{node:02d}'"),
    ("  kueue:\n", "  sovereignty:\n    registryMirror: https://registry.lab-1.example.kr\n  kueue:\n",
     "'https://' is a URL scheme, but a host is expected here",
     "write 'registry.lab-1.example.kr', without 'https://'"),
    ("name: b200\n", "name: b200_pool\n", "'_' is not allowed here", ""),
])
def test_a_pattern_mismatch_names_the_part_that_fails(old, new, says, fix):
    [f] = findings(old, new)
    assert f.code == "AF205" and f"does not have the expected form at {f.json_path}: {says}" \
        in f.message, f.message
    assert f.hint.startswith(fix), f.hint


def test_the_words_about_a_huge_value_stay_short():
    from aifab.mismatch import explain

    reason, fix = explain("A" * 1_000_000, "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    assert reason.startswith("upper case 'A'") and len(fix) <= 160


# -- YAML syntax ---------------------------------------------------------------------------------

def syntax(text: str):
    [f] = load_text(text, "b.yaml").findings
    assert f.code == "AF104"
    return f


def test_a_missing_colon_is_reported_at_its_own_line():
    f = syntax(EXAMPLE.replace("    cooling: air\n", "    cooling air\n", 1))
    assert f.line == line_of("    cooling: air")
    assert "a key without ':'" in f.message and "write 'cooling: air'" in f.hint


def test_a_key_without_colon_above_its_children_is_reported_at_the_key():
    f = syntax(EXAMPLE.replace("  kubernetes:\n", "  kubernetes\n", 1))
    assert (f.line, f.col) == (line_of("  kubernetes:"), 3)


def test_a_missing_colon_in_a_list_item_is_reported_at_its_line():
    f = syntax("a:\n  b 1\n  c: 2\n")
    assert (f.line, f.col) == (2, 3) and "write 'b: 1'" in f.hint


def test_the_hint_for_a_huge_line_stays_short():
    f = syntax("a:\n  b " + "x" * 1_000_000 + "\n  c: 2\n")
    assert f.line == 2 and len(f.hint) <= 160


def test_a_tab_is_reported_at_its_line_with_a_hint():
    f = syntax(EXAMPLE.replace("    cooling: air\n", "\tcooling: air\n", 1))
    assert f.line == line_of("    cooling: air") and "tabs" in f.hint


def test_no_tab_hint_without_a_tab():
    f = syntax("a: @x\n")
    assert "tab" not in f.hint and "quotes" in f.hint


BROKEN = ["a:\n\tb: 1\n", "a:\n  b 1\n  c: 2\n", "a:\n  b: 1\n  c\n", 'a: "x" y\nb: 1\n',
          "a: x: y\n", "a: 1\n  b: 2\n", 'a: "x\nb: 1\n', 'a: "c:\\d"\n', "a: @x\n",
          "a:\n  - 1\n - 2\n", "a: [1, 2\nb: 1\n", "a:\n    b: 1\n  c: 2\n", "a: `x`\n",
          "- a\nb: 1\n", "a: 'x\n", "a: {b: 1\n"]


@pytest.mark.parametrize("text", BROKEN)
def test_every_syntax_error_has_a_plain_hint(text):
    assert syntax(text).hint


def test_no_quoting_hint_for_a_value_already_quoted():
    f = syntax('a: "x" y\nb: 1\n')
    assert (f.line, f.col) == (1, 8)
    assert "only a comment may follow a quoted value" in f.hint


def test_a_value_with_a_colon_is_told_to_be_quoted():
    assert syntax("a: x: y\n").hint == "a value containing ': ' must be quoted"


def test_a_key_indented_under_a_value_is_told_so():
    assert "indented deeper" in syntax("a: 1\n  b: 2\n").hint


# -- types and allowed values --------------------------------------------------------------------

def test_no_hint_about_quotes_that_are_not_there():
    by_code = {f.code: f for f in findings("linkGbps: 400 ", "linkGbps: 400 400 ")}
    assert "quote" not in by_code["AF204"].hint and "is text" in by_code["AF204"].hint


def test_quotes_that_are_there_are_named():
    by_code = {f.code: f for f in findings("linkGbps: 400 ", 'linkGbps: "400" ')}
    assert by_code["AF204"].hint == "remove the quotes around the number"
    assert by_code["AF203"].hint == ""  # '400' is allowed, as a number: AF204 says what to do


@pytest.mark.parametrize("product, system", [
    ("gb300", "did you mean 'gb300-nvl72'?"), ("GB200", "did you mean 'gb200-nvl72'?"),
    ("b200", "did you mean 'dgx-b200' or 'hgx-b200'?")])
def test_a_product_name_suggests_its_system(product, system):
    [f] = findings("system: hgx-b200 ", f"system: {product} ")
    assert f.code == "AF203" and f.hint == system


# -- places ----------------------------------------------------------------------------------------

def test_a_finding_never_names_an_absent_key():
    doc = load_text(EXAMPLE, "b.yaml")
    placed = doc.place(finding("AF387", "retains volumes", ("spec", "storage", 0, "reclaimPolicy",
                                                            "x")))
    assert placed.json_path == "spec.storage[0].reclaimPolicy"
    placed = doc.place(finding("AF311", "racks", ("spec", "nodePools", 0, "racks")))
    assert placed.json_path == "spec.nodePools[0]"
    assert placed.line == line_of("    - name: b200")


def test_a_finding_of_a_fleet_member_never_names_an_absent_key():
    from aifab.fleet.compose import MergedDocument

    doc = MergedDocument("m.yaml", {"spec": {"nodePools": [{"name": "a"}]}}, ())
    placed = doc.place(finding("AF311", "racks", ("spec", "nodePools", 0, "racks")))
    assert placed.json_path == "spec.nodePools[0]"


def test_an_unknown_key_does_not_hide_the_rules():
    found = findings("      nodes: 8\n", "      nodes: 4\n      nodez: 8\n")
    assert {f.code for f in found} == {"AF201", "AF377"}  # the quotas no longer fit 4 nodes
    [quota] = [f for f in found if f.code == "AF377"]
    assert "32 GPUs (4 nodes x 8)" in quota.message


def test_other_schema_errors_still_stop_the_rules():
    found = findings("      nodes: 8\n", "      nodes: 4\n      nodez: 8\n    - name: x\n")
    assert "AF377" not in {f.code for f in found}
