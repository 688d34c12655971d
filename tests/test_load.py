"""The loader refuses hostile and surprising YAML with a finding at the right line, never a crash."""

from __future__ import annotations

import time

import pytest

from aifab.load import MAX_BYTES, load_bytes, load_file, load_text


def codes_at(text: str) -> list[tuple[int, str]]:
    return sorted((f.line, f.code) for f in load_text(text, "t.yaml").findings)


def test_plain_blueprint_loads_with_positions():
    doc = load_text("a:\n  b: [1, 'x']\n  c: {d: 1.5}\n", "t.yaml")
    assert doc.findings == ()
    assert doc.data == {"a": {"b": [1, "x"], "c": {"d": 1.5}}}
    assert doc.position(("a", "b", 1)) == (2, 10)
    assert doc.position(("a", "c", "d"), at_key=True) == (3, 7)
    assert doc.position(("a", "missing", "deeper")) == (1, 1)  # nearest ancestor: its key


def test_duplicate_key_names_both_lines():
    doc = load_text("a: 1\nb: 2\na: 3\n", "t.yaml")
    (f,) = doc.findings
    assert (f.line, f.code, f.path) == (3, "AF107", ("a",))
    assert "first defined on line 1" in f.message
    assert doc.data == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    "text, line",
    [("1: a\n", 1), ("x: 1\ntrue: b\n", 2), ("? [x]\n: c\n", 1), ("~: d\n", 1)],
)
def test_non_string_keys(text, line):
    assert codes_at(text) == [(line, "AF108")]


def test_alias_bomb_is_refused_quickly():
    levels = ["a: &a [x,x,x,x,x,x,x,x,x]"]
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        levels.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    start = time.perf_counter()
    assert codes_at("\n".join(levels) + "\n")[0][1] == "AF109"
    assert time.perf_counter() - start < 1


def test_a_few_aliases_are_fine():
    doc = load_text("a: &x {k: 1}\nb: *x\n", "t.yaml")
    assert doc.findings == () and doc.data == {"a": {"k": 1}, "b": {"k": 1}}


def test_deep_nesting_is_refused_before_libyaml_gets_slow():
    start = time.perf_counter()
    assert codes_at("[" * 200_000 + "]" * 200_000) == [(1, "AF114")]
    assert time.perf_counter() - start < 1


def test_more_than_one_document():
    assert codes_at("a: 1\n---\nb: 2\n") == [(2, "AF105")]


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n", "- a\n- b\n", "hello\n"])
def test_root_must_be_a_mapping(text):
    assert codes_at(text) == [(1, "AF106")]


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system ['echo pwned']\n",
        "a: !!python/name:os.system\n",
        "a: !!binary aGVsbG8=\n",
        "a: !custom x\n",
        "a: !!set {x, y}\n",
    ],
)
def test_unknown_tags_are_refused_and_never_executed(text):
    assert codes_at(text) == [(1, "AF110")]


def test_standard_tags_are_fine():
    doc = load_text("a: !!str 007\nb: !!int 3\nc: !!float 2\n", "t.yaml")
    assert doc.findings == () and doc.data == {"a": "007", "b": 3, "c": 2.0}


@pytest.mark.parametrize("value", [".nan", ".NaN", "-.inf", ".Inf", "1e999"])
def test_nan_and_infinity_are_refused(value):
    assert codes_at(f"x: {value}\n") == [(1, "AF111")]


@pytest.mark.parametrize("value", ["123456789012345678901234567890", "9" * 5000, "-9007199254740993"])
def test_absurdly_large_numbers_are_refused(value):
    assert codes_at(f"x: 1\ny: {value}\n") == [(2, "AF112")]


@pytest.mark.parametrize(
    "value, words",
    [
        ("NO", "the boolean false"),
        ("yes", "the boolean true"),
        ("on", "the boolean true"),
        ("Off", "the boolean false"),
        ("y", "the boolean true"),
        ("0755", "the number 493"),
        ("1e3", "a string"),
        ("2024-01-01", "a date"),
        ("1:30", "the number 90"),
        ("1_000", "the number 1000"),
    ],
)
def test_yaml11_surprises_are_reported_with_a_quoting_hint(value, words):
    doc = load_text(f"spec:\n  residency: {value}\n", "t.yaml")
    (f,) = doc.findings
    assert (f.line, f.col, f.code, f.path) == (2, 14, "AF113", ("spec", "residency"))
    assert words in f.message and "YAML 1.2" in f.message
    assert f"'{value}'" in f.hint


@pytest.mark.parametrize("value", ["true", "false", "12", "1.5", "0x1F", "~", "'NO'", '"0755"', "text"])
def test_values_yaml_11_and_12_agree_on_are_quiet(value):
    assert codes_at(f"x: {value}\n") == []


def test_merge_keys_are_refused():
    assert codes_at("base: &b {x: 1}\nc:\n  <<: *b\n") == [(3, "AF115")]


def test_tabs_get_a_hint():
    (f,) = load_text("a:\n\tb: 1\n", "t.yaml").findings
    assert (f.line, f.code) == (2, "AF104") and "tabs" in f.hint


def test_syntax_error_position():
    (f,) = load_text("a: [1, 2\nb: 3\n", "t.yaml").findings
    assert f.code == "AF104" and f.line == 2


def test_control_characters_give_the_line():
    (f,) = load_text("a: 1\nb: x\x07y\n", "t.yaml").findings
    assert (f.line, f.col, f.code) == (2, 5, "AF104")


def test_binary_file():
    (f,) = load_bytes(b"a: 1\n\x00\x01\x02", "t.yaml").findings
    assert (f.code, f.line) == ("AF103", 2) and "binary" in f.message


def test_non_utf8_file_names_the_line():
    (f,) = load_bytes("a: 1\nb: caf\u00e9\n".encode("latin-1"), "t.yaml").findings
    assert (f.code, f.line) == ("AF103", 2)


def test_utf8_bom_is_accepted():
    assert load_bytes(b"\xef\xbb\xbfa: 1\n", "t.yaml").data == {"a": 1}


def test_oversized_file_is_refused_without_parsing(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: " + b"x" * (MAX_BYTES + 10) + b"\n")
    (f,) = load_file(big).findings
    assert f.code == "AF102" and f.file == str(big)


def test_unreadable_path(tmp_path):
    (f,) = load_file(tmp_path / "missing.yaml").findings
    assert f.code == "AF101"
