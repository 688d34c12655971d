"""Findings a team accepts: `# aifab: ignore AFnnn <reason>` on the finding's line, or alone on
the line above; silenced findings leave the exit code and the text output, stay in JSON and
SARIF; an ignore without a reason (AF010) or that silences nothing (AF011) is a warning."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from aifab.diagnostics import with_strict
from aifab.pipeline import run
from aifab.suppress import ignores
from bundled import BLUEPRINTS

PARTIAL_SU = "      nodes: 31\n"  # the reference's b200-infer pool: AF334, a partial SU


def blueprint(tmp_path: Path, replacement: str) -> Path:
    text = (BLUEPRINTS / "gwangju-gb200.yaml").read_text(encoding="utf-8")
    assert text.count(PARTIAL_SU) == 1
    path = tmp_path / "gwangju-gb200.yaml"
    path.write_text(text.replace(PARTIAL_SU, replacement), encoding="utf-8")
    return path


def codes(path: Path) -> dict[str, list[str]]:
    """code -> the reasons of its findings ("" when not silenced)."""
    found: dict[str, list[str]] = {}
    for f in run(path).findings:
        found.setdefault(f.code, []).append(f.suppressed)
    return found


def aifab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aifab", *args], capture_output=True,
                          text=True, check=False, timeout=120)


def test_an_ignore_on_the_line_silences_that_code_there(tmp_path):
    path = blueprint(tmp_path, "      nodes: 31  # aifab: ignore AF334 pilot rack, full SU in Q3\n")
    assert codes(path)["AF334"] == ["pilot rack, full SU in Q3"]
    assert "AF010" not in codes(path) and "AF011" not in codes(path)
    text = aifab("validate", str(path)).stdout
    assert " AF334 " not in text and "(1 accepted by `# aifab: ignore`)" in text


def test_an_ignore_alone_on_the_line_above(tmp_path):
    path = blueprint(tmp_path, "      # aifab: ignore AF334 pilot rack\n      nodes: 31\n")
    assert codes(path)["AF334"] == ["pilot rack"]


def test_strict_does_not_bring_a_silenced_finding_back(tmp_path):
    path = blueprint(tmp_path, "      nodes: 31  # aifab: ignore AF334 pilot rack\n")
    strict = with_strict(run(path).findings, True)
    (accepted,) = [f for f in strict if f.code == "AF334"]
    assert not accepted.is_error and accepted.suppressed == "pilot rack"


def test_silenced_findings_stay_visible_in_json_and_sarif(tmp_path):
    path = blueprint(tmp_path, "      nodes: 31  # aifab: ignore AF334 pilot rack\n")
    document = json.loads(aifab("validate", "--format", "json", str(path)).stdout)
    (found,) = [f for f in document["findings"] if f["code"] == "AF334"]
    assert found["suppressed"] == "pilot rack" and document["summary"]["suppressed"] == 1
    log = json.loads(aifab("validate", "--format", "sarif", str(path)).stdout)
    (result,) = [r for r in log["runs"][0]["results"] if r["ruleId"] == "AF334"]
    assert result["suppressions"] == [{"kind": "inSource", "justification": "pilot rack"}]
    github = aifab("validate", "--format", "github", str(path)).stdout
    assert "title=AF334" not in github


def test_an_ignore_without_a_reason_is_a_warning(tmp_path):
    path = blueprint(tmp_path, "      nodes: 31  # aifab: ignore AF334\n")
    found = run(path).findings
    (accepted,) = [f for f in found if f.code == "AF334"]
    assert accepted.suppressed  # it still silences
    (said,) = [f for f in found if f.code == "AF010"]
    assert not said.is_error and said.line == 52


def test_an_ignore_that_silences_nothing_is_a_warning(tmp_path):
    path = blueprint(tmp_path, "      nodes: 31  # aifab: ignore AF321 wrong code\n")
    found = codes(path)
    assert found["AF334"] == [""] and found["AF011"] == [""]


def test_only_comments_count():
    text = 'a: "# aifab: ignore AF334 inside quotes"\nb: 1  # aifab: ignore AF334, AF335 why\n'
    (only,) = ignores("f.yaml", text)
    assert (only.line, only.target, only.codes, only.reason) == (2, 2, ("AF334", "AF335"), "why")
