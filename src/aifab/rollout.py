"""`aifab deploy`: one Pulumi stack per cluster, deployed through the Automation API in waves.

A fleet is rolled out in waves. The canary goes alone first: the cluster with the fewest GPUs
(ties broken by name), the cheapest place to find a bad change. The others follow in the same
order (fewest GPUs first, then by name), `parallel` stacks per wave, run concurrently. A wave
with a failed stack is the last: the report names the stacks done, failed and not started.

Before any Pulumi call for a stack, its tree generated/<cluster>/ is checked against its lock
by the function the Pulumi program itself uses (aifab.deploy.tree.load_cluster_tree), so a
tampered tree is refused here already. The stacks run the project's program (Pulumi.yaml at
the repository root, `main: stacks/`) in a LocalWorkspace; `pulumi.automation` drives the
Pulumi CLI, which must be on PATH (PulumiCommand runs `pulumi` from PATH: pulumi/pulumi
v3.272.0, sdk/python/lib/pulumi/automation/_cmd.py; the SDK version aifab's extra installs).
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TextIO

from aifab.escape import printable

INSTALL_CLI = "https://www.pulumi.com/docs/iac/download-install/"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2  # as aifab.cli


@dataclass(frozen=True)
class Target:
    """A cluster to deploy: its name (also its stack's) and its GPUs (which decide its wave)."""

    name: str
    gpus: int = 0


def waves(targets: Sequence[Target], parallel: int) -> list[list[Target]]:
    """The canary alone (fewest GPUs, then by name), then the rest in that order, `parallel`
    per wave."""
    order = sorted(targets, key=lambda t: (t.gpus, t.name))
    return order[:1] and [order[:1]] + [order[i:i + parallel]
                                        for i in range(1, len(order), parallel)]


@dataclass
class Outcome:
    """What a rollout did, per stack name: done, failed (with the reason), not started."""

    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    not_started: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_started


def missing_pulumi() -> str | None:
    """Why Pulumi cannot be driven from here (no `pulumi` package, no CLI), or None."""
    try:
        import pulumi.automation  # noqa: F401 - only whether it imports
    except ImportError:
        return ("the Pulumi Python SDK is not installed; install aifab's deploy extra: "
                "pip install 'aifab[deploy]'")
    if shutil.which("pulumi") is None:
        return f"the Pulumi CLI (`pulumi`) is not on PATH; install it: {INSTALL_CLI}"
    return None


class Console:
    """Progress lines, whole and one at a time (stacks of a wave print concurrently). On a
    terminal the state words are coloured; elsewhere the same lines are plain."""

    COLOURS: ClassVar[dict[str, str]] = {"started": "1", "done": "32", "failed": "31"}

    def __init__(self, stream: TextIO, colour: bool) -> None:
        self.colour, self._stream, self._lock = colour, stream, threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            print(text, file=self._stream, flush=True)

    def state(self, name: str, state: str, detail: str = "") -> None:
        word = f"\033[{self.COLOURS[state]}m{state}\033[0m" if self.colour else state
        self.line(f"{printable(name)}: {word}{printable(detail)}")

    def engine(self, name: str) -> Callable[[str], None]:
        """A callback printing the engine's output, each line prefixed by the stack name."""
        return lambda text: self.line(printable(f"{name} | {text}"))


StackRun = Callable[[str], None]  # deploys one stack; raises StackFailed


class StackFailed(Exception):
    """One stack could not be deployed: the reason, for the report."""


def roll_out(plan: list[list[Target]], run: StackRun, console: Console, parallel: int,
             verb: str = "up") -> Outcome:
    """Run each wave's stacks concurrently (at most `parallel`); stop after a wave that failed."""
    outcome = Outcome()
    for number, wave in enumerate(plan, start=1):
        if outcome.failed:
            outcome.not_started.extend(t.name for t in wave)
            continue
        label = "canary" if number == 1 and len(plan) > 1 else f"wave {number}"
        console.line(f"{label}: {', '.join(t.name for t in wave)}")
        with ThreadPoolExecutor(max(1, min(parallel, len(wave)))) as pool:
            results = list(pool.map(lambda t: _one(t.name, run, console, verb), wave))
        for target, reason in zip(wave, results, strict=True):
            if reason is None:
                outcome.done.append(target.name)
            else:
                outcome.failed[target.name] = reason
    return outcome


def _one(name: str, run: StackRun, console: Console, verb: str) -> str | None:
    console.state(name, "started", f" ({verb})")
    start = time.monotonic()
    try:
        run(name)
    except StackFailed as e:
        console.state(name, "failed", f" after {time.monotonic() - start:.1f} s")
        return str(e)
    console.state(name, "done", f" in {time.monotonic() - start:.1f} s")
    return None


def report(outcome: Outcome, console: Console) -> None:
    """The closing summary: every stack in one of done / failed / not started."""
    console.line(printable(f"done: {', '.join(outcome.done) or '(none)'}"))
    if outcome.failed:
        for name, reason in outcome.failed.items():
            console.line(printable(f"failed: {name}: {reason}"))
        console.line(f"not started: {', '.join(outcome.not_started) or '(none)'}")


def pulumi_stack_run(project: Path, out: Path, operation: str, console: Console) -> StackRun:
    """Deploy one stack of `project` (the folder of Pulumi.yaml) with `operation`: up and
    preview check generated/<cluster>/ against its lock first; destroy needs no tree (the
    stack's state is what it removes) and never creates a stack."""
    from pulumi.automation import create_or_select_stack, select_stack
    from pulumi.automation.errors import CommandError, StackNotFoundError

    from aifab.deploy.tree import TreeError, load_cluster_tree

    def run(name: str) -> None:
        if operation != "destroy":
            config = project / "stacks" / f"Pulumi.{name}.yaml"  # Pulumi.yaml: stackConfigDir
            if not config.is_file():
                raise StackFailed(f"no stack configuration {config}: run `aifab generate`")
            try:
                tree = load_cluster_tree(out, name)
            except TreeError as e:
                raise StackFailed(str(e)) from None
            console.line(f"{name}: tree verified, lock {tree.lock_digest}")
        on_output = console.engine(name)
        options = {"on_output": on_output, "on_error": on_output,
                   "color": "always" if console.colour else "never"}
        try:
            if operation == "destroy":
                select_stack(stack_name=name, work_dir=str(project)).destroy(**options)
            else:
                stack = create_or_select_stack(stack_name=name, work_dir=str(project))
                (stack.preview if operation == "preview" else stack.up)(**options)
        except StackNotFoundError:
            raise StackFailed(f"no stack named {name} in this Pulumi backend") from None
        except CommandError as e:
            raise StackFailed(_last_error(e)) from None
        except Exception as e:  # noqa: BLE001 - the SDK's others (a CLI too old, no summary
            # event, `pulumi version` failing): one stack's failure, reported, never a traceback
            raise StackFailed(f"pulumi.automation: {type(e).__name__}: {e}") from None

    return run


def _last_error(error: Exception) -> str:
    """The CLI's own message: the last lines of its standard error, which CommandError keeps
    only in its text (pulumi.automation._cmd.CommandResult.__str__: code, stdout, stderr)."""
    text = str(error)
    code, _, rest = text.partition(" code: ")[2].partition("\n")
    stderr = rest.partition("\n stderr: ")[2]
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return "; ".join(lines[-3:]) if lines else f"pulumi exited with code {code.strip() or '?'}"


def console() -> Console:
    """Progress on standard output, coloured on a terminal only (aifab.terminal.use_color:
    NO_COLOR and FORCE_COLOR respected)."""
    from aifab.terminal import use_color

    return Console(sys.stdout, use_color(sys.stdout))


@dataclass(frozen=True)
class Request:
    """What `aifab deploy` was asked: blueprints (or, with destroy, cluster names) and how."""

    paths: Sequence[str]
    out: Path
    operation: str = "up"
    parallel: int = 1
    dry_run: bool = False


def deploy(request: Request) -> int:
    """The `aifab deploy` command: targets, waves, then a dry run or the rollout; an exit code."""
    targets = _destroy_targets(request.paths) if request.operation == "destroy" \
        else _blueprint_targets(request.paths)
    if isinstance(targets, int):
        return targets
    plan = waves(targets, request.parallel)
    if request.dry_run:
        return _dry_run(plan, request)
    project = request.out.resolve().parent
    if not (project / "Pulumi.yaml").is_file():
        return _error(f"no Pulumi project at {project}: stacks deploy {request.out}/<cluster>/ "
                      "from the repository holding Pulumi.yaml (run there, or pass --out)",
                      EXIT_USAGE)
    if (why := missing_pulumi()) is not None:
        return _error(why, EXIT_USAGE)
    lines = console()
    start = time.monotonic()
    run = pulumi_stack_run(project, request.out, request.operation, lines)
    outcome = roll_out(plan, run, lines, request.parallel, request.operation)
    report(outcome, lines)
    lines.line(f"{len(outcome.done)} of {len(targets)} stack(s) {request.operation} in "
               f"{time.monotonic() - start:.1f} s")
    return EXIT_OK if outcome.ok else EXIT_FAILED


def _blueprint_targets(paths: Sequence[str]) -> list[Target] | int:
    """Every cluster of the blueprints, or an exit code after printing why there is none."""
    from aifab.diagnostics import sorted_unique
    from aifab.pipeline import blueprint_files, run_all
    from aifab.reporters import report

    files, usage = blueprint_files(paths or ["blueprints"])
    if usage:
        print(report("text", usage, {}, 0, sys.stderr), file=sys.stderr)
        return EXIT_USAGE
    results = list(run_all(files))
    errors = sorted_unique(f for r in results for f in r.findings if f.is_error)
    if errors:
        sources = {r.document.file: r.document.text.splitlines() for r in results}
        print(report("text", errors, sources, len(files)))
        return _error("nothing deployed: fix the errors above", EXIT_FAILED)
    targets: dict[str, Target] = {}
    for result in results:
        if (cluster := result.cluster) is None:
            continue
        if cluster.name in targets:
            return _error(f"two blueprints define cluster {cluster.name} (AF420); nothing "
                          "deployed", EXIT_FAILED)
        targets[cluster.name] = Target(cluster.name, cluster.gpus)
    if not targets:
        return _error("no cluster in the blueprints given; nothing to deploy", EXIT_USAGE)
    return list(targets.values())


def _destroy_targets(names: Sequence[str]) -> list[Target] | int:
    """The clusters to destroy, by name (their blueprints may be gone already)."""
    from aifab.naming import dns_label_problem

    if not names:
        return _error("--destroy needs the names of the clusters whose stacks to destroy",
                      EXIT_USAGE)
    for name in names:
        if problem := dns_label_problem(name):
            return _error(f"--destroy takes cluster names, not paths: {problem}", EXIT_USAGE)
    return [Target(name) for name in sorted(set(names))]


def _dry_run(plan: list[list[Target]], request: Request) -> int:
    """Every stack, its wave and the lock digest it would deploy; trees checked, no Pulumi."""
    from aifab.deploy.tree import TreeError, load_cluster_tree

    failed = 0
    for number, wave in enumerate(plan, start=1):
        label = f"wave {number}" + (" (canary)" if number == 1 and len(plan) > 1 else "")
        for target in wave:
            if request.operation == "destroy":
                print(f"{label}: {target.name} destroy")
                continue
            try:
                lock = load_cluster_tree(request.out, target.name).lock_digest
            except TreeError as e:
                failed += 1
                print(f"{label}: {target.name} REFUSED", flush=True)
                print(printable(str(e)), file=sys.stderr)
                continue
            print(f"{label}: {target.name} {request.operation} lock {lock}")
    if failed:
        from aifab.terminal import count

        return _error(f"{count(failed, 'tree')} not as generated and reviewed", EXIT_FAILED)
    return EXIT_OK


def _error(message: str, code: int) -> int:
    print(printable(f"aifab deploy: {message}"), file=sys.stderr)
    return code
