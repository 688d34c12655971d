"""Terminal injection: what a blueprint says never reaches a terminal or CI log as raw control.

Keys and values with ESC sequences, BEL, CR, C1 controls (CSI, U+009B) and bidi overrides
(U+202E), in double-quoted escapes and raw in the file, are quoted by findings (unknown key,
pattern mismatch) and by the source excerpt. The text and GitHub reporters must show them
escaped, with the caret still under the right character; JSON and SARIF must stay JSON that
reads back as exactly what the blueprint said, with no such character raw in the output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aifab.cli import main
from aifab.diagnostics import Finding, Severity
from aifab.escape import printable
from aifab.reporters import FORMATS

ROOT = Path(__file__).resolve().parents[2]
SEOUL = ROOT / "blueprints" / "seoul-rtxpro.yaml"

UNSAFE = ["\x1b", "\x07", "\r", "\x9b", "\x85", "\u202e", "\u2066", "\u200f", "\u2028", "\x7f",
          "\U000e0041"]
# YAML double-quoted escapes: ESC, BEL, CR, CSI (C1), bidi override
KEY = "\x1b[2J\x1b[H\x07\r\x9b31m\u202eyek"
KEY_YAML = r'"\e[2J\e[H\a\r\x9b31m\u202Eyek"'
VALUE_YAML = r'"seoul\e]0;owned\a\u202E\x85"'
RAW_BIDI = "\u202e"  # raw in the file: libyaml accepts it as printable


def _hostile(tmp_path: Path) -> Path:
    text = SEOUL.read_text(encoding="utf-8")
    text = text.replace("spec:\n", f"spec:\n  {KEY_YAML}: 1\n", 1)
    text = text.replace("  name: seoul-rtxpro\n", f"  name: {VALUE_YAML}\n", 1)
    text = text.replace("    country: KR\n", f"    country: K{RAW_BIDI}R\n", 1)
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _run(capsys, *args: str) -> str:
    main(["validate", *args])
    out = capsys.readouterr()
    return out.out + out.err


def _strings(data: object) -> str:
    """Every string of a JSON document, joined: what a tool reading it gets."""
    if isinstance(data, dict):
        return "\n".join(_strings(v) for v in data.values())
    if isinstance(data, list):
        return "\n".join(_strings(v) for v in data)
    return data if isinstance(data, str) else ""


def _assert_clean(output: str) -> None:
    raw = sorted({hex(ord(c)) for c in output if not c.isprintable() and c != "\n"})
    assert not raw, f"raw characters in the output: {raw}"


@pytest.mark.parametrize("fmt", ["text", "github"])
def test_text_and_github_escape_what_the_blueprint_says(fmt, tmp_path, capsys):
    output = _run(capsys, "--format", fmt, str(_hostile(tmp_path)))
    _assert_clean(output)
    assert "AF201" in output and "AF205" in output  # the findings that quote key and values
    assert r"\x1b[2J\x1b[H\x07\r\x9b31m\u202eyek" in output  # the key, shown escaped
    assert r"seoul\x1b]0;owned\x07\u202e\x85" in output  # the value, shown escaped
    assert r"K\u202eR" in output  # the source excerpt of a raw bidi override (text) / value


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_json_and_sarif_stay_exact_json_without_raw_controls(fmt, tmp_path, capsys):
    output = _run(capsys, "--format", fmt, str(_hostile(tmp_path)))
    _assert_clean(output)
    messages = _strings(json.loads(output))
    assert KEY in messages  # the data reads back as exactly what the blueprint said
    assert "seoul\x1b]0;owned\x07\u202e\x85" in messages


def test_the_caret_stays_under_the_column_after_escapes():
    line = f"  name: \"a{RAW_BIDI}\x1b\" bad"
    col = line.index("bad") + 1
    f = Finding("x.yaml", 1, col, "AF205", Severity.ERROR, "m", ("metadata", "name"))
    shown = FORMATS["text"]([f], {"x.yaml": [line]}, 1).splitlines()
    source, caret = shown[2], shown[3]
    assert source.index("bad") == caret.index("^")


@pytest.mark.parametrize("char", UNSAFE, ids=lambda c: f"U+{ord(c):04X}")
def test_every_unsafe_character_is_escaped_in_every_field(char, capsys):
    sneaky = f"a{char}b"
    f = Finding(f"f{char}.yaml", 1, 2, "AF201", Severity.ERROR, f"unknown key '{sneaky}'",
                ("spec", sneaky), f"did you mean '{sneaky}'?")
    sources = {f.file: [f"  {sneaky}: 1"]}
    for name, report in FORMATS.items():
        output = report([f], sources, 1)
        _assert_clean(output)
        if name in ("json", "sarif"):
            assert sneaky in _strings(json.loads(output))
    assert printable(sneaky) == "a" + char.encode("unicode_escape").decode() + "b"


def test_ordinary_text_is_unchanged():
    text = "gwangju-1 광주 b200: 8 GPUs, 'quoted' \\ backslash"
    assert printable(text) == text


def test_check_diff_escapes_what_a_pull_request_planted_in_generated(tmp_path, capsys):
    """`generate --check --diff` prints file names and contents of the tree under review."""
    out = tmp_path / "out"
    assert main(["generate", "--out", str(out), str(SEOUL)]) == 0
    folder = out / "seoul-rtxpro"
    summary = folder / "SUMMARY.md"
    summary.write_bytes(summary.read_bytes() + "\x1b]0;owned\x07\x1b[2J\u202e\r\n".encode())
    (folder / "planted-\x1b[31m.yaml").write_text("x: 1\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["generate", "--check", "--diff", "--out", str(out), str(SEOUL)]) == 1
    captured = capsys.readouterr()
    output = captured.out + captured.err
    _assert_clean(output)
    assert r"\x1b]0;owned\x07\x1b[2J\u202e\r" in output and r"planted-\x1b[31m.yaml" in output
