"""Every rule has passing and failing fixture blueprints; failing ones say where they fail.

Fixtures live in tests/fixtures/rules/<rule module>/{pass,fail}-<case>.yaml. In a failing
fixture, a comment `# expect: AF312` on a line says that a finding with that code is reported
at that line; every finding must be expected, and every expectation met. A passing fixture
yields no finding at all. Adding a rule module without fixtures fails the meta-test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aifab.check import rules
from aifab.pipeline import run
from bundled import RULE_FIXTURES, assert_fixtures_cover, expected_findings


def _fixtures(prefix: str) -> list[Path]:
    return sorted(RULE_FIXTURES.glob(f"*/{prefix}-*.yaml"))


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.mark.parametrize("rule", [r.name for r in rules()])
def test_every_rule_has_passing_and_failing_fixtures(rule):
    codes = next(r.codes for r in rules() if r.name == rule)
    assert_fixtures_cover("rule", rule, RULE_FIXTURES / rule, codes)


@pytest.mark.parametrize("path", _fixtures("pass"), ids=_id)
def test_passing_fixture_has_no_findings(path):
    result = run(path)
    assert result.cluster is not None
    assert [(f.line, f.code, f.message) for f in result.findings] == []


@pytest.mark.parametrize("path", _fixtures("fail"), ids=_id)
def test_failing_fixture_reports_expected_findings_at_their_lines(path):
    expected = expected_findings(path)
    assert expected, f"{path} has no '# expect: AFnnn' comment"
    result = run(path)
    got = {(f.line, f.code) for f in result.findings}
    assert got == expected, "\n".join(
        f"{f.file}:{f.line}: {f.code} {f.message}" for f in result.findings
    )
    assert all(f.file == str(path) and f.col >= 1 for f in result.findings)


def test_rule_codes_are_unique_and_well_formed():
    seen: dict[str, str] = {}
    for rule in rules():
        for code in rule.codes:
            assert re.fullmatch(r"AF3\d\d|AF45\d", code), f"{rule.name}: {code}"
            assert code not in seen, f"{code} in both {seen.get(code)} and {rule.name}"
            seen[code] = rule.name


@pytest.mark.parametrize("path", _fixtures("fail"), ids=_id)
def test_failing_fixture_exits_1_through_the_cli_with_annotations_at_its_lines(path, capsys):
    """As CI runs it: exit 1 (warnings count under --strict), GitHub annotations on the lines."""
    from aifab.cli import main
    from aifab.terminal import relative

    errors = any(f.is_error for f in run(path).findings)
    assert main(["validate", str(path)]) == (1 if errors else 0)
    capsys.readouterr()
    assert main(["validate", "--strict", "--format", "github", str(path)]) == 1
    annotations = capsys.readouterr().out
    for line, code in expected_findings(path):
        # paths under the current directory are relative to it (aifab.terminal.relative)
        assert f"file={relative(path)},line={line}," in annotations
        assert f"title={code}::" in annotations
