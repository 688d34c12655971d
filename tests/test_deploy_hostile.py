"""The stack program deploys generated/<stack>/ of the project and nothing else (issue 19.2).

A stack configuration from a pull request cannot point the program at another tree (a copy
with a ClusterRoleBinding to cluster-admin), at another cluster's tree, nor can a lock turn
off the stale check by naming another file; `aifab generate --check` reports such a stack
configuration at its file and line. The program runs against Pulumi's mocks, in a copy of
the project (the program finds the project from the working directory, as `pulumi up` does).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pulumi
import pytest
from test_deploy import ROOT, Run, deploy, relock

from aifab.cli import main
from aifab.render import LOCK

CLUSTER = "gwangju-gb200"

CLUSTER_ADMIN = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: everyone-is-admin
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: system:authenticated
"""


def project(tmp_path: Path, clusters: tuple[str, ...] = (CLUSTER,)) -> Path:
    """A copy of the project: Pulumi.yaml, blueprints/, stacks/ and the trees of `clusters`."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    shutil.copytree(ROOT / "blueprints", root / "blueprints")
    shutil.copytree(ROOT / "stacks", root / "stacks", ignore=shutil.ignore_patterns("*.py"))
    for cluster in clusters:
        shutil.copytree(ROOT / "generated" / cluster, root / "generated" / cluster)
    return root


def deploy_in(root: Path, stack: str, config: dict[str, str]) -> Run:
    return deploy(stack, root / "generated", config)


def refused(outcome: Run, *words: str) -> str:
    assert isinstance(outcome.error, pulumi.RunError), outcome.error
    assert outcome.count == 0  # not even the provider
    message = str(outcome.error)
    for word in words:
        assert word in message, message
    return message


def test_a_copied_tree_named_by_generated_dir_is_not_deployed(tmp_path: Path) -> None:
    root = project(tmp_path)
    reviewed = root / "reviewed" / CLUSTER
    shutil.copytree(root / "generated" / CLUSTER, reviewed)
    (reviewed / "clusterrolebinding-everyone-is-admin.yaml").write_text(CLUSTER_ADMIN)
    relock(reviewed)
    outcome = deploy_in(root, CLUSTER, {"aifab:cluster": CLUSTER, "aifab:generatedDir": "reviewed"})
    refused(outcome, "aifab:generatedDir", f"generated/{CLUSTER}")


def test_another_clusters_tree_is_not_deployed_to_this_stack(tmp_path: Path) -> None:
    root = project(tmp_path, (CLUSTER, "busan-gb300"))
    outcome = deploy_in(root, CLUSTER, {"aifab:cluster": "busan-gb300"})
    refused(outcome, "aifab:cluster", "busan-gb300", CLUSTER)


def test_this_tree_is_not_deployed_to_another_stacks_context(tmp_path: Path) -> None:
    root = project(tmp_path)
    outcome = deploy_in(root, CLUSTER, {"aifab:context": "busan-gb300"})
    refused(outcome, "aifab:context", "busan-gb300")


def test_the_stack_name_chooses_the_tree(tmp_path: Path) -> None:
    root = project(tmp_path)
    outcome = deploy_in(root, CLUSTER, {})
    assert outcome.error is None, outcome.error
    assert outcome.resources[f"k8s-{CLUSTER}"].inputs["context"] == CLUSTER


def test_a_lock_naming_another_source_does_not_turn_off_the_stale_check(tmp_path: Path) -> None:
    root = project(tmp_path)
    blueprint = root / "blueprints" / f"{CLUSTER}.yaml"
    blueprint.write_text(blueprint.read_text().replace("residency: KR", "residency: JP"))
    lock_file = root / "generated" / CLUSTER / LOCK
    lock = json.loads(lock_file.read_text())
    lock["source"] = "blueprints/nowhere.yaml"
    lock_file.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    outcome = deploy_in(root, CLUSTER, {})
    refused(outcome, "stale", f"blueprints/{CLUSTER}.yaml")


def test_a_lock_naming_another_blueprint_is_stale(tmp_path: Path) -> None:
    """The lock must name the blueprint the blueprints folder makes the cluster from."""
    root = project(tmp_path)
    lock_file = root / "generated" / CLUSTER / LOCK
    lock = json.loads(lock_file.read_text())
    lock["blueprint"] = lock["source"] = "blueprints/elsewhere.yaml"
    lock_file.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    refused(deploy_in(root, CLUSTER, {}), "stale", "blueprints/elsewhere.yaml")


def test_without_the_blueprints_folder_nothing_is_deployed(tmp_path: Path) -> None:
    root = project(tmp_path)
    shutil.rmtree(root / "blueprints")
    refused(deploy_in(root, CLUSTER, {}), "blueprints")


def test_a_symlinked_tree_is_not_followed(tmp_path: Path) -> None:
    root = project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    (root / "generated" / CLUSTER).rename(elsewhere)
    (root / "generated" / CLUSTER).symlink_to(elsewhere)
    refused(deploy_in(root, CLUSTER, {}), "symbolic link")


# --- generate --check reads the stack configurations --------------------------------------


def check(root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
          *args: str) -> tuple[int, str]:
    monkeypatch.chdir(root)
    code = main(["generate", "--check", "--jobs", "1", f"blueprints/{CLUSTER}.yaml", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def stack_file(root: Path, cluster: str = CLUSTER) -> Path:
    return root / "stacks" / f"Pulumi.{cluster}.yaml"


def test_check_passes_on_the_stack_configs_aifab_writes(tmp_path, capsys, monkeypatch):
    root = project(tmp_path)
    code, output = check(root, capsys, monkeypatch)
    assert code == 0, output


@pytest.mark.parametrize(("line", "words"), [
    ("  aifab:generatedDir: reviewed\n", ("AF421", "aifab:generatedDir")),
    ("  aifab:generatedDir: generated\n", ("AF421", "aifab:generatedDir")),
    ("  aifab:kubeConfig: ~/.kube/config\n", ("AF423", "aifab:kubeConfig", "aifab:kubeconfig")),
])
def test_check_reports_a_stack_config_key_at_its_line(tmp_path, capsys, monkeypatch, line, words):
    root = project(tmp_path)
    path = stack_file(root)
    lines = path.read_text().splitlines(keepends=True)
    lines.append(line)
    path.write_text("".join(lines))
    code, output = check(root, capsys, monkeypatch)
    assert code == 1
    assert f"stacks/Pulumi.{CLUSTER}.yaml:{len(lines)}:3: error {words[0]}" in output, output
    for word in words[1:]:
        assert word in output


@pytest.mark.parametrize(("key", "words"), [
    ("aifab:cluster", ()),
    ("aifab:context", ("the context of stack busan-gb300",))])
def test_check_reports_a_stack_config_for_another_cluster(key, words, tmp_path, capsys,
                                                          monkeypatch):
    root = project(tmp_path)
    path = stack_file(root)
    path.write_text(path.read_text().replace(f"{key}: {CLUSTER}", f"{key}: busan-gb300"))
    number = next(i for i, x in enumerate(path.read_text().splitlines(), 1) if "busan" in x)
    code, output = check(root, capsys, monkeypatch)
    assert code == 1
    assert f"stacks/Pulumi.{CLUSTER}.yaml:{number}:18: error AF421" in output, output
    for word in words:
        assert word in output


def test_check_reports_a_stack_config_that_is_not_a_mapping(tmp_path, capsys, monkeypatch):
    root = project(tmp_path)
    stack_file(root).write_text("config: [aifab:cluster]\n")
    code, output = check(root, capsys, monkeypatch)
    assert code == 1
    assert f"stacks/Pulumi.{CLUSTER}.yaml:1:9: error AF422" in output, output


def test_generate_writes_nothing_over_a_bad_stack_config(tmp_path, capsys, monkeypatch):
    root = project(tmp_path)
    path = stack_file(root)
    path.write_text(path.read_text() + "  aifab:generatedDir: reviewed\n")
    (root / "generated" / CLUSTER / "SUMMARY.md").write_text("edited\n")
    monkeypatch.chdir(root)
    assert main(["generate", "--jobs", "1", f"blueprints/{CLUSTER}.yaml"]) == 1
    assert (root / "generated" / CLUSTER / "SUMMARY.md").read_text() == "edited\n"


def test_a_fleet_with_an_error_makes_none_of_its_trees_deployable(tmp_path: Path) -> None:
    """`aifab generate` writes none of a fleet's clusters while any of its files has an error,
    so the program deploys none of them either."""
    root = project(tmp_path, ("kr-gwangju-b300",))
    assert deploy_in(root, "kr-gwangju-b300", {}).error is None
    other = root / "blueprints" / "korea" / "kr-busan-gb300-1.yaml"
    other.write_text(other.read_text() + "bogus: 1\n")
    refused(deploy_in(root, "kr-gwangju-b300", {}), "stale", "no valid blueprint")
