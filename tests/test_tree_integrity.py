"""What a checkout can plant in blueprints/, generated/ and stacks/ (issue 19, items 4, 12, 13).

Links out of the repository are never followed: a blueprint linked to a file of cloud keys is
not read (so never quoted), a link in generated/ is not shown by `--check --diff`, and a
dangling link at a new stack configuration is not written through. A lock edited together
with a file is not trusted by `generate`, and `--check` names it. A named pipe or a link to
/proc/self/mem in generated/ neither hangs nor crashes a run, and `generate` repairs the tree.
Each command runs as a process, as a user (or CI) runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aifab.deploy.tree import TreeError, load_cluster_tree
from aifab.render import LOCK, digest

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = "seoul-rtxpro"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CREDENTIALS = ("[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
               f"aws_secret_access_key = {SECRET}\n")
TIMEOUT = 120  # seconds; a run that hangs on a named pipe never ends


def aifab(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(repo.parent / "cache")}
    return subprocess.run([sys.executable, "-m", "aifab", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)


def said(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def generated_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with one blueprint, generated: copied by `repo` for each test."""
    repo = tmp_path_factory.mktemp("once") / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "blueprints").mkdir()
    shutil.copy(ROOT / "blueprints" / f"{CLUSTER}.yaml", repo / "blueprints")
    shutil.copy(ROOT / "Pulumi.yaml", repo / "Pulumi.yaml")
    done = aifab(repo, "generate", "--jobs", "1")
    assert done.returncode == 0, said(done)
    assert (repo / "stacks" / f"Pulumi.{CLUSTER}.yaml").is_file()
    return repo


@pytest.fixture
def repo(generated_once: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(generated_once, copy, symlinks=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "credentials").write_text(CREDENTIALS)
    return copy


def tree(repo: Path) -> Path:
    return repo / "generated" / CLUSTER


def expected(repo: Path) -> dict[str, bytes]:
    return {p.relative_to(tree(repo)).as_posix(): p.read_bytes()
            for p in sorted(tree(repo).rglob("*")) if p.is_file() and not p.is_symlink()}


def assert_repaired(repo: Path, files: dict[str, bytes]) -> None:
    assert expected(repo) == files
    assert not any(p.is_symlink() for p in tree(repo).rglob("*"))
    done = aifab(repo, "generate", "--check")
    assert done.returncode == 0, said(done)


# --- 19.4 links out of the repository -------------------------------------------------------


@pytest.mark.parametrize("given", [["blueprints"], ["blueprints/evil.yaml"]])
@pytest.mark.parametrize("command", ["validate", "generate"])
def test_a_blueprint_linked_out_of_the_repository_is_not_read(repo, command, given):
    (repo / "blueprints" / "evil.yaml").symlink_to(repo.parent / "outside" / "credentials")
    done = aifab(repo, command, *given)
    output = said(done)
    assert done.returncode in (1, 2), output
    assert SECRET not in output and "aws_" not in output
    assert "blueprints/evil.yaml:1:1: error AF004" in output, output


def test_a_blueprint_linked_inside_the_repository_is_read(repo):
    (repo / "more").mkdir()
    (repo / "blueprints" / f"{CLUSTER}.yaml").rename(repo / "more" / "real.yaml")
    (repo / "blueprints" / f"{CLUSTER}.yaml").symlink_to(repo / "more" / "real.yaml")
    done = aifab(repo, "validate")
    assert done.returncode == 0, said(done)


def test_check_diff_does_not_show_what_a_link_in_generated_points_to(repo):
    (tree(repo) / "SUMMARY.md").unlink()
    (tree(repo) / "SUMMARY.md").symlink_to(repo.parent / "outside" / "credentials")
    shutil.rmtree(tree(repo) / "storage")
    (tree(repo) / "storage").symlink_to(repo.parent / "outside", target_is_directory=True)
    done = aifab(repo, "generate", "--check", "--diff")
    output = said(done)
    assert done.returncode == 1
    assert SECRET not in output and "aws_" not in output
    assert "not a regular file (not read): SUMMARY.md: a symbolic link" in output, output
    assert "not a regular file (not read): storage: a symbolic link" in output, output


def test_generate_replaces_links_in_generated_and_leaves_their_targets(repo):
    files = expected(repo)
    (tree(repo) / "SUMMARY.md").unlink()
    (tree(repo) / "SUMMARY.md").symlink_to(repo.parent / "outside" / "credentials")
    done = aifab(repo, "generate")
    assert done.returncode == 0, said(done)
    assert (repo.parent / "outside" / "credentials").read_text() == CREDENTIALS
    assert_repaired(repo, files)


def test_a_link_to_a_cluster_folder_is_not_read(repo):
    (tree(repo)).rename(repo.parent / "outside" / CLUSTER)
    tree(repo).symlink_to(repo.parent / "outside" / CLUSTER, target_is_directory=True)
    done = aifab(repo, "generate", "--check", "--diff")
    output = said(done)
    assert done.returncode == 1
    assert "(the folder itself): a symbolic link" in output, output
    assert "+++" not in output and "missing" not in output  # nothing compared through it


def test_a_dangling_link_in_place_of_a_cluster_folder_is_replaced(repo):
    files = expected(repo)
    shutil.rmtree(tree(repo))
    tree(repo).symlink_to(repo.parent / "outside" / "planted", target_is_directory=True)
    done = aifab(repo, "generate")
    assert done.returncode == 0, said(done)
    assert not os.path.lexists(repo.parent / "outside" / "planted")
    assert_repaired(repo, files)


def test_a_dangling_link_at_a_new_stack_config_is_not_written_through(repo):
    stack = repo / "stacks" / f"Pulumi.{CLUSTER}.yaml"
    planted = repo.parent / "outside" / "planted.yaml"
    stack.unlink()
    stack.symlink_to(planted)
    done = aifab(repo, "generate")
    output = said(done)
    assert done.returncode == 1
    assert f"stacks/Pulumi.{CLUSTER}.yaml:1:1: error AF422" in output, output
    assert not planted.exists()
    assert not os.path.lexists(planted)


def test_stack_configs_are_created_with_o_excl_never_through_a_link(tmp_path):
    """The link may appear after `generate` read stacks/: creating the file never follows it."""
    from aifab.deploy.stack_config import create_stack_configs

    stacks, planted = tmp_path / "stacks", tmp_path / "planted.yaml"
    stacks.mkdir()
    (stacks / "Pulumi.new.yaml").symlink_to(planted)
    assert create_stack_configs(stacks, ["new", "other"]) == [stacks / "Pulumi.other.yaml"]
    assert not os.path.lexists(planted)
    assert (stacks / "Pulumi.new.yaml").is_symlink()


def test_a_stacks_folder_that_is_a_link_is_a_finding(repo):
    (repo / "stacks").rename(repo.parent / "outside" / "stacks")
    (repo / "stacks").symlink_to(repo.parent / "outside" / "stacks", target_is_directory=True)
    done = aifab(repo, "generate", "--check")
    assert done.returncode == 1
    assert "stacks:1:1: error AF422 stacks is a symbolic link" in said(done), said(done)


def test_stacks_folder_that_is_a_link_is_not_written_through(tmp_path):
    from aifab.deploy.stack_config import create_stack_configs

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "stacks").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OSError):
        create_stack_configs(tmp_path / "stacks", ["new"])
    assert list(elsewhere.iterdir()) == []


# --- 19.12 a lock edited together with a file ----------------------------------------------


def edit_file_and_lock(repo: Path, path: str = "SUMMARY.md") -> None:
    target = tree(repo) / path
    target.write_bytes(target.read_bytes() + b"\nAll tenants may use every GPU.\n")
    lock_file = tree(repo) / LOCK
    lock = json.loads(lock_file.read_text())
    lock["files"][path] = digest(target.read_bytes())
    lock_file.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")


def test_generate_does_not_keep_a_file_edited_with_its_lock(repo):
    files = expected(repo)
    assert aifab(repo, "generate").returncode == 0  # now this machine trusts the tree
    edit_file_and_lock(repo)
    done = aifab(repo, "generate")
    output = said(done)
    assert done.returncode == 0
    assert f"generated/{CLUSTER}/: {len(files)} files written" in output, output
    assert_repaired(repo, files)


def test_check_names_a_lock_edited_with_a_file(repo):
    edit_file_and_lock(repo)
    done = aifab(repo, "generate", "--check")
    output = said(done)
    assert done.returncode == 1
    assert f"edited by hand: {LOCK}" in output, output
    assert "edited by hand: SUMMARY.md" in output, output


def test_a_tree_is_rebuilt_once_on_a_machine_then_reused(repo):
    """A checkout's trees (no record of this machine's runs): the first run rebuilds, finds
    the same bytes and writes nothing; the next one trusts what it found, by the lock."""
    first = said(aifab(repo, "generate"))
    assert "unchanged since generated" not in first and "files unchanged" in first, first
    second = said(aifab(repo, "generate"))
    assert "unchanged since generated" in second and "files unchanged" in second, second


# --- 19.13 odd files in generated/ ----------------------------------------------------------


def pipe_in_place_of_the_lock(repo: Path) -> None:
    (tree(repo) / LOCK).unlink()
    os.mkfifo(tree(repo) / LOCK)


def test_a_named_pipe_in_place_of_the_lock_does_not_hang_generate(repo):
    files = expected(repo)
    pipe_in_place_of_the_lock(repo)
    done = aifab(repo, "generate")  # it used to wait for a writer, for ever
    assert done.returncode == 0, said(done)
    assert (f"note: generated/{CLUSTER}/: replaced what was not a regular file (never read): "
            f"{LOCK} (a named pipe)") in said(done)
    assert_repaired(repo, files)


def test_a_named_pipe_in_place_of_the_lock_is_listed_by_check_and_refused_by_deploy(repo):
    pipe_in_place_of_the_lock(repo)
    check = aifab(repo, "generate", "--check")
    assert check.returncode == 1
    assert f"not a regular file (not read): {LOCK}: a named pipe" in said(check), said(check)
    with pytest.raises(TreeError, match="named pipe"):
        load_cluster_tree(repo / "generated", CLUSTER)


def test_a_link_to_proc_self_mem_is_a_finding_not_a_traceback(repo):
    files = expected(repo)
    (tree(repo) / "site.svg").unlink()
    (tree(repo) / "site.svg").symlink_to("/proc/self/mem")
    check = aifab(repo, "generate", "--check", "--diff")
    assert check.returncode == 1
    assert "not a regular file (not read): site.svg: a symbolic link" in said(check)
    done = aifab(repo, "generate")
    assert done.returncode == 0, said(done)
    assert "site.svg (a symbolic link)" in said(done)
    assert_repaired(repo, files)


def test_other_odd_files_are_listed_and_removed(repo):
    files = expected(repo)
    os.mkfifo(tree(repo) / "namespaces" / "extra.yaml")
    (tree(repo) / "dangling.yaml").symlink_to(repo.parent / "nowhere")
    check = aifab(repo, "generate", "--check")
    output = said(check)
    assert check.returncode == 1
    assert "namespaces/extra.yaml: a named pipe" in output and "dangling.yaml: a symbolic link" \
        in output, output
    assert aifab(repo, "generate").returncode == 0
    assert_repaired(repo, files)


def test_a_huge_file_and_deep_folders_are_listed_not_read(repo, monkeypatch):
    from aifab import scan

    files = expected(repo)
    with open(tree(repo) / "huge.yaml", "wb") as huge:  # sparse: no disk used
        huge.truncate(scan.MAX_FILE_BYTES + 1)
    deep = tree(repo) / "/".join(["d"] * (scan.MAX_DEPTH + 3))
    deep.mkdir(parents=True)
    (deep / "x.yaml").write_text("x: 1\n")
    found = scan.scan_tree(tree(repo))
    assert found.odd == {"huge.yaml": "larger than 64 MiB (not read)",
                         "/".join(["d"] * (scan.MAX_DEPTH + 1)):
                         f"a folder nested deeper than {scan.MAX_DEPTH} levels (not read)"}
    check = aifab(repo, "generate", "--check")
    assert check.returncode == 1 and "huge.yaml: larger than 64 MiB" in said(check)
    assert aifab(repo, "generate").returncode == 0
    assert_repaired(repo, files)


def test_a_change_to_aifab_code_rebuilds_without_full(tmp_path, monkeypatch):
    """The record is of this aifab's code, not its version number: other code, no reuse."""
    from aifab import trusted
    from aifab.generate import plan, write
    from aifab.verify import Sources

    blueprint = tmp_path / f"{CLUSTER}.yaml"
    shutil.copy(ROOT / "blueprints" / blueprint.name, blueprint)
    out = tmp_path / "generated"
    write(plan([blueprint], out, Sources(), reuse=True))
    assert plan([blueprint], out, Sources(), reuse=True).reused == {CLUSTER}
    monkeypatch.setattr(trusted, "code_digest", lambda: "sha256:" + "0" * 64)
    assert plan([blueprint], out, Sources(), reuse=True).reused == set()


def test_the_code_digest_changes_with_any_file_of_the_package(tmp_path, monkeypatch):
    import aifab
    from aifab import trusted

    copy = tmp_path / "aifab"
    shutil.copytree(Path(aifab.__file__).parent, copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(aifab, "__file__", str(copy / "__init__.py"))
    before = trusted.code_digest.__wrapped__()
    assert before == trusted.code_digest.__wrapped__()
    (copy / "catalog" / "gpus.yaml").write_bytes((copy / "catalog" / "gpus.yaml").read_bytes()
                                                 + b"# a comment\n")
    assert trusted.code_digest.__wrapped__() != before


def test_odd_entries_says_what_scan_tree_says_without_reading(tmp_path):
    from aifab import scan

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "file.yaml").write_text("a: 1\n")
    os.mkfifo(tmp_path / "sub" / "pipe")
    (tmp_path / "mem").symlink_to("/proc/self/mem")
    (tmp_path / "folder").symlink_to(tmp_path / "sub", target_is_directory=True)
    deep = tmp_path / "/".join(["d"] * (scan.MAX_DEPTH + 2))
    deep.mkdir(parents=True)
    scanned = scan.scan_tree(tmp_path)
    assert scanned.files == {"sub/file.yaml": b"a: 1\n"}
    assert scan.odd_entries(tmp_path) == scanned.odd and len(scanned.odd) == 4
    assert scan.odd_entries(tmp_path / "folder") == scan.scan_tree(tmp_path / "folder").odd
