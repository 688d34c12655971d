"""`aifab generate --check --format json|sarif|github`: each file that is not as generated is a
finding at that file (AF014 missing, AF015 stale, AF016 edited by hand, AF017 extra, AF018 not a
regular file), so CI annotates generated/ itself; text output keeps its plain listing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aifab import cli
from aifab.scaffold import files

CLUSTER = "generated/lab-b200"


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """A repository as `aifab init` makes it, generated, then drifted in every way."""
    for path, content in files("drift").items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(content)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["generate"]) == 0
    return tmp_path


def drift(repo: Path) -> None:
    tree = repo / CLUSTER
    summary = (tree / "SUMMARY.md").read_text().splitlines(keepends=True)
    summary[4] = "edited by hand\n"
    (tree / "SUMMARY.md").write_text("".join(summary))
    (tree / "site.svg").unlink()
    (tree / "extra.yaml").write_text("kind: Secret\n")
    os.mkfifo(tree / "pipe.yaml")
    (repo / "generated" / "ghost").mkdir()
    stack = (repo / "stacks" / "Pulumi.lab-b200.yaml").read_text()
    (repo / "stacks" / "Pulumi.gone.yaml").write_text(stack.replace("lab-b200", "gone"))
    blueprint = repo / "blueprints" / "lab-b200.yaml"
    blueprint.write_text(blueprint.read_text().replace("fine-tuning and evaluation",
                                                       "fine-tuning"))


EXPECTED = {
    ("AF014", f"{CLUSTER}/site.svg", 1),
    ("AF016", f"{CLUSTER}/SUMMARY.md", 5),  # at the line edited
    ("AF015", f"{CLUSTER}/aifab.lock.json", 4),  # the blueprint's digest
    ("AF017", f"{CLUSTER}/extra.yaml", 1),
    ("AF017", "generated/ghost", 1),
    ("AF017", "stacks/Pulumi.gone.yaml", 1),
    ("AF018", f"{CLUSTER}/pipe.yaml", 1),
}


def test_json_has_a_finding_at_each_file(repo, capsys):
    drift(repo)
    assert cli.main(["generate", "--check", "--format", "json"]) == 1
    out = capsys.readouterr()
    document = json.loads(out.out)  # standard output is the document alone
    found = {(f["code"], f["file"], f["line"]) for f in document["findings"]}
    assert found == EXPECTED
    assert document["summary"]["errors"] == len(EXPECTED)
    assert "NOT current" in out.err  # the plain listing goes to standard error
    [pipe] = [f for f in document["findings"] if f["code"] == "AF018"]
    assert pipe["message"] == "not a regular file, never read: a named pipe" and pipe["hint"]


def test_an_edited_file_is_reported_at_the_first_line_that_differs(repo, capsys):
    summary = repo / CLUSTER / "SUMMARY.md"
    lines = summary.read_text().splitlines(keepends=True)
    lines[6] = "edited by hand\n"
    summary.write_text("".join(lines))
    assert cli.main(["generate", "--check", "--format", "json"]) == 1
    [edited] = json.loads(capsys.readouterr().out)["findings"]
    assert (edited["code"], edited["file"], edited["line"]) == ("AF016", f"{CLUSTER}/SUMMARY.md", 7)
    assert edited["message"].startswith("edited by hand")


def test_github_annotates_the_files(repo, capsys):
    drift(repo)
    assert cli.main(["generate", "--check", "--format", "github"]) == 1
    out = capsys.readouterr().out
    annotations = [line for line in out.splitlines() if line.startswith("::error ")]
    assert len(annotations) == len(EXPECTED)
    assert f"::error file={CLUSTER}/site.svg,line=1,col=1,title=AF014::missing: " in out
    assert "::error file=stacks/Pulumi.gone.yaml,line=1,col=1,title=AF017::extra: the stack " \
           "configuration of a cluster no blueprint generates" in out
    assert "(document)" not in out  # no JSON path where there is none


def test_sarif_has_a_result_at_each_artifact(repo, capsys):
    drift(repo)
    assert cli.main(["generate", "--check", "--format", "sarif"]) == 1
    [run] = json.loads(capsys.readouterr().out)["runs"]
    found = {(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
              r["locations"][0]["physicalLocation"]["region"]["startLine"])
             for r in run["results"]}
    assert found == EXPECTED
    rules = {rule["id"] for rule in run["tool"]["driver"]["rules"]}
    assert {"AF014", "AF015", "AF016", "AF017", "AF018"} <= rules


def test_text_keeps_its_listing(repo, capsys):
    drift(repo)
    assert cli.main(["generate", "--check"]) == 1
    out = capsys.readouterr().out
    assert "  missing: site.svg" in out and "  extra: (the whole folder: no blueprint " in out
    assert "AF01" not in out


def test_a_current_tree_has_no_findings(repo, capsys):
    capsys.readouterr()
    assert cli.main(["generate", "--check", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []
