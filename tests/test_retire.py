"""Retiring a cluster: after its blueprint is deleted, a plain `aifab generate` removes its tree
and its stack configuration, and `--check` passes again; what aifab did not write stays."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aifab.cli import main
from bundled import CLUSTER_FILES, FLEET_FIXTURE, edit

ROOT = Path(__file__).resolve().parents[1]
RETIRED = "seoul-rtxpro"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The standalone clusters with their trees and stack files, as committed; the cwd."""
    repo = tmp_path / "repo"
    (repo / "blueprints").mkdir(parents=True)
    (repo / "stacks").mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", repo)
    for blueprint in CLUSTER_FILES:
        shutil.copy(blueprint, repo / "blueprints")
        shutil.copytree(ROOT / "generated" / blueprint.stem, repo / "generated" / blueprint.stem)
        shutil.copy(ROOT / "stacks" / f"Pulumi.{blueprint.stem}.yaml", repo / "stacks")
    monkeypatch.chdir(repo)
    assert main(["generate", "--check"]) == 0
    return repo


def test_deleting_a_blueprint_then_generate_retires_its_tree_and_stack(
        repo: Path, capsys: pytest.CaptureFixture) -> None:
    (repo / "blueprints" / f"{RETIRED}.yaml").unlink()
    capsys.readouterr()
    assert main(["generate", "--check"]) == 1
    out = capsys.readouterr().out
    assert f"generated/{RETIRED}/: NOT current" in out
    assert f"extra: Pulumi.{RETIRED}.yaml (the stack configuration" in out
    assert main(["generate"]) == 0
    out = capsys.readouterr().out
    assert f"generated/{RETIRED}/: removed" in out
    assert f"stacks/Pulumi.{RETIRED}.yaml: removed" in out
    assert not (repo / "generated" / RETIRED).exists()
    assert not (repo / "stacks" / f"Pulumi.{RETIRED}.yaml").exists()
    assert sorted(p.name for p in (repo / "generated").iterdir()) == sorted(
        p.stem for p in CLUSTER_FILES if p.stem != RETIRED)  # nothing hidden left behind
    assert main(["generate", "--check"]) == 0


@pytest.mark.parametrize("lock", [None, b"not json", b'{"files": {}}', b"[]"])
def test_a_folder_without_an_aifab_lock_is_never_removed(repo: Path, lock: bytes | None) -> None:
    handmade = repo / "generated" / "handmade"
    handmade.mkdir()
    (handmade / "notes.yaml").write_text("kept: true\n")
    if lock is not None:
        (handmade / "aifab.lock.json").write_bytes(lock)
    (repo / "stacks" / "Pulumi.handmade.yaml").write_text(
        "config:\n  aifab:cluster: handmade\n")  # its tree stays, so its stack file stays
    assert main(["generate"]) == 0
    assert (handmade / "notes.yaml").read_text() == "kept: true\n"
    assert (repo / "stacks" / "Pulumi.handmade.yaml").exists()
    assert main(["generate", "--check"]) == 1  # still reported, for a person to decide


def test_a_stack_file_that_is_not_aifabs_for_that_cluster_stays(repo: Path) -> None:
    others = {"Pulumi.staging.yaml": "config:\n  aifab:cluster: prod\n",
              "Pulumi.plain.yaml": "config:\n  kubernetes:context: plain\n",
              "Pulumi.broken.yaml": "config: [\n"}
    for name, text in others.items():
        (repo / "stacks" / name).write_text(text)
    # a stack that would deploy another tree, and one that cannot be read, are refused
    # (AF421, AF422) and left as they are
    assert main(["generate"]) == 1
    assert all((repo / "stacks" / name).read_text() == text for name, text in others.items())
    for name in ("Pulumi.staging.yaml", "Pulumi.broken.yaml"):
        (repo / "stacks" / name).unlink()
    assert main(["generate"]) == 0
    assert main(["generate", "--check"]) == 0
    assert (repo / "stacks" / "Pulumi.plain.yaml").read_text() == others["Pulumi.plain.yaml"]


def test_a_tree_whose_blueprint_lives_elsewhere_stays(repo: Path) -> None:
    elsewhere = repo / "elsewhere"
    elsewhere.mkdir()
    shutil.move(repo / "blueprints" / f"{RETIRED}.yaml", elsewhere)
    assert main(["generate", f"elsewhere/{RETIRED}.yaml"]) == 0
    lock = json.loads((repo / "generated" / RETIRED / "aifab.lock.json").read_text())
    assert lock["blueprint"] == f"elsewhere/{RETIRED}.yaml"
    assert main(["generate"]) == 0
    assert (repo / "generated" / RETIRED / "aifab.lock.json").exists()
    assert (repo / "stacks" / f"Pulumi.{RETIRED}.yaml").exists()


def test_generate_with_paths_removes_nothing(repo: Path) -> None:
    (repo / "blueprints" / f"{RETIRED}.yaml").unlink()
    assert main(["generate", "blueprints/busan-gb300.yaml"]) == 0
    assert (repo / "generated" / RETIRED).is_dir()
    assert (repo / "stacks" / f"Pulumi.{RETIRED}.yaml").exists()


def test_a_cluster_renamed_inside_its_fleet_retires_the_old_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(FLEET_FIXTURE, repo / "blueprints")
    shutil.copy(ROOT / "Pulumi.yaml", repo)
    monkeypatch.chdir(repo)
    assert main(["generate"]) == 0
    assert (repo / "generated" / "a-b200").is_dir()
    edit(repo / "blueprints" / "fleet.yaml", "name: a-b200", "name: a-b201")
    assert main(["generate"]) == 0
    assert sorted(p.name for p in (repo / "generated").iterdir()) == ["a-b201", "a-gb200"]
    assert sorted(p.name for p in (repo / "stacks").iterdir()) == [
        "Pulumi.a-b201.yaml", "Pulumi.a-gb200.yaml"]
    assert main(["generate", "--check"]) == 0


def test_a_blueprint_with_errors_retires_nothing(repo: Path) -> None:
    """A broken blueprint makes no cluster: its tree must not look retired."""
    edit(repo / "blueprints" / f"{RETIRED}.yaml", "kind: Cluster", "kind: Clustr")
    assert main(["generate"]) == 1
    assert (repo / "generated" / RETIRED / "aifab.lock.json").exists()
    assert (repo / "stacks" / f"Pulumi.{RETIRED}.yaml").exists()
