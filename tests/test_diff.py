"""aifab diff: blueprints at a git ref against the working tree, in a throwaway repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from aifab.diff import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, run

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "gwangju-gb200.yaml"


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "HOME": str(repo.parent), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          timeout=30, env=env, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return reference_repo(tmp_path)


def reference_repo(tmp_path: Path) -> Path:
    """A repository whose HEAD holds the reference blueprint (only: others may be mid-change)."""
    repo = tmp_path / "repo"
    (repo / "blueprints").mkdir(parents=True)
    shutil.copy(ROOT / "blueprints" / REFERENCE, repo / "blueprints")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "reference")
    return repo


def blueprint(repo: Path) -> Path:
    return repo / "blueprints" / REFERENCE


def edit(repo: Path, old: str, new: str) -> None:
    path = blueprint(repo)
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def diff(repo: Path, fmt: str, *args: str, base: str | None = None) -> tuple[str, int]:
    return run(args, base=base, fmt=fmt, cwd=repo)


def numbers(report: str) -> dict[tuple[str, str], dict]:
    cluster = json.loads(report)["clusters"][0]
    return {(n["scope"], n["metric"]): n for n in cluster["numbers"]}


def test_two_more_gb200_racks_in_every_format(repo):
    edit(repo, "racks: 16 ", "racks: 18 ")
    md, code = diff(repo, "markdown")
    assert code == EXIT_OK
    assert "### gwangju-gb200 (changed)" in md
    assert "| GPUs | 1,400 | 1,544 | +144 |" in md
    assert "| power kW | 2,555.3 | 2,819.3 | +264 |" in md
    assert "| gb200: racks | 16 | 18 | +2 |" in md
    assert "- changed `node-pools/gb200.yaml`" in md
    assert "computedomain-" not in md  # ComputeDomains are per workload, none per rack
    assert "Tenants" not in md  # quotas stay

    text, code = diff(repo, "text")
    assert code == EXIT_OK
    lines = [line.split() for line in text.splitlines()]
    assert ["GPUs", "1,400", "->", "1,544", "+144"] in lines
    assert ["power", "kW", "2,555.3", "->", "2,819.3", "+264"] in lines
    assert "      ~ node-pools/gb200.yaml" in text

    report, code = diff(repo, "json")
    assert code == EXIT_OK
    rows = numbers(report)
    assert rows[("total", "GPUs")]["delta"] == 144
    assert rows[("total", "power kW")]["delta"] == 264
    assert rows[("gb200", "nodes")] == {"scope": "gb200", "metric": "nodes", "before": 288,
                                         "after": 324, "delta": 36}
    cluster = json.loads(report)["clusters"][0]
    assert cluster["tenants"] == [] and cluster["versions"] == []
    assert "ComputeDomain" not in cluster["objects"]
    assert cluster["objects"]["NodeFeatureRule"]["changed"] == ["node-pools/gb200.yaml"]


def test_removed_tenant_and_changed_version(repo):
    text = blueprint(repo).read_text()
    blueprint(repo).write_text(text[: text.index("    - name: public-research")])
    edit(repo, "version: v26.3.0", "version: v26.7.0")
    report, code = diff(repo, "json")
    assert code == EXIT_OK
    cluster = json.loads(report)["clusters"][0]
    assert cluster["tenants"] == ["removed tenant public-research (b200-infer 248, gb200 384)"]
    assert cluster["versions"] == [
        {"name": "GPU Operator", "before": "v26.3.0", "after": "v26.7.0"}]
    objects = cluster["objects"]
    assert "kueue/clusterqueue-public-research.yaml" in objects["ClusterQueue"]["removed"]
    assert objects["HelmRelease"]["changed"] == ["gpu-operator/helmrelease-gpu-operator.yaml"]
    md, _ = diff(repo, "markdown")
    assert "- GPU Operator: `v26.3.0` → `v26.7.0`" in md
    assert "- removed tenant public-research" in md


def test_quota_change_is_listed_with_its_delta(repo):
    edit(repo, "gb200: 384", "gb200: 312")
    text, code = diff(repo, "text")
    assert code == EXIT_OK
    assert "    public-research: quota gb200 384 -> 312 (-72)" in text


def test_a_clean_tree_reports_no_changes(repo):
    md, code = diff(repo, "markdown")
    assert code == EXIT_OK
    assert "No cluster changes between `HEAD` and the working tree (1 unchanged)." in md
    text, _ = diff(repo, "text")
    assert text.splitlines()[-1] == "no cluster changes (1 unchanged)"
    report, _ = diff(repo, "json")
    assert json.loads(report)["summary"]["unchanged"] == 1
    assert json.loads(report)["summary"]["changed"] == 0


def test_comments_only_is_no_change(repo):
    edit(repo, "racks: 16 ", "racks: 16   # still sixteen ")
    md, _ = diff(repo, "markdown")
    assert "No cluster changes" in md


def test_invalid_blueprint_at_head_is_reported_not_raised(repo):
    edit(repo, "powerBudgetKW: 3000", "powerBudgetKw: 3000")
    git(repo, "commit", "-qam", "typo")
    edit(repo, "powerBudgetKw: 3000", "powerBudgetKW: 3000")  # the branch fixes it
    text, code = diff(repo, "text")
    assert code == EXIT_OK  # the working tree is fine
    assert "gwangju-gb200 (blueprints/gwangju-gb200.yaml): invalid" in text
    assert "  does not validate at HEAD:" in text
    line = next(i for i, t in enumerate(blueprint(repo).read_text().splitlines(), 1)
                if "powerBudgetKW" in t)
    assert f"HEAD:blueprints/gwangju-gb200.yaml:{line}:5: AF201 unknown key 'powerBudgetKw'" in text
    assert "did you mean 'powerBudgetKW'?" in text
    report, _ = diff(repo, "json")
    cluster = json.loads(report)["clusters"][0]
    assert cluster["before"]["valid"] is False and cluster["after"]["valid"] is True
    assert cluster["before"]["errors"][0]["code"] == "AF201"


def test_invalid_working_tree_exits_1(repo):
    edit(repo, "racks: 16 ", "racks: 17 ")  # not a whole SU is a warning; a quota over is not
    edit(repo, "gb200: 768", "gb200: 9999")
    md, code = diff(repo, "markdown")
    assert code == EXIT_FINDINGS
    assert "**does not validate at working tree:**" in md


def test_added_cluster_and_yaml_garbage(repo):
    text = blueprint(repo).read_text().replace("name: gwangju-gb200", "name: gwangju-two")
    (repo / "blueprints" / "two.yaml").write_text(text)
    (repo / "blueprints" / "bad.yaml").write_text("spec: [unclosed\n")
    report, code = diff(repo, "json")
    assert code == EXIT_FINDINGS
    clusters = {c["name"]: c for c in json.loads(report)["clusters"]}
    added = clusters["gwangju-two"]
    assert added["status"] == "added" and added["before"] is None
    gpus = next(n for n in added["numbers"] if (n["scope"], n["metric"]) == ("total", "GPUs"))
    assert gpus == {"scope": "total", "metric": "GPUs", "before": None, "after": 1400,
                    "delta": 1400}
    assert clusters["blueprints/bad.yaml"]["after"]["errors"][0]["code"] == "AF104"


def test_default_base_is_the_merge_base_with_origin_main(repo):
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    edit(repo, "racks: 16 ", "racks: 18 ")
    git(repo, "commit", "-qam", "two more racks")  # committed on the branch: still reported
    md, code = diff(repo, "markdown")
    assert code == EXIT_OK
    assert md.startswith("## aifab diff: `merge base with origin/main`")
    assert "+144" in md
    clean, _ = diff(repo, "markdown", base="HEAD")
    assert "No cluster changes" in clean


def test_paths_select_blueprints(repo):
    edit(repo, "racks: 16 ", "racks: 18 ")
    md, _ = diff(repo, "markdown", "blueprints/gwangju-gb200.yaml")
    assert "+144" in md


@pytest.mark.parametrize("case", ["outside", "missing", "ref", "dash-ref"])
def test_usage_errors(repo, tmp_path, case):
    args, base = {"outside": ((str(tmp_path),), None), "missing": (("nowhere",), None),
                  "ref": ((), "no-such-branch"), "dash-ref": ((), "--output=/tmp/x")}[case]
    text, code = diff(repo, "markdown", *args, base=base)
    assert code == EXIT_USAGE
    assert text.startswith("aifab diff: ") and "Traceback" not in text


def test_not_a_repository(tmp_path):
    text, code = run((), cwd=tmp_path)
    assert code == EXIT_USAGE
    assert "is not inside a git repository" in text


# -- fleets: a small one (the fixture), never the national fleet (expanding it takes seconds) --


@pytest.fixture
def fleet_repo(tmp_path: Path) -> Path:
    """A repository whose HEAD holds the fixture fleet (blueprints/fleet.yaml, one inline and
    one file member), with room in a-gb200's power budget for a ninth rack."""
    repo = tmp_path / "fleet-repo"
    shutil.copytree(ROOT / "tests" / "fixtures" / "fleet", repo / "blueprints")
    replace_in(repo / "blueprints" / "clusters" / "a-gb200.yaml",
               "powerBudgetKW: 1100", "powerBudgetKW: 1300")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "fleet")
    return repo


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def by_name(report: str) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads(report)["clusters"]}


def total(cluster: dict, metric: str) -> dict:
    return next(n for n in cluster["numbers"] if (n["scope"], n["metric"]) == ("total", metric))


def test_fleet_member_file_is_read_at_the_base(fleet_repo):
    member = fleet_repo / "blueprints" / "clusters" / "a-gb200.yaml"
    replace_in(member, "racks: 8", "racks: 9")  # base and working tree differ only here
    report, code = diff(fleet_repo, "json")
    assert code == EXIT_OK
    clusters = by_name(report)
    assert set(clusters) == {"a-gb200", "a-b200"}
    changed = clusters["a-gb200"]
    assert changed["status"] == "changed" and changed["kind"] == "Cluster"
    assert changed["after"]["file"] == "blueprints/clusters/a-gb200.yaml"
    assert total(changed, "GPUs") == {"scope": "total", "metric": "GPUs", "before": 576,
                                      "after": 648, "delta": 72}
    assert total(changed, "racks")["delta"] == 1
    assert changed["objects"]["NodeFeatureRule"]["changed"] == ["node-pools/gb200.yaml"]
    assert clusters["a-b200"]["status"] == "unchanged"
    assert json.loads(report)["summary"] == {"added": 0, "removed": 0, "changed": 1,
                                             "invalid": 0, "unchanged": 1}
    text, _ = diff(fleet_repo, "text", "blueprints/fleet.yaml")  # the fleet file as the path
    assert "a-gb200 (blueprints/clusters/a-gb200.yaml): changed" in text
    assert ["GPUs", "576", "->", "648", "+72"] in [line.split() for line in text.splitlines()]


def test_fleet_default_reaches_every_cluster(fleet_repo):
    replace_in(fleet_repo / "blueprints" / "fleet.yaml", "version: v26.3.0", "version: v26.7.0")
    report, code = diff(fleet_repo, "json")
    assert code == EXIT_OK
    clusters = by_name(report)
    assert set(clusters) == {"a-gb200", "a-b200"}
    for cluster in clusters.values():
        assert cluster["status"] == "changed"
        assert cluster["versions"] == [
            {"name": "GPU Operator", "before": "v26.3.0", "after": "v26.7.0"}]
        assert cluster["objects"]["HelmRelease"]["changed"] == [
            "gpu-operator/helmrelease-gpu-operator.yaml"]
        assert total(cluster, "GPUs")["delta"] == 0


def test_inline_cluster_added_to_a_fleet(fleet_repo):
    fleet = fleet_repo / "blueprints" / "fleet.yaml"
    fleet.write_text(fleet.read_text() + """\
    - metadata:
        name: a-b200-two
      spec:
        site: {name: campus-a, country: KR, powerBudgetKW: 500, cooling: air}
        nodePools:
          - {name: b200, system: dgx-b200, nodes: 31, hostnames: "a-b2x-{node:03d}"}
""")
    report, code = diff(fleet_repo, "json")
    assert code == EXIT_OK
    clusters = by_name(report)
    added = clusters["a-b200-two"]
    assert added["status"] == "added" and added["before"] is None
    assert added["after"]["file"] == "blueprints/fleet.yaml"
    assert total(added, "GPUs") == {"scope": "total", "metric": "GPUs", "before": None,
                                    "after": 248, "delta": 248}
    assert {c["status"] for n, c in clusters.items() if n != "a-b200-two"} == {"unchanged"}
    md, _ = diff(fleet_repo, "markdown")
    assert "### a-b200-two (added)" in md and "1 added, 2 unchanged." in md


def test_fleet_errors_are_reported_as_the_fleet(fleet_repo):
    fleet = fleet_repo / "blueprints" / "fleet.yaml"
    replace_in(fleet, "file: clusters/a-gb200.yaml", "file: clusters/gone.yaml")
    report, code = diff(fleet_repo, "json")
    assert code == EXIT_FINDINGS  # the working tree's fleet does not validate
    entry = by_name(report)["fleet test-fleet"]
    assert entry["kind"] == "Fleet" and entry["status"] == "invalid"
    assert entry["before"]["valid"] is True
    (error,) = entry["after"]["errors"]
    assert (error["file"], error["code"]) == ("blueprints/fleet.yaml", "AF602")
    text, _ = diff(fleet_repo, "text")
    assert "fleet test-fleet (blueprints/fleet.yaml): invalid" in text


def test_base_findings_name_the_ref_and_the_repository(fleet_repo):
    member = fleet_repo / "blueprints" / "clusters" / "a-gb200.yaml"
    fleet = fleet_repo / "blueprints" / "fleet.yaml"
    replace_in(member, "racks: 8", "rackz: 8")
    replace_in(fleet, "file: clusters/a-gb200.yaml", "file: ../../outside.yaml")
    (fleet_repo.parent / "outside.yaml").write_text(member.read_text())
    git(fleet_repo, "commit", "-qam", "broken at the base")
    replace_in(member, "rackz: 8", "racks: 8")
    replace_in(fleet, "file: ../../outside.yaml", "file: clusters/a-gb200.yaml")
    report, code = diff(fleet_repo, "json")
    assert code == EXIT_OK  # the working tree is fine
    clusters = by_name(report)
    (error,) = clusters["fleet test-fleet"]["before"]["errors"]
    assert error["file"] == "HEAD:blueprints/fleet.yaml" and error["code"] == "AF602"
    # refused at the base as in the working tree, and named by the repository, not the
    # temporary folder the base was read into
    assert f"leaves the repository ({fleet_repo.resolve()})" in error["message"]
    assert clusters["a-gb200"]["status"] == "added"  # it was not part of the fleet at HEAD


def test_base_member_findings_point_into_the_member_file(fleet_repo):
    member = fleet_repo / "blueprints" / "clusters" / "a-gb200.yaml"
    replace_in(member, "racks: 8", "rackz: 8")
    git(fleet_repo, "commit", "-qam", "typo")
    replace_in(member, "rackz: 8", "racks: 8")
    text, code = diff(fleet_repo, "text")
    assert code == EXIT_OK
    line = next(i for i, t in enumerate(member.read_text().splitlines(), 1) if "racks" in t)
    assert f"HEAD:blueprints/clusters/a-gb200.yaml:{line}:7: AF201 unknown key 'rackz'" in text
