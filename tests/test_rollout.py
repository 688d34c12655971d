"""`aifab deploy` drives the Pulumi CLI through pulumi.automation: here a fake `pulumi` on PATH
(a script written into tmp_path) records every call (argv, cwd, start and end times) and
answers what the Automation API asks (pulumi/automation/_cmd.py, _local_workspace.py,
_stack.py): `version`, `stack select` / `stack init`, `up`, `preview` (with its event log),
`destroy`, `stack history --json`, `stack output --json`. No real CLI, no network.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from aifab.cli import main
from aifab.pipeline import run_all
from aifab.rollout import INSTALL_CLI, Console, Target, roll_out, waves
from bundled import BLUEPRINTS, CLUSTER_FILES, FLEET_FILES

ROOT = Path(__file__).resolve().parents[1]

FAKE_PULUMI = r'''#!{python}
"""A stand-in for the Pulumi CLI: logs each call, answers as the real one would."""
import json, os, sys, time

args = [a for a in sys.argv[1:] if a != "--non-interactive"]
state = os.environ["FAKE_PULUMI_STATE"]
stack = args[args.index("--stack") + 1] if "--stack" in args else None
call = {{"argv": args, "cwd": os.getcwd(), "stack": stack, "start": time.time()}}
code, out, err = 0, "", ""
if args[:1] == ["version"]:
    out = "v3.150.0"
elif args[:2] == ["stack", "select"]:
    if not os.path.exists(os.path.join(state, stack)):
        code, err = 255, f"error: no stack named '{{stack}}' found"
elif args[:2] == ["stack", "init"]:
    open(os.path.join(state, args[2]), "w").close()
elif args[:2] == ["stack", "history"]:
    out = json.dumps([{{"kind": "update", "startTime": "2026-12-03T08:00:00.000Z",
                        "endTime": "2026-12-03T08:00:01.000Z", "message": "",
                        "environment": {{}}, "config": {{}}, "result": "succeeded"}}])
elif args[:2] == ["stack", "output"]:
    out = "{{}}"
elif args[0] in ("up", "preview", "destroy"):
    time.sleep(float(os.environ.get("FAKE_PULUMI_SLEEP", "0")))
    if stack in os.environ.get("FAKE_PULUMI_FAIL", "").split(","):
        code, err = 1, f"error: update of {{stack}} failed: the API server refused"
    else:
        out = f"{{args[0]}} {{stack}}: 3 resources"
    if "--event-log" in args:
        with open(args[args.index("--event-log") + 1], "a") as log:
            log.write(json.dumps({{"sequence": 1, "timestamp": 0, "summaryEvent": {{
                "maybeCorrupt": False, "durationSeconds": 0,
                "resourceChanges": {{"same": 3}}, "PolicyPacks": {{}}}}}}) + "\n")
            log.write(json.dumps({{"sequence": 2, "timestamp": 0, "cancelEvent": {{}}}}) + "\n")
call["end"] = time.time()
with open(os.environ["FAKE_PULUMI_LOG"], "a") as log:
    log.write(json.dumps(call) + "\n")
print(out)
print(err, file=sys.stderr)
sys.exit(code)
'''


def clusters(*files: Path) -> list[Target]:
    return [Target(r.cluster.name, r.cluster.gpus) for r in run_all(files) if r.cluster]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with the standalone clusters, their trees and stack files, and a fake
    `pulumi` first on PATH; the current folder."""
    repo = tmp_path / "repo"
    (repo / "blueprints").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", repo)
    for blueprint in CLUSTER_FILES:
        shutil.copy(blueprint, repo / "blueprints")
    for target in clusters(*CLUSTER_FILES):
        shutil.copytree(ROOT / "generated" / target.name, repo / "generated" / target.name)
        (repo / "stacks").mkdir(exist_ok=True)
        shutil.copy(ROOT / "stacks" / f"Pulumi.{target.name}.yaml", repo / "stacks")
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text(FAKE_PULUMI.format(python=sys.executable), encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_STATE", str(state))
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.delenv("FAKE_PULUMI_FAIL", raising=False)
    monkeypatch.chdir(repo)
    return repo


def calls(project: Path) -> list[dict]:
    log = project.parent / "calls.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def operations(project: Path, verb: str) -> list[dict]:
    return sorted((c for c in calls(project) if c["argv"][0] == verb), key=lambda c: c["start"])


def expected_waves(parallel: int) -> list[list[str]]:
    """The documented rule, spelled out: fewest GPUs first (then by name); the first alone."""
    order = [t.name for t in sorted(clusters(*CLUSTER_FILES), key=lambda t: (t.gpus, t.name))]
    return [order[:1]] + [order[i:i + parallel] for i in range(1, len(order), parallel)]


def test_the_canary_goes_first_then_waves_of_at_most_parallel_stacks(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("FAKE_PULUMI_SLEEP", "1.0")  # wave 2 overlaps for sure
    assert main(["deploy", "--parallel", "2"]) == 0
    ups = operations(project, "up")
    plan = expected_waves(2)
    assert len(plan) == 3 and len(plan[1]) == 2  # the fixture needs a full concurrent wave
    assert [{c["stack"] for c in ups[:1]}, {c["stack"] for c in ups[1:3]},
            {c["stack"] for c in ups[3:]}] == [set(w) for w in plan]
    for before, after in itertools.pairwise(plan):  # a wave starts when the one before has ended
        ended = max(c["end"] for c in ups if c["stack"] in before)
        assert all(c["start"] >= ended for c in ups if c["stack"] in after)
    overlap = max(sum(o["start"] < c["end"] and c["start"] < o["end"] for o in ups)
                  for c in ups)
    assert overlap == 2  # the two stacks of wave 2 ran together, never more
    for c in ups:
        assert c["cwd"] == str(project)
        assert c["argv"][:3] == ["up", "--yes", "--skip-preview"]
        assert c["argv"][-2:] == ["--stack", c["stack"]]
    created = [c["argv"][2] for c in calls(project) if c["argv"][:2] == ["stack", "init"]]
    assert sorted(created) == sorted(t for w in plan for t in w)  # one stack per cluster
    out = capsys.readouterr().out
    assert f"canary: {plan[0][0]}" in out
    assert f"{plan[0][0]} | up {plan[0][0]}: 3 resources" in out  # engine output, prefixed
    assert f"{plan[0][0]}: done in " in out
    lock = (project / "generated" / plan[0][0] / "aifab.lock.json").read_bytes()
    assert f"{plan[0][0]}: tree verified, lock sha256:{hashlib.sha256(lock).hexdigest()}" in out


def test_a_failed_stack_stops_the_waves_and_the_report_says_where(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    plan = expected_waves(1)
    canary, failing, later = plan[0][0], plan[1][0], [w[0] for w in plan[2:]]
    monkeypatch.setenv("FAKE_PULUMI_FAIL", failing)
    assert main(["deploy"]) == 1
    assert [c["stack"] for c in operations(project, "up")] == [canary, failing]
    out = capsys.readouterr().out
    assert f"done: {canary}\n" in out
    assert f"failed: {failing}: error: update of {failing} failed: the API server refused" in out
    assert f"not started: {', '.join(later)}\n" in out


def test_preview_previews_and_never_updates(project: Path) -> None:
    assert main(["deploy", "--preview", "blueprints/seoul-rtxpro.yaml"]) == 0
    assert [c["stack"] for c in operations(project, "preview")] == ["seoul-rtxpro"]
    assert not operations(project, "up")


def test_destroy_destroys_the_named_stacks_without_their_trees(project: Path) -> None:
    for name in ("seoul-rtxpro", "busan-gb300"):
        (project.parent / "state" / name).touch()  # the stacks exist
        shutil.rmtree(project / "generated" / name)
        (project / "blueprints" / f"{name}.yaml").unlink()
    assert main(["deploy", "--destroy", "--yes", "seoul-rtxpro", "busan-gb300"]) == 0
    destroyed = operations(project, "destroy")
    assert sorted(c["stack"] for c in destroyed) == ["busan-gb300", "seoul-rtxpro"]
    assert all(c["argv"][:3] == ["destroy", "--skip-preview", "--yes"] for c in destroyed)
    assert not [c for c in calls(project) if c["argv"][:2] == ["stack", "init"]]


def test_destroy_never_creates_a_stack_that_is_not_there(
        project: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["deploy", "--destroy", "--yes", "seoul-rtxpro"]) == 1
    assert not operations(project, "destroy")
    assert not [c for c in calls(project) if c["argv"][:2] == ["stack", "init"]]
    assert "failed: seoul-rtxpro: no stack named seoul-rtxpro" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "says"), [
    (["--destroy", "seoul-rtxpro"], "--destroy needs --yes"),
    (["--yes"], "--destroy needs --yes"),
    (["--destroy", "--yes"], "--destroy needs the names of the clusters"),
    (["--destroy", "--yes", "generated/x"], "--destroy takes cluster names, not paths"),
    (["--parallel", "0"], "0 is not a positive whole number"),
    (["--preview", "--destroy", "--yes", "a"], "not allowed with argument --preview"),
])
def test_usage_errors_exit_2_before_any_pulumi_call(
        project: Path, argv: list[str], says: str, capsys: pytest.CaptureFixture) -> None:
    try:
        code = main(["deploy", *argv])
    except SystemExit as e:  # argparse's own usage errors
        code = e.code
    assert code == 2
    assert says in capsys.readouterr().err
    assert calls(project) == []


def test_a_tampered_tree_is_refused_before_any_pulumi_call_for_its_stack(
        project: Path, capsys: pytest.CaptureFixture) -> None:
    plan = expected_waves(1)
    canary, tampered = plan[0][0], plan[1][0]
    victim = next((project / "generated" / tampered).rglob("*.yaml"))
    victim.write_text(victim.read_text() + "# edited\n")
    assert main(["deploy"]) == 1
    assert not [c for c in calls(project) if c["stack"] == tampered
                or tampered in c["argv"]]
    assert [c["stack"] for c in operations(project, "up")] == [canary]
    out = capsys.readouterr().out
    assert f"failed: {tampered}: " in out and "edited (digest differs from the lock)" in out


def test_dry_run_names_every_cluster_of_the_national_fleet_in_waves(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no Pulumi CLI, nor anything else
    monkeypatch.chdir(ROOT)
    national = BLUEPRINTS / "korea-national.yaml"
    assert national in FLEET_FILES
    assert main(["deploy", "--dry-run", "--parallel", "3", str(national)]) == 0
    lines = capsys.readouterr().out.splitlines()
    plan = waves(clusters(national), 3)
    assert len(plan) >= 3
    expected = []
    for number, wave in enumerate(plan, start=1):
        label = f"wave {number}" + (" (canary)" if number == 1 else "")
        for target in wave:
            lock = (ROOT / "generated" / target.name / "aifab.lock.json").read_bytes()
            expected.append(f"{label}: {target.name} up lock "
                            f"sha256:{hashlib.sha256(lock).hexdigest()}")
    assert lines == expected


def test_without_the_pulumi_cli_it_says_how_to_install_it(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    (project.parent / "bin" / "pulumi").unlink()
    monkeypatch.setenv("PATH", str(project.parent / "bin"))
    assert main(["deploy", "blueprints/seoul-rtxpro.yaml"]) == 2
    err = capsys.readouterr().err
    assert INSTALL_CLI in err and "Traceback" not in err


def test_without_the_pulumi_package_it_names_the_deploy_extra(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "pulumi.automation", None)  # import fails
    assert main(["deploy", "blueprints/seoul-rtxpro.yaml"]) == 2
    assert "pip install 'aifab[deploy]'" in capsys.readouterr().err
    assert calls(project) == []


def test_a_blueprint_with_errors_deploys_nothing(
        project: Path, capsys: pytest.CaptureFixture) -> None:
    blueprint = project / "blueprints" / "seoul-rtxpro.yaml"
    blueprint.write_text(blueprint.read_text().replace("kind: Cluster", "kind: Clustr", 1))
    assert main(["deploy"]) == 1
    assert calls(project) == []
    captured = capsys.readouterr()
    assert "seoul-rtxpro.yaml" in captured.out and "nothing deployed" in captured.err


def test_progress_is_coloured_on_a_terminal_and_plain_elsewhere() -> None:
    def run(name: str) -> None:
        return None

    for colour in (True, False):
        stream = io.StringIO()
        outcome = roll_out(waves([Target("a", 8), Target("b", 16)], 1), run,
                           Console(stream, colour), 1)
        assert outcome.done == ["a", "b"] and outcome.ok
        lines = stream.getvalue().splitlines()
        assert lines[0] == "canary: a" and lines[3] == "wave 2: b"
        started = "a: \033[1mstarted\033[0m (up)" if colour else "a: started (up)"
        assert lines[1] == started
        assert lines[2].startswith("a: \033[32mdone\033[0m in " if colour else "a: done in ")
        assert lines[2].endswith(" s")
        assert ("\033[" in stream.getvalue()) is colour


def test_an_sdk_error_fails_its_stack_without_a_traceback(
        project: Path, capsys: pytest.CaptureFixture) -> None:
    fake = project.parent / "bin" / "pulumi"
    fake.write_text(fake.read_text().replace('out = "v3.150.0"', 'out = "v3.0.9"'))  # too old
    assert main(["deploy", "blueprints/seoul-rtxpro.yaml"]) == 1
    out = capsys.readouterr().out
    assert "failed: seoul-rtxpro: pulumi.automation: InvalidVersionError" in out


def test_dry_run_refuses_a_tampered_tree_and_calls_no_pulumi(
        project: Path, capsys: pytest.CaptureFixture) -> None:
    lock = project / "generated" / "busan-gb300" / "aifab.lock.json"
    (lock.parent / "extra.yaml").write_text("kind: ConfigMap\n")
    assert main(["deploy", "--dry-run"]) == 1
    captured = capsys.readouterr()
    assert "busan-gb300 REFUSED" in captured.out
    assert "extra (on disk, not in the lock)" in captured.err and "extra.yaml" in captured.err
    assert calls(project) == []


def test_outside_a_pulumi_project_it_says_where_to_run(
        project: Path, capsys: pytest.CaptureFixture) -> None:
    (project / "Pulumi.yaml").unlink()
    assert main(["deploy"]) == 2
    assert "no Pulumi project at" in capsys.readouterr().err
    assert calls(project) == []
