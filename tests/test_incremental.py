"""Incremental generation: clusters current by their locks are reused, and a watching process
(`generate --watch`) revalidates and rebuilds only what changed, with the same result as a
cold, full run of the same files."""

from __future__ import annotations

import gc
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from aifab import generate, pipeline, render
from aifab import watch as watch_module
from aifab.cli import main
from aifab.generate import discard, plan, write
from aifab.load import load_file
from aifab.memo import Memo
from aifab.pipeline import blueprint_files
from aifab.pipeline import run as run_blueprint
from aifab.render import LOCK, tree_state
from aifab.verify import Sources
from aifab.watch import (
    POLL_SECONDS,
    QUIET_SECONDS,
    _differs,
    changed,
    snapshot,
    tidy,
    wait_for_change,
    watched,
    watching_memo,
)
from bundled import edit, fleet_copy

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    return fleet_copy(tmp_path)


def generated(fleet: Path) -> Path:
    out = fleet.parent / "generated"
    result = plan([fleet], out, Sources(), stage=True)
    assert result.ok
    write(result)
    return out


def test_clusters_current_by_their_locks_are_reused_and_the_rest_rebuilt(fleet):
    out = generated(fleet)
    edit(fleet.parent / "clusters" / "a-gb200.yaml", "a-r{rack", "a-rack{rack")
    result = plan([fleet], out, Sources(), reuse=True)
    assert result.reused == {"a-b200"}
    cold = plan([fleet], fleet.parent / "cold", Sources())
    assert result.files == cold.files


@pytest.mark.parametrize("change", ["hand-edited file", "extra file", "missing file",
                                    "other aifab version", "other catalog version"])
def test_a_folder_its_lock_does_not_vouch_for_is_rebuilt(fleet, change):
    out = generated(fleet)
    folder = out / "a-b200"
    lock = json.loads((folder / LOCK).read_text())
    some = next(path for path in sorted(lock["files"]) if path.endswith(".yaml"))
    if change == "hand-edited file":
        (folder / some).write_text((folder / some).read_text() + "# tuned by hand\n")
    elif change == "extra file":
        (folder / "notes.yaml").write_text("{}\n")
    elif change == "missing file":
        (folder / some).unlink()
    else:
        key = "aifabVersion" if change == "other aifab version" else "catalogVersion"
        (folder / LOCK).write_text(json.dumps({**lock, key: "0.0.0"}))
    assert plan([fleet], out, Sources(), reuse=True).reused == {"a-gb200"}


def _outcome(result) -> tuple:
    findings = [(f.file, f.line, f.col, f.code, f.message) for f in result.findings]
    return findings, (result.files if result.ok else None)


EDITS = [  # (file, old, new): each applied on top of the ones before
    ("clusters/a-gb200.yaml", "a-r{rack", "a-rack{rack"),  # one cluster file
    ("clusters/a-gb200.yaml", "gb200-nvl72", "gb200-nvl7"),  # an error: nothing written
    ("clusters/a-gb200.yaml", "gb200-nvl7", "gb200-nvl72"),  # fixed again
    ("fleet.yaml", "nodes: 31", "nodes: 32"),  # the inline cluster
    ("fleet.yaml", "gpus: 600", "gpus: 9000"),  # a fleet-wide error (allocation)
    ("fleet.yaml", "gpus: 9000", "gpus: 600"),
    ("fleet.yaml", "linkGbps: 400", "linkGbps: 200"),  # a default under both clusters
]


def test_a_watching_process_gets_what_a_cold_full_run_gets(fleet, monkeypatch):
    """After every edit, the memo's run (reuse, memo, write) and a fresh `--full` run agree
    on every finding and every byte; only edited clusters are validated and built again."""
    monkeypatch.setattr(render, "RACY_NS", 0)  # folders just written count as settled
    validated: list[str] = []
    cluster = pipeline._cluster
    monkeypatch.setattr(pipeline, "_cluster",
                        lambda doc: validated.append(doc.file) or cluster(doc))
    out, memo = fleet.parent / "generated", watching_memo()
    for step, (file, old, new) in enumerate([("", "", ""), *EDITS]):
        if file:
            edit(fleet.parent / file, old, new)
        validated.clear()
        warm = plan([fleet], out, Sources(), reuse=True, stage=True, memo=memo)
        write(warm) if warm.ok else discard(warm)
        memo.next_run()
        validated_warm = list(validated)
        cold = plan([fleet], fleet.parent / f"cold{step}", Sources())
        assert _outcome(warm) == _outcome(cold), (file, new)
        if file == "clusters/a-gb200.yaml" and step == 1:
            assert validated_warm == [f"{fleet.parent}/clusters/a-gb200.yaml"]
            assert warm.reused == {"a-b200"}
        if new == "gpus: 600":  # the fleet file is every cluster's defaults: all validated,
            assert len(validated_warm) == 2 and warm.reused == {"a-b200", "a-gb200"}  # none built


def test_the_memo_keeps_only_what_the_last_run_used():
    memo, computed = watching_memo(), []

    def value(key: str) -> str:
        return memo.get(key, lambda: computed.append(key) or key.upper())

    assert value("a") == "A" and value("b") == "B" and value("a") == "A"
    memo.next_run()
    assert value("a") == "A"  # kept from the run before
    memo.next_run()
    memo.next_run()  # a run that did not ask for "a"
    assert value("a") == "A" and value("b") == "B"
    assert computed == ["a", "b", "a", "b"]


def test_a_generated_file_edited_behind_a_watching_process_is_noticed(fleet, monkeypatch):
    """Even with its size and modification time put back: the change time gives it away."""
    monkeypatch.setattr(render, "RACY_NS", 0)
    out, memo = generated(fleet), watching_memo()
    assert plan([fleet], out, Sources(), reuse=True, memo=memo).reused == {"a-b200", "a-gb200"}
    memo.next_run()
    victim = min((out / "a-b200").rglob("*.yaml"))
    before = victim.stat()
    text = victim.read_bytes()
    time.sleep(0.01)
    victim.write_bytes(text.replace(b"a", b"b", 1))
    os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert victim.stat().st_size == before.st_size
    assert plan([fleet], out, Sources(), reuse=True, memo=memo).reused == {"a-gb200"}


def test_a_folder_changed_in_the_last_second_is_read_again(tmp_path, monkeypatch):
    (tmp_path / "f.yaml").write_text("a: 1\n")
    assert tree_state(tmp_path) is None  # racy: a second write could keep its size and times
    monkeypatch.setattr(render, "RACY_NS", 20_000_000)
    time.sleep(0.05)
    assert tree_state(tmp_path) is not None
    (tmp_path / "f.yaml").write_text("a: 2\n")
    assert tree_state(tmp_path) is None


def test_a_folder_state_covers_the_files_read_tree_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "RACY_NS", 0)
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "deeper" / "a.yaml").write_text("a: 1\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "b.yaml").write_text("b: 1\n")
    target = tmp_path / "elsewhere" / "b.yaml"
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "a.yaml").write_text("a: 1\n")
    (out / "b.yaml").symlink_to(target)  # a link to a file: read, so its target counts
    (out / "linked").symlink_to(tmp_path / "sub")  # a link to a folder: neither walked nor read
    state = tree_state(out)
    assert [(os.path.relpath(root, out), name) for root, name, *_ in state[1]] == [
        (".", "b.yaml"), ("sub", "a.yaml")]
    assert tree_state(out) == state
    (tmp_path / "sub" / "deeper" / "a.yaml").write_text("a: 22\n")  # behind the folder link
    assert tree_state(out) == state
    target.write_text("b: 22\n")
    assert tree_state(out) != state
    state = tree_state(out)
    (out / "sub" / "new.yaml").write_text("c: 1\n")
    assert tree_state(out) != state
    (out / "dangling").symlink_to(tmp_path / "gone")
    assert tree_state(out) is None  # what it points at may appear: read the folder again


def test_snapshots_see_edits_new_blueprints_and_removed_ones(tmp_path):
    blueprint = tmp_path / "a.yaml"
    blueprint.write_text("a: 1\n")
    paths = watched([str(tmp_path)], [str(blueprint)])  # a given folder, a file a run read
    assert paths == {str(blueprint), str(tmp_path)}
    before = snapshot(paths)
    blueprint.write_text("a: 22\n")
    assert changed(before, snapshot(paths)) == [str(blueprint)]
    before = snapshot(paths)
    (tmp_path / ".a.yaml.swp").write_text("editor")
    (tmp_path / "a.yaml~").write_text("backup")
    (tmp_path / ".#a.yaml").symlink_to("user@host.1234")  # Emacs's lock: a dangling link
    assert changed(before, snapshot(paths)) == []  # not a blueprint
    (tmp_path / "b.yaml").write_text("b: 1\n")
    assert changed(before, snapshot(paths)) == [str(tmp_path)]  # a new blueprint in the folder
    before = snapshot(paths)
    blueprint.unlink()
    assert set(changed(before, snapshot(paths))) == {str(blueprint), str(tmp_path)}


def test_a_same_size_edit_in_the_same_tick_of_the_file_times_is_told_by_the_bytes():
    """On file systems with coarse times (FAT: 2 s) two saves can leave inode, size and times
    as they were: while a file is that recent, its snapshot holds a digest of its bytes."""
    stat_ = (7, 10, 1_000, 1_000)
    assert _differs((*stat_, "digest-1"), (*stat_, "digest-2"))
    assert not _differs((*stat_, "digest-1"), (*stat_, ""))  # it aged: no longer read
    assert _differs((*stat_, ""), (8, 10, 1_000, 1_000, ""))
    assert _differs((*stat_, ""), None) and _differs(("a.yaml",), ("a.yaml", "b.yaml"))


def test_a_same_size_save_is_told_by_its_bytes_also_after_its_times_settle(tmp_path,
                                                                             monkeypatch):
    """On a file system whose times tick every 2 s, a same-size save leaves inode, size and
    times as they were. A run can last longer than that: the bytes are still compared."""
    blueprint = tmp_path / "a.yaml"
    blueprint.write_text("a: 1\n")
    real_stat = os.stat

    def coarse(path, *args, **kwargs):  # every file's times read 0, whatever was written
        st = real_stat(path, *args, **kwargs)
        times = {"st_atime_ns": 0, "st_mtime_ns": 0, "st_ctime_ns": 0}
        return os.stat_result((*st[:7], 0, 0, 0), times)

    monkeypatch.setattr(os, "stat", coarse)
    before = watch_module.entry(str(blueprint), now=10**9)  # 1 s after its times: racy
    assert before[4]
    blueprint.write_text("a: 2\n")
    later = 3 * 10**9  # settled, as after a long run
    assert _differs(before, watch_module.entry(str(blueprint), later, previous=before))
    blueprint.write_text("a: 1\n")
    same = watch_module.entry(str(blueprint), later, previous=before)
    assert not _differs(before, same) and same[4] == ""  # as it was: not read again


def test_files_are_read_only_when_they_can_be(tmp_path, monkeypatch):
    """An unreadable file is no change once it settles; a named pipe is never opened (that
    would block the watcher for good)."""
    blueprint, pipe = tmp_path / "a.yaml", tmp_path / "c.yaml"
    blueprint.write_text("a: 1\n")
    os.mkfifo(pipe)
    now = time.time_ns()
    done = threading.Event()
    threading.Thread(target=lambda: (watch_module.entry(str(pipe), now), done.set()),
                     daemon=True).start()
    assert done.wait(timeout=10)

    def unreadable(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(watch_module, "open", unreadable, raising=False)
    racy = watch_module.entry(str(blueprint), now)
    settled = watch_module.entry(str(blueprint), now + 3 * 10**9, previous=racy)
    assert racy[4] == "unreadable" and not _differs(racy, settled)


def test_an_unreadable_folder_is_a_finding_not_a_traceback(tmp_path, monkeypatch):
    (tmp_path / "a.yaml").write_text("a: 1\n")

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", denied)
    files, problems = blueprint_files([str(tmp_path)])
    assert files == [] and [(f.code, f.message) for f in problems] == [
        ("AF003", f"cannot read the folder {tmp_path}: Permission denied")]


def _editor(*steps):
    """A fake sleep for wait_for_change: each call does the next step (an editor's action)."""
    slept = []
    actions = iter(steps)

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if (action := next(actions, None)) is not None:
            action()

    return sleep, slept


def test_a_change_is_acted_on_once_the_files_hold_still(tmp_path):
    """An editor's save in three writes gives one run, of the last one."""
    blueprint = tmp_path / "a.yaml"
    blueprint.write_text("a: 0\n")
    before = snapshot([str(blueprint)])
    sleep, slept = _editor(*(lambda t=t: blueprint.write_text(t) for t in ("1", "12", "123")))
    after = wait_for_change(before, sleep=sleep)
    assert after == snapshot([str(blueprint)]) and blueprint.read_text() == "123"
    assert slept == [POLL_SECONDS] + [QUIET_SECONDS] * 3  # saw it, then waited till it held


def test_a_save_that_moves_the_file_away_first_is_acted_on_when_it_is_back(tmp_path):
    blueprint = tmp_path / "a.yaml"
    blueprint.write_text("a: 0\n")
    paths = watched([str(blueprint)], [])
    before = snapshot(paths)
    sleep, _ = _editor(lambda: blueprint.rename(tmp_path / "a.yaml~"),
                       lambda: blueprint.write_text("a: 1\n"))
    assert wait_for_change(before, sleep=sleep)[str(blueprint)] is not None


def test_a_file_dated_in_the_future_does_not_hold_up_a_change(tmp_path):
    future, blueprint = tmp_path / "future.yaml", tmp_path / "a.yaml"
    future.write_text("f: 1\n")
    blueprint.write_text("a: 0\n")
    ahead = time.time_ns() + 3600 * 10**9
    os.utime(future, ns=(ahead, ahead))
    before = snapshot([str(future), str(blueprint)])
    sleep, slept = _editor(lambda: blueprint.write_text("a: 1\n"))
    wait_for_change(before, sleep=sleep)
    assert len(slept) == 2


def test_a_run_watches_every_file_it_read_or_looked_for_even_when_it_failed(fleet):
    """A cluster file with a YAML error, and one that does not exist yet, are watched too."""
    member = fleet.parent / "clusters" / "a-gb200.yaml"
    edit(member, "racks: 8", "racks: [8")
    edit(fleet, "- file: clusters/a-gb200.yaml", "- file: clusters/a-gb200.yaml\n"
         "    - file: more/c-gb200.yaml")
    memo = watching_memo()
    result = plan([fleet], fleet.parent / "generated", Sources(), memo=memo)
    assert not result.ok
    seen = memo.next_run()
    missing = fleet.parent.resolve() / "more" / "c-gb200.yaml"
    assert {str(fleet), str(member.resolve()), str(missing)} <= seen.keys()
    assert seen[str(missing)] is None  # noticed when it is created


def test_cluster_files_are_watched_as_written_and_as_read(fleet):
    """A fleet reached through a link watches the files really read; a cluster file that is
    a link is watched as a link too, so pointing it elsewhere is a change."""
    clusters = fleet.parent / "clusters"
    (clusters / "a-gb200.yaml").rename(clusters / "alt1.yaml")
    (clusters / "a-gb200.yaml").symlink_to("alt1.yaml")
    link = fleet.parent.parent / "elsewhere" / "fleet.yaml"
    link.parent.mkdir()
    link.symlink_to(fleet)
    memo = watching_memo()
    plan([link], link.parent / "generated", Sources(), memo=memo)
    state = snapshot(watched([str(link)], memo.next_run()))
    assert str((clusters / "alt1.yaml").resolve()) in state
    shutil.copy(clusters / "alt1.yaml", clusters / "alt2.yaml")
    (clusters / "next").symlink_to("alt2.yaml")
    (clusters / "next").rename(clusters / "a-gb200.yaml")  # re-pointed in one step
    assert str(clusters.resolve() / "a-gb200.yaml") in changed(state, snapshot(state))


def test_a_cluster_file_that_is_a_link_loop_or_not_a_path_is_a_finding(fleet):
    clusters = fleet.parent / "clusters"
    (clusters / "a-gb200.yaml").unlink()
    (clusters / "a-gb200.yaml").symlink_to("loop.yaml")
    (clusters / "loop.yaml").symlink_to("a-gb200.yaml")
    found = [(f.code, f.message) for f in run_blueprint(fleet).findings]
    message = "the cluster file 'clusters/a-gb200.yaml' is a loop of symbolic links"
    assert ("AF602", message) in found
    edit(fleet, "- file: clusters/a-gb200.yaml", '- file: "clusters/a\\0gb200.yaml"')
    assert ("AF602", "the cluster file 'clusters/a\0gb200.yaml' is not a valid path") in [
        (f.code, f.message) for f in run_blueprint(fleet).findings]


def test_an_edit_saved_during_a_run_starts_another(tmp_path, monkeypatch, capsys):
    """Each file's state is taken before the run reads it: a given folder's blueprints
    before the run, a file first named by the run (a fleet's cluster) just before its read."""
    folder = tmp_path / "blueprints"
    folder.mkdir()
    given, member = folder / "a.yaml", tmp_path / "member.yaml"
    given.write_text("a: 0\n")
    member.write_text("m: 0\n")
    memo, waited = watching_memo(), []

    def run() -> bool:
        load_file(member, memo=memo)
        member.write_text("m: 1\n")  # both saved while the run works on the old texts
        given.write_text("a: 1\n")
        return True

    def wait(state):
        waited.append(state)
        assert gc.get_freeze_count() > 0  # what the runs keep is not scanned during a run
        raise KeyboardInterrupt

    monkeypatch.setattr(watch_module, "wait_for_change", wait)
    assert watch_module.watch(run, [str(folder)], memo) == 0
    assert {str(given), str(member)} <= set(changed(waited[0], snapshot(waited[0])))
    assert "stopped watching" in capsys.readouterr().err
    assert gc.get_freeze_count() == 0  # frozen while watching; the caller's garbage again


def test_a_change_undone_while_settling_is_no_change(tmp_path):
    blueprint = tmp_path / "a.yaml"
    blueprint.write_text("a: 0\n")
    before = snapshot([str(tmp_path), str(blueprint)])
    sleep, slept = _editor(lambda: (tmp_path / "b.yaml").write_text("b: 0\n"),
                           lambda: (tmp_path / "b.yaml").unlink(),  # gone again: no run
                           lambda: None, lambda: None,
                           lambda: blueprint.write_text("a: 1\n"))
    after = wait_for_change(before, sleep=sleep)
    assert changed(before, after) == [str(blueprint)] and len(slept) == 6


def test_ctrl_c_after_staging_exits_130_and_leaves_nothing(fleet, monkeypatch, capsys):
    """Between building and the swap (so also without --watch): the staging goes."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(generate, "write", interrupted)
    monkeypatch.chdir(fleet.parent)
    assert main(["generate", "--watch", "fleet.yaml"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not (fleet.parent / "generated").exists()  # staged, then removed with the folder


def test_ctrl_c_among_the_swaps_leaves_no_old_tree_aside(fleet, monkeypatch, capsys):
    """The trees a watching run replaced are removed after it, also when Ctrl-C stops it
    between one swap and the next."""
    out = generated(fleet)
    edit(fleet, "linkGbps: 400", "linkGbps: 200")  # a default under both clusters
    swaps = []

    def exchange(a, b):
        if swaps:
            raise KeyboardInterrupt
        swaps.append(b)
        real_exchange(a, b)

    real_exchange = render._exchange
    monkeypatch.setattr(render, "_exchange", exchange)
    monkeypatch.chdir(fleet.parent)
    assert main(["generate", "--watch", "fleet.yaml"]) == 130
    assert len(swaps) == 1 and sorted(p.name for p in out.iterdir()) == ["a-b200", "a-gb200"]


def test_the_command_hears_ctrl_c_once_and_a_caller_of_main_keeps_its_handler(fleet,
                                                                             monkeypatch):
    from aifab import cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    mine = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(generate, "write", interrupted)
    monkeypatch.chdir(fleet.parent)
    assert main(["generate", "fleet.yaml"]) == 130
    assert signal.getsignal(signal.SIGINT) is mine
    try:
        with pytest.raises(KeyboardInterrupt):
            cli._interrupt_once(signal.SIGINT, None)  # the command's handler: stop, once
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, mine)


def test_tidying_up_that_fails_is_reported_and_the_rest_is_done(tmp_path, monkeypatch, capsys):
    """Removing an old tree after a run: a file that cannot be removed is one line, not the
    end of the watcher; the other trees are removed all the same."""
    trees = [tmp_path / ".a.aifab-old", tmp_path / ".b.aifab-old", tmp_path / ".c.aifab-old"]
    for tree in trees:
        (tree / "sub").mkdir(parents=True)
        (tree / "sub" / "f.yaml").write_text("f: 1\n")
    real_remove = render._remove

    def remove(path):
        if path.name != ".b.aifab-old":
            raise PermissionError(13, "Permission denied", str(path / "sub" / "f.yaml"))
        real_remove(path)

    monkeypatch.setattr(render, "_remove", remove)
    memo, done, replaced = watching_memo(), [], list(trees)
    memo.later(lambda: render.remove_replaced(replaced))
    memo.later(lambda: done.append("next") or [])
    tidy(memo)
    assert replaced == [] and done == ["next"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".a.aifab-old", ".c.aifab-old"]
    said = capsys.readouterr().err
    for tree in (trees[0], trees[2]):  # each failure, once
        assert said.count(f"could not remove {tree}/sub/f.yaml: Permission denied") == 1
    tidy(memo)  # nothing is left to do, nor done twice
    assert done == ["next"] and capsys.readouterr().err == ""


def test_ctrl_c_while_pool_workers_start_prints_no_traceback(fleet):
    """Each worker ignores Ctrl-C (the parent stops the pool): from the fork on, not only
    once it has started. Here each worker sends Ctrl-C to the group as it starts."""
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT / "src")!r})
from aifab import cli, generate
real = generate._set_work
def starting(work):
    os.killpg(0, signal.SIGINT)
    real(work)
generate._set_work = starting
sys.argv = ["aifab", "generate", "--full", "--jobs", "2", "fleet.yaml"]
sys.exit(cli.program())
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=fleet.parent, text=True,
                          capture_output=True, timeout=60, start_new_session=True)
    assert proc.returncode == 130 and "interrupted" in proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not (fleet.parent / "generated").exists()


def test_a_named_pipe_in_place_of_the_lock_is_not_opened(tmp_path):
    """Staging compares the lock first; a pipe there would block a read for ever."""
    files = {"a.yaml": b"a: 1\n", LOCK: b"{}\n"}
    render.write_cluster(tmp_path, "x", files)
    (tmp_path / "x" / LOCK).unlink()
    os.mkfifo(tmp_path / "x" / LOCK)
    done = threading.Event()
    staged = []
    threading.Thread(target=lambda: (staged.append(render.stage_cluster(tmp_path, "x", files)),
                                     done.set()), daemon=True).start()
    assert done.wait(10), "staging blocked on the named pipe"
    assert staged == [True]
    render.discard_staged(tmp_path, ["x"])


def test_watch_cannot_be_combined_with_check_and_stops_on_a_mistyped_path(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--watch", "--check"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(["generate", "--watch", str(tmp_path / "missing.yaml")]) == 2
    assert "AF001" in capsys.readouterr().err


class Output:
    """A child's output lines, read by a thread so that waiting for one can time out."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self._queue.put(line) for line in proc.stdout],
                         daemon=True).start()

    def until(self, needle: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.lines.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
            if needle in self.lines[-1]:
                return
        raise AssertionError(f"no {needle!r} in:\n{''.join(self.lines)}")


def test_generate_watch_rebuilds_the_changed_cluster_until_ctrl_c(fleet):
    repo = fleet.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "aifab", "generate", "--watch", "fleet.yaml"], cwd=repo,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    output = Output(proc)
    try:
        output.until("watching")
        untouched = {p: p.stat().st_ino for p in (repo / "generated" / "a-b200").rglob("*")}
        edit(repo / "clusters" / "a-gb200.yaml", "gb200-nvl72", "gb200-nvl7")
        output.until("nothing written")  # an error: reported, and still watching
        assert any("AF203" in line and "a-gb200.yaml:" in line for line in output.lines)
        output.until("watching")
        member = repo / "clusters" / "a-gb200.yaml"
        member.write_text(member.read_text().replace("gb200-nvl7\n", "gb200-nvl72\n")
                          .replace("a-r{rack", "a-rack{rack"))  # fixed, and one more change
        output.until("generated again")
        assert any("a-rack01-t01" in p.read_text() for p in (repo / "generated").rglob("*.yaml"))
        assert {p: p.stat().st_ino for p in untouched} == untouched  # not rewritten
        output.until("watching")
        proc.send_signal(signal.SIGINT)
        time.sleep(0.001)
        proc.send_signal(signal.SIGINT)  # impatient: no traceback either
        assert proc.wait(timeout=30) in (0, 130)  # 130: the second came before the first's
        output.until("stopped watching" if proc.returncode == 0 else "interrupted")  # handler
    finally:
        proc.kill()
        proc.wait()
    assert "Traceback" not in "".join(output.lines)
    assert sorted(p.name for p in (repo / "generated").iterdir()) == ["a-b200", "a-gb200"]


def test_a_watching_run_verifies_only_the_files_that_changed(monkeypatch):
    """verify and the credential scan run again only on files whose bytes changed; what they
    found in the others (an invalid object, a token) is reported again, unchanged."""
    from aifab.expand import expand
    from aifab.expand.common import obj
    from aifab.render import render as render_files
    from aifab.verify import kubernetes_schemas, policies, verify
    from aifab.verify.policies import _credentials as credentials

    cluster = run_blueprint(ROOT / "blueprints" / "gwangju-gb200.yaml").cluster
    checked, scanned = [], []
    real_check, real_scan = kubernetes_schemas.Validators.check, credentials.may_hold_secret

    def check(self, data, file):
        checked.append(file)
        return real_check(self, data, file)

    def scan(data):
        scanned.append(data)
        return real_scan(data)

    monkeypatch.setattr(kubernetes_schemas.Validators, "check", check)
    monkeypatch.setattr(credentials, "may_hold_secret", scan)

    def run(memo: Memo, port: int) -> tuple[list, list[str], int]:
        memo.next_run()
        outputs = [*expand(cluster),
                   obj("extra", {"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "odd", "namespace": "x"},
                                 "data": {"token": "ghp_" + "A1b2C3d4" * 5},
                                 "unknownField": port}),
                   obj("extra", {"apiVersion": "v1", "kind": "Service",
                                 "metadata": {"name": "svc", "namespace": "x"},
                                 "spec": {"ports": [{"port": port}]}})]
        files = render_files(outputs, blueprint="b.yaml", blueprint_data={}, source="b.yaml",
                             catalog_version=cluster.catalog.version)
        checked.clear(), scanned.clear()
        found = verify(outputs, cluster.kubernetes.version, Sources(), "out/c", files, memo)[0]
        found += policies.check(outputs, cluster, "out/c", files, memo)
        seen = (sorted(checked), len(scanned))
        cold = verify(outputs, cluster.kubernetes.version, Sources(), "out/c")[0]
        cold += policies.check(outputs, cluster, "out/c")
        assert sorted(found) == sorted(cold)
        return sorted(found), *seen

    memo = watching_memo()
    first, first_checked, first_scanned = run(memo, 80)
    assert {f.code for f in first} >= {"AF401", "AF440"}
    assert len(first_checked) > 10 and first_scanned > 40
    assert run(memo, 80) == (first, [], 0)
    assert run(memo, 81) == (first, ["out/c/extra/x/configmap-odd.yaml",  # both extra objects
                                     "out/c/extra/x/service-svc.yaml"], 2)


def test_a_ctrl_c_during_the_idle_collection_is_not_lost():
    """The watch collects garbage while idle, which runs finalizers; a KeyboardInterrupt raised
    inside one is ignored by Python. Ctrl-C is held back until the collection is done, then
    raised as usual (the CLI ignores a second one, so a lost first one would hang the watch)."""

    class Garbage:
        def __del__(self) -> None:  # the signal handler would run in here
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)

    garbage = Garbage()
    garbage.itself = garbage  # a cycle: only the collector frees it
    del garbage
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    try:
        with pytest.raises(KeyboardInterrupt):
            watch_module._collect_garbage()
            time.sleep(1)  # where it would arrive, at the latest
    finally:
        gc.unfreeze()
