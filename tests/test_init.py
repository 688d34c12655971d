"""`aifab init DIR`: a new blueprint repository in which validate, generate and generate --check
pass at once, with aifab's own hooks, action and Pulumi program; a folder with files is refused
and left as it was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from aifab import __version__
from aifab.scaffold import project_name

ROOT = Path(__file__).resolve().parents[1]


def aifab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aifab", *args], cwd=cwd, capture_output=True,
                          check=False,
                          text=True, timeout=120)


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("init") / "my clusters"
    done = aifab("init", str(folder), cwd=folder.parent)
    assert done.returncode == 0, done.stderr
    return folder


def test_the_new_repository_is_green_at_once(repo):
    validated = aifab("validate", cwd=repo)
    assert (validated.returncode, validated.stdout.strip()) == (0, "1 blueprint valid")
    generated = aifab("generate", cwd=repo)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert (repo / "generated" / "lab-b200" / "aifab.lock.json").is_file()
    assert (repo / "stacks" / "Pulumi.lab-b200.yaml").is_file()  # Pulumi.yaml is found
    checked = aifab("generate", "--check", cwd=repo)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "generated/lab-b200/: current" in checked.stdout


def test_the_example_names_the_schema_it_meets(repo):
    blueprint = repo / "blueprints" / "lab-b200.yaml"
    first = blueprint.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/blueprint.schema.json"
    schema = json.loads((repo / "schemas" / "blueprint.schema.json").read_text())
    assert schema == json.loads((ROOT / "schemas" / "blueprint.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(blueprint.read_text()))


def test_hooks_are_aifabs_own(repo):
    """The same hooks as .pre-commit-hooks.yaml, run by the installed aifab (`repo: local`)."""
    published = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    config = yaml.safe_load((repo / ".pre-commit-config.yaml").read_text())
    [local] = config["repos"]
    assert local["repo"] == "local"
    for hook in local["hooks"]:
        mine = {k: hook[k] for k in ("entry", "files", "pass_filenames")}
        assert mine == {k: published[hook["id"]][k] for k in mine}
    assert [h["id"] for h in local["hooks"]] == list(published)


def test_the_workflow_runs_aifabs_action(repo):
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "aifab.yml").read_text())
    inputs = yaml.safe_load((ROOT / "action.yml").read_text())["inputs"]
    steps = workflow["jobs"]["aifab"]["steps"]
    [action] = [s for s in steps if s["uses"].split("@")[0].endswith("/aifab")]
    assert action["uses"].endswith(f"@v{__version__}")
    assert set(action["with"]) <= set(inputs)
    assert workflow["permissions"]["security-events"] == "write"  # the SARIF upload


def test_the_pulumi_project_runs_aifabs_program(repo):
    mine = yaml.safe_load((repo / "Pulumi.yaml").read_text())
    ours = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert mine["name"] == "my-clusters"
    assert {k: mine[k] for k in ("runtime", "main", "stackConfigDir")} == \
        {k: ours[k] for k in ("runtime", "main", "stackConfigDir")}
    program = (repo / "stacks" / "__main__.py").read_text()
    assert "from aifab.deploy.program import run\n\nrun()\n" in program


@pytest.mark.parametrize("name, project", [
    ("clusters", "clusters"), ("a: b\n#c", "a-b-c"), ("...", "gpu-clusters"),
    ("x" * 120, "x" * 100)])
def test_the_project_name_is_one_pulumi_accepts(name, project):
    assert project_name(Path("/tmp") / name) == project


@pytest.mark.parametrize("content", ["a file", "a folder", "a hidden file"])
def test_a_folder_with_anything_in_it_is_refused(tmp_path, content):
    folder = tmp_path / "mine"
    folder.mkdir()
    if content == "a file":
        (folder / "notes.txt").write_text("mine\n")
    elif content == "a folder":
        (folder / "blueprints").mkdir()
    else:
        (folder / ".git").write_text("gitdir: elsewhere\n")
    before = tree(tmp_path)
    done = aifab("init", "mine", cwd=tmp_path)
    assert done.returncode == 2
    assert "mine:1:1: error AF012 mine is not empty" in done.stderr
    assert "hint:" in done.stderr and "Traceback" not in done.stderr
    assert tree(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_a_file_is_refused(tmp_path):
    (tmp_path / "mine").write_text("x\n")
    done = aifab("init", "mine", cwd=tmp_path)
    assert done.returncode == 2 and "AF012 mine exists and is not a folder" in done.stderr
    assert (tmp_path / "mine").read_text() == "x\n"


def test_an_empty_folder_is_used(tmp_path):
    (tmp_path / "mine").mkdir()
    done = aifab("init", "mine", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mine" / "blueprints" / "lab-b200.yaml").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]  # no staging folder left


def test_the_working_folder_is_kept(tmp_path):
    """`aifab init .` in a new empty folder: the files land in that very folder."""
    before = tmp_path.stat().st_ino
    done = aifab("init", ".", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert tmp_path.stat().st_ino == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".github", ".gitignore", ".pre-commit-config.yaml", "Pulumi.yaml", "README.md",
        "blueprints", "schemas", "stacks"]
    assert aifab("validate", cwd=tmp_path).returncode == 0


def test_a_folder_that_cannot_be_made_is_a_finding(tmp_path):
    (tmp_path / "notes").write_text("x\n")  # a file where a parent folder would be
    done = aifab("init", "notes/mine", cwd=tmp_path)
    assert done.returncode == 1 and "AF013 cannot write notes/mine" in done.stderr
    assert "Traceback" not in done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes"]


def test_a_failed_init_leaves_no_folder_it_made(tmp_path, monkeypatch):
    """The hint says nothing was written: the parent folders made for the new one go too."""
    from aifab import scaffold

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(scaffold.tempfile, "mkdtemp", full)
    written, findings = scaffold.init(tmp_path / "a" / "b" / "mine")
    assert not written and [f.code for f in findings] == ["AF013"]
    assert list(tmp_path.iterdir()) == []
