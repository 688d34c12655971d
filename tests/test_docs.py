"""The examples in the documentation are real: they validate with no finding at all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aifab.pipeline import run

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```yaml\n((?:#[^\n]*\n)*apiVersion: aifab\.dev/v1alpha1\nkind: Cluster\n.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    found = []
    for doc in sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")]):
        for i, block in enumerate(BLOCK.findall(doc.read_text(encoding="utf-8"))):
            found.append((f"{doc.name}#{i}", block))
    return found


def test_the_docs_have_examples():
    assert examples()


@pytest.mark.parametrize("name, text", examples(), ids=[n for n, _ in examples()])
def test_documented_blueprint_is_clean(name, text, tmp_path):
    path = tmp_path / "example.yaml"
    path.write_text(text, encoding="utf-8")
    result = run(path)
    assert [(f.line, f.code, f.message) for f in result.findings] == []
