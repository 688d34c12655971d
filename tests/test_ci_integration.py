"""CI integration: the pre-commit hooks and the GitHub Action run what they say, and it works.

.pre-commit-hooks.yaml is checked against the keys pre-commit documents for hook manifests
(https://pre-commit.com/#new-hooks) and its entries are run the way pre-commit runs them.
action.yml is checked for its shape (composite, declared inputs, only aifab's own commands,
no `${{ }}` spliced into a script) and then executed step by step with bash, as the runner
would, with a small stand-in for the expression syntax: a failing blueprint must fail the job
and still write a valid SARIF log.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
FAILING = ROOT / "tests" / "fixtures" / "rules" / "mig" / "fail-config.yaml"

# pre-commit's documented keys of a hook in .pre-commit-hooks.yaml, and their types
HOOK_REQUIRED = {"id": str, "name": str, "entry": str, "language": str}
HOOK_OPTIONAL = {
    "files": str, "exclude": str, "types": list, "types_or": list, "exclude_types": list,
    "always_run": bool, "fail_fast": bool, "verbose": bool, "pass_filenames": bool,
    "require_serial": bool, "description": str, "language_version": str,
    "minimum_pre_commit_version": str, "args": list, "stages": list,
}
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _load(name: str):
    return yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))


def _aifab(args: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aifab", *args], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


# --- pre-commit ------------------------------------------------------------------------------


def _hooks() -> dict[str, dict]:
    hooks = _load(".pre-commit-hooks.yaml")
    assert isinstance(hooks, list) and hooks
    return {hook["id"]: hook for hook in hooks}


def test_pre_commit_manifest_uses_only_documented_keys():
    hooks = _hooks()
    assert set(hooks) == {"aifab-validate", "aifab-generate-check"}
    for hook in hooks.values():
        for key, kind in HOOK_REQUIRED.items():
            assert isinstance(hook.get(key), kind), f"{hook['id']}: {key}"
        for key, value in hook.items():
            kind = HOOK_REQUIRED.get(key) or HOOK_OPTIONAL.get(key)
            assert kind, f"{hook['id']}: '{key}' is not a documented hook key"
            assert isinstance(value, kind), f"{hook['id']}: {key} should be a {kind.__name__}"
        assert hook["language"] == "python"
        re.compile(hook.get("files", ""))


def test_pre_commit_entries_are_aifab_commands():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    hooks = _hooks()
    assert shlex.split(hooks["aifab-validate"]["entry"]) == ["aifab", "validate"]
    assert shlex.split(hooks["aifab-generate-check"]["entry"]) == ["aifab", "generate", "--check"]
    assert "aifab" in scripts  # pip installs the entry's executable
    assert hooks["aifab-validate"]["pass_filenames"] is True
    assert hooks["aifab-generate-check"]["pass_filenames"] is False


def test_pre_commit_file_patterns():
    hooks = _hooks()
    validate = re.compile(hooks["aifab-validate"]["files"])
    generate = re.compile(hooks["aifab-generate-check"]["files"])
    for path in ("blueprints/lab.yaml", "blueprints/lab.yml"):
        assert validate.search(path) and generate.search(path)
    # fleet members are complete only with their fleet: validated through it, and by generate
    assert not validate.search("blueprints/korea/kr-busan-gb300-1.yaml")
    assert generate.search("blueprints/korea/kr-busan-gb300-1.yaml")
    assert generate.search("generated/lab/aifab.lock.json")
    for path in ("docs/blueprints/x.yaml", "blueprints/README.md", "tests/blueprints/a.yaml"):
        assert not validate.search(path)


def _matching(pattern: str) -> list[str]:
    """The repository's files a hook's `files` pattern selects, as pre-commit passes them."""
    files = (p.relative_to(ROOT).as_posix() for p in (ROOT / "blueprints").rglob("*"))
    return sorted(f for f in files if re.search(pattern, f))


def _hook_command(hook: dict, files: list[str]) -> list[str]:
    """aifab's arguments as pre-commit gives them: entry, args, then the files (if passed)."""
    command = shlex.split(hook["entry"])[1:] + hook.get("args", [])
    return command + files if hook.get("pass_filenames", True) else command


def test_pre_commit_validate_passes_on_the_bundled_blueprints():
    hook = _hooks()["aifab-validate"]
    files = _matching(hook["files"])
    assert "blueprints/gwangju-gb200.yaml" in files
    result = _aifab(_hook_command(hook, files))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_pre_commit_generate_check_passes_on_a_current_repository_and_fails_on_a_stale_one(
        tmp_path):
    """In a copy with one bundled blueprint (test_generated checks this repository's generated/
    for all of them, which is what the hook does, and takes as long)."""
    hook = _hooks()["aifab-generate-check"]
    workspace = _workspace(tmp_path, ROOT / "blueprints" / "seoul-rtxpro.yaml")
    result = _aifab(_hook_command(hook, ["blueprints/seoul-rtxpro.yaml"]), cwd=workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    next((workspace / "generated").rglob("resourcequota-*.yaml")).write_text("edited: true\n")
    result = _aifab(_hook_command(hook, []), cwd=workspace)
    assert result.returncode == 1 and "edited by hand" in result.stdout, result.stdout


# --- GitHub Action ---------------------------------------------------------------------------


def _action() -> dict:
    return _load("action.yml")


def _steps() -> list[dict]:
    return _action()["runs"]["steps"]


def test_action_is_composite_with_the_documented_inputs():
    action = _action()
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    assert inputs["python-version"]["default"] == "3.11"  # a string: 3.10 would become 3.1
    assert inputs["paths"]["default"] == "blueprints/"
    assert inputs["sarif-file"]["default"] == "aifab.sarif"
    for name in ("crds", "chart-values"):
        assert inputs[name]["required"] is False and inputs[name]["default"] == ""
    for name, spec in inputs.items():
        assert spec.get("description"), name


def test_every_input_used_is_declared_and_no_expression_is_spliced_into_a_script():
    declared = set(_action()["inputs"])
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"\binputs\.([A-Za-z0-9_-]+)", " ".join(EXPRESSION.findall(text))))
    assert used and used <= declared, used - declared
    assert used == declared, f"declared but never used: {declared - used}"
    for step in _steps():
        if "run" in step:
            assert "${{" not in step["run"], f"{step['name']}: pass values through env"
            assert step.get("shell") == "bash", f"{step['name']}: composite run steps need a shell"


def test_action_steps_run_only_aifab_and_the_expected_actions():
    uses = [step["uses"].split("@")[0] for step in _steps() if "uses" in step]
    assert uses == ["actions/setup-python", "github/codeql-action/upload-sarif"]
    commands = []
    for step in _steps():
        for line in step.get("run", "").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            first = line.split()[0]
            assert first in {"python", "aifab", "read", "echo", "if", "fi", "exit"} or re.fullmatch(
                r"[a-z_]+=\S*", first), f"{step['name']}: unexpected command {line!r}"
            commands += re.findall(r"^aifab\s+(validate --format \w+|generate)", line)
    assert commands == ["validate --format github", "validate --format sarif", "generate"]
    install = next(step for step in _steps() if "pip install" in step.get("run", ""))
    assert install["env"]["AIFAB_ACTION_PATH"] == "${{ github.action_path }}"
    upload = next(step for step in _steps() if "upload-sarif" in step.get("uses", ""))
    assert "always()" in upload["if"] and upload["with"]["sarif_file"] == "${{ inputs.sarif-file }}"
    assert upload["continue-on-error"] is True  # the verdict is aifab's, not the upload's
    assert "always()" in _steps()[-1]["if"]


def test_action_matches_the_schemastore_schema_for_actions():
    """check-jsonschema (a test dependency) ships SchemaStore's schema of action.yml."""
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-actions",
         str(ROOT / "action.yml")], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _evaluate(expression: str, inputs: dict[str, str], outputs: dict[str, dict[str, str]]) -> str:
    """The expressions action.yml uses: inputs.X, github.action_path, steps.ID.outputs.X."""
    if m := re.fullmatch(r"inputs\.([\w-]+)", expression):
        return inputs[m[1]]
    if expression == "github.action_path":
        return str(ROOT)
    if m := re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression):
        return outputs.get(m[1], {}).get(m[2], "")
    raise AssertionError(f"expression the test runner does not know: {expression}")


def _condition(expression: str, inputs, outputs) -> bool:
    """`always()` alone, or `always() && steps.ID.outputs.X == 'v'`."""
    expression = EXPRESSION.sub(r"\1", expression).strip()
    parts = [p.strip() for p in expression.split("&&")]
    assert parts[0] == "always()", expression
    for part in parts[1:]:
        left, right = (s.strip() for s in part.split("=="))
        if _evaluate(left, inputs, outputs) != right.strip("'"):
            return False
    return True


def _run_action(workspace: Path, tmp_path: Path, **given: str) -> tuple[int, dict, list[str]]:
    """Run action.yml's steps with bash in `workspace`: (exit of the job, outputs, steps run)."""
    action = _action()
    inputs = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
    inputs.update(given)
    shim = tmp_path / "bin"
    shim.mkdir(exist_ok=True)
    (shim / "aifab").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m aifab "$@"\n')
    (shim / "aifab").chmod(0o755)
    outputs: dict[str, dict[str, str]] = {}
    ran, status = [], 0
    for number, step in enumerate(action["runs"]["steps"]):
        if "if" in step and not _condition(step["if"], inputs, outputs):
            continue
        if "uses" in step or "pip install" in step["run"]:  # actions and installing: not here
            ran.append(step["name"])
            continue
        output_file = tmp_path / f"output-{number}"
        output_file.write_text("")
        env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}",
               "GITHUB_OUTPUT": str(output_file)}
        for key, value in step.get("env", {}).items():
            env[key] = EXPRESSION.sub(lambda m: _evaluate(m[1], inputs, outputs), value)
        # the runner's `shell: bash` is `bash --noprofile --norc -eo pipefail {0}`
        result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                                 step["run"]], check=False, cwd=workspace, env=env,
                                capture_output=True, text=True, timeout=120)
        ran.append(step["name"])
        if "id" in step:
            outputs[step["id"]] = dict(
                line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line)
        if result.returncode != 0:
            status = result.returncode
            if "always()" not in step.get("if", ""):
                break
    return status, outputs, ran


def _workspace(tmp_path: Path, blueprint: Path) -> Path:
    """A repository with one blueprint and the generated/ folder it makes."""
    workspace = tmp_path / "repo"
    (workspace / "blueprints").mkdir(parents=True)
    (workspace / "blueprints" / blueprint.name).write_bytes(blueprint.read_bytes())
    result = _aifab(["generate"], cwd=workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    return workspace


def test_action_passes_on_a_valid_repository(tmp_path):
    workspace = _workspace(tmp_path, ROOT / "blueprints" / "seoul-rtxpro.yaml")
    status, outputs, ran = _run_action(workspace, tmp_path)
    assert status == 0, outputs
    assert outputs["validate"]["status"] == "0" and outputs["generate"]["status"] == "0"
    assert "Upload SARIF to code scanning" in ran
    log = json.loads((workspace / "aifab.sarif").read_text())
    assert log["version"] == "2.1.0" and log["runs"][0]["results"] == []


def test_action_fails_on_findings_but_still_writes_sarif(tmp_path):
    workspace = _workspace(tmp_path, ROOT / "blueprints" / "seoul-rtxpro.yaml")
    (workspace / "bad").mkdir()
    (workspace / "bad" / "blueprint.yaml").write_bytes(FAILING.read_bytes())
    status, outputs, ran = _run_action(workspace, tmp_path, paths="blueprints/ bad/blueprint.yaml",
                                       **{"sarif-file": "findings.sarif"})
    assert status == 1
    # the paths reach generate --check too, which cannot generate an invalid blueprint
    assert outputs["validate"]["status"] == "1" and outputs["generate"]["status"] == "1"
    assert outputs["sarif"]["written"] == "true" and "Upload SARIF to code scanning" in ran
    log = json.loads((workspace / "findings.sarif").read_text())
    results = log["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"AF340"}
    location = results[0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": "bad/blueprint.yaml", "uriBaseId": "%SRCROOT%"}


def test_action_fails_when_generated_is_stale(tmp_path):
    workspace = _workspace(tmp_path, ROOT / "blueprints" / "seoul-rtxpro.yaml")
    lock = next((workspace / "generated").glob("*/aifab.lock.json"))
    lock.unlink()
    status, outputs, _ = _run_action(workspace, tmp_path)
    assert status == 1 and outputs["validate"]["status"] == "0"
    assert outputs["generate"]["status"] == "1"


# --- README ----------------------------------------------------------------------------------


def _readme_blocks(marker: str) -> list:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    blocks = [yaml.safe_load(b) for b in found if marker in b]
    assert blocks, f"README.md has no yaml example containing {marker!r}"
    return blocks


def test_readme_pre_commit_example_names_the_hooks():
    hooks = _hooks()
    for config in _readme_blocks("aifab-generate-check"):
        (repo,) = config["repos"]
        assert repo["rev"] and repo["repo"].endswith("/aifab")
        assert [h["id"] for h in repo["hooks"]] == list(hooks)


def test_readme_workflow_example_uses_the_action_as_declared():
    inputs = set(_action()["inputs"])
    for workflow in _readme_blocks("security-events"):
        # YAML 1.1 reads the key `on` as True
        assert "pull_request" in (workflow.get("on") or workflow.get(True))
        assert workflow["permissions"] == {"contents": "read", "security-events": "write"}
        steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
        assert steps[0]["uses"].startswith("actions/checkout@")
        (ours,) = [s for s in steps if re.search(r"/aifab@", s.get("uses", ""))]
        assert set(ours.get("with", {})) <= inputs


# --- blueprints outside blueprints/ ------------------------------------------------------------


def _elsewhere(tmp_path: Path) -> Path:
    """A repository whose blueprint lives in clusters/, with its generated/ folder."""
    workspace = tmp_path / "repo"
    (workspace / "clusters").mkdir(parents=True)
    blueprint = ROOT / "blueprints" / "seoul-rtxpro.yaml"
    (workspace / "clusters" / blueprint.name).write_bytes(blueprint.read_bytes())
    result = _aifab(["generate", "clusters/"], cwd=workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    return workspace


def test_action_paths_reach_generate_check(tmp_path):
    workspace = _elsewhere(tmp_path)
    status, outputs, _ = _run_action(workspace, tmp_path, paths="clusters/")
    assert status == 0, outputs
    assert outputs["generate"]["status"] == "0"
    (workspace / "generated" / "stray").mkdir()  # a folder no blueprint makes
    status, outputs, _ = _run_action(workspace, tmp_path, paths="clusters/")
    assert status == 1 and outputs["generate"]["status"] == "1"
    (workspace / "generated" / "stray").rmdir()
    next((workspace / "generated").rglob("resourcequota-*.yaml")).write_text("edited: true\n")
    status, outputs, _ = _run_action(workspace, tmp_path, paths="clusters/")
    assert status == 1 and outputs["generate"]["status"] == "1"


def test_readme_pre_commit_recipe_for_another_folder_works(tmp_path):
    workspace = _elsewhere(tmp_path)
    (config,) = [c for c in _readme_blocks("args: [clusters/]")]
    hooks = {h["id"]: {**_hooks()[h["id"]], **h} for h in config["repos"][0]["hooks"]}
    changed = ["clusters/seoul-rtxpro.yaml"]
    for hook in hooks.values():
        assert all(re.search(hook["files"], f) for f in changed), hook["id"]
        result = _aifab(_hook_command(hook, changed), cwd=workspace)
        assert result.returncode == 0, result.stdout + result.stderr
    (workspace / "clusters" / "seoul-rtxpro.yaml").write_text(
        (workspace / "clusters" / "seoul-rtxpro.yaml").read_text().replace("nodes: 12", "nodes: 13"))
    result = _aifab(_hook_command(hooks["aifab-generate-check"], changed), cwd=workspace)
    assert result.returncode == 1, result.stdout
