"""Every policy has passing and failing fixtures, and a section in docs/policies.md.

Fixtures live in tests/fixtures/policies/<policy module>/{pass,fail}-<case>.yaml: generated
objects, one per YAML document, judged together with the real outputs of a bundled blueprint
(gwangju-gb200, air-gapped with two tenants and MIG pools; a first line
`# blueprint: <file>` picks another). A document with the kind, namespace and name of a real
output replaces it; an aifab.dev HelmRelease is a chart release. In a failing fixture, a comment
`# expect: AF440` on a line says that a finding with that code is reported at that line (where
the deepest element of its JSON path that the document has starts: a key's line, a list
item's first line); every finding must be expected, and every expectation met. A passing fixture yields no finding at all. Adding a policy module without
fixtures, or without its section in the docs, fails here.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from aifab.expand import expand
from aifab.expand.common import Output
from aifab.expand.flux import is_release
from aifab.model import Cluster
from aifab.pipeline import run
from aifab.verify.policies import CODES, check, policies
from bundled import BLUEPRINTS, ROOT, assert_fixtures_cover, expected_findings

FIXTURES = ROOT / "tests" / "fixtures" / "policies"
DOCS = ROOT / "docs" / "policies.md"
FOLDER = "generated/fixture"
BLUEPRINT = re.compile(r"#\s*blueprint:\s*(\S+)")

Lines = dict[tuple[Any, ...], int]  # JSON path inside a document -> 1-based line


def _fixtures(prefix: str) -> list[Path]:
    return sorted(FIXTURES.glob(f"*/{prefix}-*.yaml"))


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@cache
def _blueprint(name: str) -> tuple[Cluster, tuple[Output, ...]]:
    result = run(BLUEPRINTS / name)
    assert result.ok and result.cluster is not None, [f.message for f in result.findings]
    return result.cluster, tuple(expand(result.cluster))


def _lines(node: yaml.Node, path: tuple[Any, ...], lines: Lines) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _lines(value, path + (key.value,), lines)
            lines[path + (key.value,)] = key.start_mark.line + 1  # a value's line is its key's
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, path + (i,), lines)


def _identity(data: Any) -> tuple[str, str, str]:
    meta = data.get("metadata") or {}
    return str(data.get("kind")), str(meta.get("namespace", "")), str(meta.get("name", ""))


def _output(i: int, data: dict[str, Any]) -> Output:
    kind = ("release" if is_release(data)
            else "nodes" if data.get("kind") == "NodeFeatureRule" else "object")
    return Output(f"fixture/{i}.yaml", kind, data)


def _judge(path: Path) -> tuple[list, dict[str, Lines]]:
    """The policy findings of a fixture, and the line map of each of its documents' files."""
    text = path.read_text(encoding="utf-8")
    blueprint = BLUEPRINT.match(text)
    cluster, real = _blueprint(blueprint[1] if blueprint else "gwangju-gb200.yaml")
    documents = [d for d in yaml.safe_load_all(text) if d is not None]
    nodes = [n for n in yaml.compose_all(text) if n is not None]
    assert documents and len(documents) == len(nodes), f"{path}: empty documents"
    mine = [_output(i, data) for i, data in enumerate(documents)]
    replaced = {_identity(out.data) for out in mine}
    outputs = [out for out in real if _identity(out.data) not in replaced] + mine
    lines: dict[str, Lines] = {}
    for out, node in zip(mine, nodes, strict=True):
        _lines(node, (), lines.setdefault(f"{FOLDER}/{out.path}", {}))
    return list(check(outputs, cluster, FOLDER)), lines


def _line(finding, lines: dict[str, Lines]) -> int:
    """The line of the deepest key of the finding's path that the document has."""
    where = lines.get(finding.file)
    assert where is not None, f"finding outside the fixture: {finding.file}: {finding.message}"
    path = tuple(finding.path)
    while path not in where:
        path = path[:-1]
    return where[path]


@pytest.mark.parametrize("policy", [p.name for p in policies()])
def test_every_policy_has_passing_and_failing_fixtures(policy):
    codes = next(p.codes for p in policies() if p.name == policy)
    assert_fixtures_cover("policy", policy, FIXTURES / policy, codes)


def test_every_fixture_folder_is_a_policy():
    names = {p.name for p in policies()}
    assert {folder.name for folder in FIXTURES.iterdir()} <= names


@pytest.mark.parametrize("path", _fixtures("pass"), ids=_id)
def test_passing_fixture_has_no_findings(path):
    found, _ = _judge(path)
    assert [(f.file, f.code, f.path, f.message) for f in found] == []


@pytest.mark.parametrize("path", _fixtures("fail"), ids=_id)
def test_failing_fixture_reports_expected_findings_at_their_lines(path):
    expected = expected_findings(path)
    assert expected, f"{path} has no '# expect: AFnnn' comment"
    found, lines = _judge(path)
    got = {(_line(f, lines), f.code) for f in found}
    assert got == expected, "\n".join(f"{_line(f, lines)}: {f.code} {f.message}" for f in found)


def test_policy_codes_are_unique_and_well_formed():
    seen: dict[str, str] = {}
    for policy in policies():
        for code in policy.codes:
            assert re.fullmatch(r"AF4[3-4]\d", code), f"{policy.name}: {code}"
            assert code not in seen, f"{code} in both {seen.get(code)} and {policy.name}"
            seen[code] = policy.name
    assert seen.keys() == CODES.keys()


@pytest.mark.parametrize("policy", policies(), ids=lambda p: p.name)
def test_every_policy_says_what_why_and_how_to_fix(policy):
    assert policy.summary.endswith("."), f"{policy.name}: a one-line summary, as a sentence"
    assert re.search(r"^Why: \S", policy.doc, re.MULTILINE), f"{policy.name}: no 'Why:'"
    assert re.search(r"^Fix: \S", policy.doc, re.MULTILINE), f"{policy.name}: no 'Fix:'"


def test_docs_have_one_section_per_policy_in_order_with_exactly_its_codes():
    """docs/policies.md: `## N. <summary> (AFnnn, ...)` per policy module (its docstring's first
    line), in the order the policies run, naming exactly the module's codes; no code the
    modules do not have."""
    text = DOCS.read_text(encoding="utf-8")
    sections = re.findall(r"^## (\d+)\. (.+) \(((?:AF\d{3}(?:, )?)+)\)$", text, re.MULTILINE)
    assert [int(n) for n, _, _ in sections] == list(range(1, len(policies()) + 1))
    for (_, title, codes), policy in zip(sections, policies(), strict=True):
        assert title == policy.summary.removesuffix("."), f"{policy.name}: docs say {title!r}"
        assert codes.split(", ") == sorted(policy.codes), f"{title}: codes of {policy.name}"
    assert set(re.findall(r"AF4[3-4]\d", text)) == set(CODES), "docs name a code no policy has"
