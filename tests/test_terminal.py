"""Terminal output: colour only where it belongs, numbers with separators, honest
percentages, counts that agree with their noun, paths relative to the current directory."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aifab.diagnostics import Finding, Severity
from aifab.reporters import github, report, summary, text
from aifab.terminal import count, number, percent, relative, use_color

ROOT = Path(__file__).resolve().parents[1]
FLEET = ROOT / "blueprints" / "korea-national.yaml"
ESC = "\x1b["


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("stream", "fmt", "env", "expected"), [
    (Tty(), "text", {}, True),
    (io.StringIO(), "text", {}, False),  # a pipe or a file: never
    (Tty(), "text", {"NO_COLOR": "1"}, False),
    (Tty(), "text", {"NO_COLOR": ""}, True),  # no-color.org: set and not empty
    (io.StringIO(), "text", {"FORCE_COLOR": "1"}, True),
    (Tty(), "text", {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
    (Tty(), "json", {"FORCE_COLOR": "1"}, False),
    (Tty(), "sarif", {}, False),
    (Tty(), "github", {"FORCE_COLOR": "1"}, False),
])
def test_colour_only_on_terminals_and_never_in_machine_formats(stream, fmt, env, expected):
    assert use_color(stream, fmt, env) is expected


@pytest.mark.parametrize(("part", "whole", "digits", "shown"), [
    (996, 1000, 0, "99%"),  # not 100%
    (9996, 10000, 1, "99.9%"),
    (1000, 1000, 0, "100%"),
    (1003, 1000, 0, "101%"),  # over the line is never shown as exactly on it
    (2, 1000, 0, "1%"),  # not 0%
    (2, 10000, 1, "0.1%"),
    (0, 1000, 0, "0%"),
    (1, 3, 1, "33.3%"),
    (5, 0, 0, "n/a"),
])
def test_percentages_never_round_onto_all_or_nothing(part, whole, digits, shown):
    assert percent(part, whole, digits) == shown


def test_numbers_and_counts():
    assert number(62728) == "62,728"
    assert number(1830.4) == "1,830.4"
    assert number(3000.0) == "3,000"
    assert count(1, "node") == "1 node"
    assert count(2, "node") == "2 nodes"
    assert count(62728, "node") == "62,728 nodes"
    assert count(0, "switch", "switches") == "0 switches"


def test_paths_under_the_current_directory_are_relative(tmp_path):
    assert relative(tmp_path / "blueprints" / "a.yaml", tmp_path) == "blueprints/a.yaml"
    assert relative(tmp_path, tmp_path) == "."
    assert relative("/elsewhere/a.yaml", tmp_path) == "/elsewhere/a.yaml"
    assert relative("blueprints/a.yaml", tmp_path) == "blueprints/a.yaml"


def _finding(file: str, severity: Severity = Severity.ERROR) -> Finding:
    return Finding(file=file, line=1, col=1, code="AF301", severity=severity,
                   message="too much power", path=("spec",), hint="shrink a pool")


def test_text_report_paints_only_when_asked(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    findings = [_finding(str(tmp_path / "bp.yaml"))]
    plain = text(findings, {}, 1)
    assert ESC not in plain
    assert plain.startswith("bp.yaml:1:1: error AF301")  # relative to the current directory
    painted = text(findings, {}, 1, color=True)
    assert f"{ESC}1;31merror{ESC}0m" in painted and "1 error" in painted
    assert report("text", findings, {}, 1, Tty()) == painted
    for fmt in ("json", "github", "sarif"):
        assert ESC not in report(fmt, findings, {}, 1, Tty())
    assert "::error file=bp.yaml," in github(findings, {}, 1)


def test_summary_counts_with_separators_and_agreement():
    assert summary([], 1) == "1 blueprint valid"
    assert summary([], 1200) == "1,200 blueprints valid"
    warnings = [_finding("a.yaml", Severity.WARNING)]
    assert summary(warnings, 2) == "0 errors, 1 warning in 2 blueprints"


def _aifab(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run([sys.executable, "-m", "aifab", *args], cwd=cwd,
                          env={**clean, "PYTHONPATH": str(ROOT / "src"), **env},
                          capture_output=True, text=True, timeout=120, check=False)


def test_validate_colours_with_force_color_and_not_with_no_color(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: aifab.dev/v1alpha1\nkind: Cluster\nmetadata: {name: x}\n")
    assert ESC in _aifab("validate", str(bad), FORCE_COLOR="1").stdout
    assert ESC not in _aifab("validate", str(bad), FORCE_COLOR="1", NO_COLOR="1").stdout
    assert ESC not in _aifab("validate", str(bad)).stdout  # piped
    assert ESC not in _aifab("validate", "--format", "json", str(bad), FORCE_COLOR="1").stdout


def test_validate_prints_paths_relative_to_the_current_directory(tmp_path):
    bad = tmp_path / "blueprints" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text("apiVersion: aifab.dev/v1alpha1\nkind: Cluster\nmetadata: {name: x}\n")
    proc = _aifab("validate", str(bad), cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.startswith("blueprints/bad.yaml:") and str(tmp_path) not in proc.stdout


def test_plan_of_a_fleet_shows_separators_sites_and_allocations():
    proc = _aifab("plan", str(FLEET))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "62,728" in out and "260,480" in out and "62728" not in out
    assert "(blueprints/korea-national.yaml)" in out and str(ROOT) not in out
    assert "korea-national (blueprints/korea-national.yaml): power per site" in out
    assert "allocations against quotas" in out
    site = next(line for line in out.splitlines() if line.strip().startswith("busan-coast"))
    assert "90,880" in site and "92,000" in site and "98.8%" in site
    data = json.loads(_aifab("plan", "--format", "json", str(FLEET)).stdout)
    (fleet,) = data["fleets"]
    sites = {s["name"]: s for s in fleet["sites"]}
    assert sites["busan-coast"]["powerKW"] == 90880
    assert sites["busan-coast"]["powerBudgetKW"] == 92000
    assert len(sites["busan-coast"]["clusters"]) == 4
    grants = {a["tenant"]: a for a in fleet["allocations"]}
    assert grants["sovereign-llm"] == {"tenant": "sovereign-llm", "gpus": 114048,
                                       "quotaGPUs": 114048, "clusters": grants[
                                           "sovereign-llm"]["clusters"]}
    assert len(grants["sovereign-llm"]["clusters"]) == 15
    assert fleet["allocatedGPUs"] == fleet["gpus"] == 260480


def test_generate_lists_its_output_relative_to_the_current_directory(tmp_path):
    (tmp_path / "blueprints").mkdir()
    shutil.copy(ROOT / "blueprints" / "seoul-rtxpro.yaml", tmp_path / "blueprints")
    out = tmp_path / "generated"
    proc = _aifab("generate", "blueprints/seoul-rtxpro.yaml", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = len([p for p in (out / "seoul-rtxpro").rglob("*") if p.is_file()])
    assert f"generated/seoul-rtxpro/: {files:,} files written" in proc.stdout.splitlines()
    assert str(tmp_path) not in proc.stdout


def test_diff_never_shows_a_budget_almost_used_up_as_100_percent():
    import dataclasses

    from aifab.diff.compare import _numbers
    from aifab.pipeline import run

    cluster = run(ROOT / "blueprints" / "gwangju-gb200.yaml").cluster
    assert cluster is not None and cluster.power_kw == pytest.approx(2555.3)
    tight = dataclasses.replace(cluster, site=dataclasses.replace(cluster.site,
                                                                  power_budget_kw=2556.3))
    assert _numbers(tight)[("total", "budget used %")] == 99.9  # 99.96%, not 100.0


def test_deploy_progress_colour_follows_no_color(monkeypatch):
    from aifab import rollout

    monkeypatch.setattr(sys, "stdout", Tty())
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    assert rollout.console().colour is False
    monkeypatch.delenv("NO_COLOR")
    assert rollout.console().colour is True
