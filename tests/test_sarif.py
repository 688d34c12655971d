"""`--format sarif`: valid against the official SARIF 2.1.0 schema, and pointing at the right lines.

Every failing rule fixture runs through the pipeline; its SARIF log must validate against the
OASIS schema (tests/fixtures/sarif, see its README) and every result must name the fixture file
and a line its `# expect: AFnnn` comment marks (the comment syntax of tests/test_rules.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from jsonschema import Draft7Validator, FormatChecker

from aifab.check import rules
from aifab.diagnostics import Finding, Severity, finding, warning
from aifab.pipeline import run
from aifab.sarif import FINGERPRINT, SRCROOT, STAGES, WARNING_CODES, rule_catalog, sarif
from bundled import RULE_FIXTURES, expected_findings

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = Path(__file__).parent / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"
FAILING = sorted(RULE_FIXTURES.glob("*/fail-*.yaml"))


@cache
def _validator() -> Draft7Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=FormatChecker())


def _valid(text: str) -> dict:
    """Parse and validate a log against the schema, plus the URI forms it cannot check here."""
    log = json.loads(text)
    errors = sorted(_validator().iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
    for result in log["runs"][0]["results"]:
        location = result["locations"][0]["physicalLocation"]["artifactLocation"]
        uri = urlsplit(location["uri"])
        if "uriBaseId" in location:  # relative reference: no scheme, no authority, no spaces
            assert not uri.scheme and not uri.netloc and " " not in location["uri"], location
        else:
            assert uri.scheme == "file", location
    if info := log["runs"][0]["tool"]["driver"].get("informationUri"):
        assert urlsplit(info).scheme in ("http", "https") and urlsplit(info).netloc, info
    return log


def _sarif(findings, files: int = 1) -> dict:
    return _valid(sarif(list(findings), {}, files, root=ROOT))


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def test_schema_fixture_is_the_published_file():
    readme = (SCHEMA.parent / "README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256(SCHEMA.read_bytes()).hexdigest()
    assert f"`{digest}`" in readme, "sarif-schema-2.1.0.json differs from the file README.md names"
    assert json.loads(SCHEMA.read_text())["$schema"] == "http://json-schema.org/draft-07/schema#"


@pytest.mark.parametrize("path", FAILING, ids=_id)
def test_failing_fixture_log_is_valid_and_points_at_expected_lines(path):
    log = _sarif(run(path).findings)
    results = log["runs"][0]["results"]
    rule_ids = [r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]]
    uri = path.relative_to(ROOT).as_posix()
    got = set()
    for result in results:
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": uri, "uriBaseId": SRCROOT}
        assert physical["region"]["startColumn"] >= 1
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        got.add((physical["region"]["startLine"], result["ruleId"]))
    assert got == expected_findings(path)


def test_all_failures_in_one_log_are_sorted_with_distinct_fingerprints():
    findings = [f for path in FAILING for f in run(path).findings]
    text = sarif(findings, {}, len(FAILING), root=ROOT)
    assert sarif(list(reversed(findings)), {}, len(FAILING), root=ROOT) == text
    results = _valid(text)["runs"][0]["results"]
    assert len(results) == len(findings)
    places = [(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
               r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results]
    assert places == sorted(places)
    prints = [r["partialFingerprints"][FINGERPRINT] for r in results]
    assert len(set(prints)) == len(prints)
    levels = {(r["ruleId"], r["level"]) for r in results}
    assert ("AF340", "error") in levels and ("AF385", "warning") in levels


def test_message_carries_path_and_hint():
    f = replace(finding("AF340", "MIG config 'x' does not exist", ("spec", "nodePools", 0),
                        hint="did you mean 'y'?"), file="blueprints/a.yaml", line=3, col=5)
    result = _sarif([f])["runs"][0]["results"][0]
    assert result["message"]["text"] == (
        "MIG config 'x' does not exist (spec.nodePools[0]). Hint: did you mean 'y'?")
    assert result["properties"]["jsonPath"] == "spec.nodePools[0]"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 3, "startColumn": 5}


def test_fingerprint_survives_moved_lines_and_changes_with_the_path(tmp_path):
    source = RULE_FIXTURES / "mig" / "fail-config.yaml"
    blueprint = tmp_path / "blueprint.yaml"
    blueprint.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    before = _valid(sarif(run(blueprint).findings, {}, 1, root=tmp_path))["runs"][0]["results"]
    blueprint.write_text("# moved\n# down\n" + source.read_text(encoding="utf-8"), encoding="utf-8")
    after = _valid(sarif(run(blueprint).findings, {}, 1, root=tmp_path))["runs"][0]["results"]
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in after] == [
        r["locations"][0]["physicalLocation"]["region"]["startLine"] + 2 for r in before]
    assert [r["partialFingerprints"] for r in after] == [r["partialFingerprints"] for r in before]
    moved = replace(run(blueprint).findings[0], path=("spec", "elsewhere"))
    other = _valid(sarif([moved], {}, 1, root=tmp_path))["runs"][0]["results"][0]
    assert other["partialFingerprints"] != before[0]["partialFingerprints"]


def test_usage_errors_files_outside_the_root_and_unknown_codes_still_give_a_valid_log(tmp_path):
    outside = tmp_path / "with space.yaml"
    findings = [
        Finding("no/such dir", 1, 1, "AF001", Severity.ERROR, "no/such dir does not exist"),
        Finding(str(outside), 0, 0, "AF101", Severity.ERROR, "cannot read"),
        Finding("blueprints/x.yaml", 2, 1, "AF999", Severity.WARNING, "from a future stage"),
    ]
    log = _sarif(findings)
    by_code = {r["ruleId"]: r for r in log["runs"][0]["results"]}
    first = by_code["AF001"]["locations"][0]["physicalLocation"]
    assert first["artifactLocation"] == {"uri": "no/such%20dir", "uriBaseId": SRCROOT}
    unread = by_code["AF101"]["locations"][0]["physicalLocation"]
    assert "region" not in unread  # line 0: position unknown
    assert unread["artifactLocation"]["uri"] == outside.as_uri()
    assert unquote(urlsplit(unread["artifactLocation"]["uri"]).path) == str(outside)
    rules_ = log["runs"][0]["tool"]["driver"]["rules"]
    assert rules_[by_code["AF999"]["ruleIndex"]]["id"] == "AF999"


def test_empty_run_lists_every_rule_and_no_result():
    log = _sarif([], files=4)
    run_ = log["runs"][0]
    assert run_["results"] == [] and run_["properties"] == {"blueprints": 4}
    driver = run_["tool"]["driver"]
    assert driver["name"] == "aifab" and driver["version"]
    ids = [r["id"] for r in driver["rules"]]
    assert ids == sorted(ids) and len(ids) == len(set(ids))


def test_rules_cover_every_code_of_every_stage_and_rule_module():
    import importlib

    ids = {code for code, _ in rule_catalog()}
    for name, _ in STAGES:
        assert set(importlib.import_module(name).CODES) <= ids, name
    for rule in rules():
        assert set(rule.codes) <= ids, rule.name
    codes = [code for code, _ in rule_catalog()]
    assert len(codes) == len(set(codes)), "a code is defined by two modules"


def test_every_code_in_the_source_has_a_rule():
    """A code written anywhere in the package (a finding some path can report) has a rule."""
    ids = {code for code, _ in rule_catalog()}
    used = {}
    for path in sorted((ROOT / "src" / "aifab").rglob("*.py")):
        for code in re.findall(r"[\"'](AF\d{3})[\"']", path.read_text(encoding="utf-8")):
            used.setdefault(code, path.relative_to(ROOT).as_posix())
    missing = {code: where for code, where in used.items() if code not in ids}
    assert not missing, f"codes with no CODES entry (add the module to sarif.STAGES?): {missing}"


def test_rule_descriptions_come_from_codes_and_docstrings():
    catalog = dict(rule_catalog())
    log = _sarif([])
    rules_ = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    mig = next(r for r in rules() if r.name == "mig")
    assert rules_["AF340"]["shortDescription"]["text"] == mig.codes["AF340"]
    assert rules_["AF340"]["fullDescription"]["text"] == mig.summary
    assert "mig-parted" in rules_["AF340"]["help"]["text"]
    assert rules_["AF340"]["name"] == "MIGConfigNotDefinedForThePoolsGPU"
    assert rules_["AF104"]["help"]["markdown"].startswith("**AF104** YAML syntax error")
    assert set(WARNING_CODES) <= set(catalog)
    for code, rule in rules_.items():
        expected = "warning" if code in WARNING_CODES else "error"
        assert rule["defaultConfiguration"]["level"] == expected


def test_default_level_matches_what_the_rules_report():
    """The failing fixtures cover every rule code (test_rules' meta-test): their severity is the
    rule's default level, unless the code is reported at both levels."""
    seen: dict[str, set[Severity]] = {}
    for path in FAILING:
        for f in run(path).findings:
            seen.setdefault(f.code, set()).add(f.severity)
    for code, severities in sorted(seen.items()):
        if severities == {Severity.WARNING}:
            assert code in WARNING_CODES, f"{code} is a warning: add it to WARNING_CODES"
        elif severities == {Severity.ERROR}:
            assert code not in WARNING_CODES, f"{code} is reported as an error"
    assert warning("AF385", "x").severity is Severity.WARNING
