"""The `aifab` command: parse arguments, run the pipeline, print, return an exit code.

Exit codes: 0 valid (warnings allowed), 1 any error finding, 2 usage error (bad flag, missing
path), 130 Ctrl-C, 143 SIGTERM. Heavy libraries are imported by the commands that need them,
never at start-up.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from aifab import __version__

if TYPE_CHECKING:
    from aifab.generate import Plan
    from aifab.memo import Memo

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
# The keys of aifab.reporters.FORMATS (a test checks), spelled here so --help imports nothing
FINDING_FORMATS = ("text", "json", "github", "sarif")
MACHINE_READABLE = ("json", "sarif")  # formats whose standard output is one document


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aifab",
        description="Blueprints of NVIDIA Blackwell GPU clusters: validate, generate, inspect the catalog.",
    )
    parser.add_argument("--version", action="version", version=f"aifab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate",
        help="check blueprints against the schema, the hardware catalog and the rules",
        description="Check blueprints against the schema, the hardware catalog and the rules.",
    )
    validate.add_argument("paths", nargs="*", default=["blueprints"], metavar="PATH",
                          help="blueprint files or folders of them (default: blueprints/)")
    _findings_options(validate, strict=True)

    generate = commands.add_parser(
        "generate",
        help="expand blueprints into generated/<cluster>/ (or check that it is current)",
        description="Expand blueprints into verified Kubernetes manifests under generated/<cluster>/. "
        "Nothing is written when any blueprint or generated object has an error.",
    )
    generate.add_argument("paths", nargs="*", metavar="BLUEPRINT|DIR",
                          help="blueprint files or folders of them (default: blueprints/)")
    generate.add_argument("--out", default="generated", metavar="DIR",
                          help="output folder (default: generated/)")
    once = generate.add_mutually_exclusive_group()
    once.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 when the output folder is not current")
    once.add_argument("--watch", action="store_true",
                      help="stay running: generate again whenever a blueprint changes, "
                      "rebuilding only the clusters it changes (Ctrl-C stops)")
    generate.add_argument("--diff", action="store_true", help="with --check: show unified diffs")
    generate.add_argument("--crds", metavar="DIR", type=_folder,
                          help="CRDs of the operators, to verify custom resources against")
    generate.add_argument("--chart-values", metavar="DIR", type=_folder,
                          help="charts' default values (<chart>-<version>.values.yaml), to check "
                          "Helm values keys against")
    generate.add_argument("--jobs", "-j", type=int, default=len(os.sched_getaffinity(0)),
                          metavar="N", help="clusters built in parallel (default: the CPUs)")
    generate.add_argument("--full", action="store_true",
                          help="rebuild every cluster, also those whose lock says they are current")
    _findings_options(generate, strict=True)

    deploy = commands.add_parser(
        "deploy", help="deploy clusters' reviewed trees with Pulumi, one stack per cluster",
        description="Deploy generated/<cluster>/ of each cluster through Pulumi's Automation "
        "API, one stack per cluster: a canary first (the fewest GPUs, then by name), then the "
        "rest --parallel N at a time; a failed stack stops the waves. Needs the Pulumi CLI and "
        "aifab's deploy extra (not for --dry-run).")
    deploy.add_argument("paths", nargs="*", metavar="BLUEPRINT|DIR|NAME",
                        help="blueprint files or folders (default: blueprints/); with --destroy, "
                        "cluster names")
    deploy.add_argument("--out", default="generated", metavar="DIR",
                        help="the generated trees (default: generated/, beside Pulumi.yaml)")
    deploy.add_argument("--parallel", type=_positive, default=1, metavar="N",
                        help="stacks deployed at once after the canary (default: 1)")
    deploy.add_argument("--dry-run", action="store_true",
                        help="print every stack, its wave and the lock it would deploy; no Pulumi")
    action = deploy.add_mutually_exclusive_group()
    action.add_argument("--preview", action="store_true", help="`pulumi preview`, not `up`")
    action.add_argument("--destroy", action="store_true",
                        help="destroy the named clusters' stacks (needs --yes)")
    deploy.add_argument("--yes", action="store_true", help="confirm --destroy")

    verify = commands.add_parser(
        "verify",
        help="compare a live cluster's nodes with its blueprint (needs a real cluster)",
        description="Read the nodes of a live cluster (read-only) and report, per node pool, "
        "missing or extra nodes, GPU product and count, driver version, MIG state, readiness.",
    )
    verify.add_argument("blueprint", nargs="?", metavar="BLUEPRINT",
                        help="the cluster's blueprint or fleet (default: the blueprints/ cluster "
                        "named like the context)")
    verify.add_argument("--kubeconfig", required=True, type=Path, metavar="PATH")
    verify.add_argument("--context", metavar="NAME", help="kubeconfig context (default: current)")
    verify.add_argument("--timeout", type=_seconds, metavar="SECONDS",
                        help="give up reading the cluster after this long (default: 120)")
    _findings_options(verify, strict=False)

    admit = commands.add_parser(
        "admit", help="would the cluster accept and run these objects (Jobs, JobSets, Pods)?",
        description="Judge every object of the files as the cluster aifab generates would: "
        "schemas, CRDs and CEL, namespace and Pod Security, ResourceQuota, Kueue, placement. "
        "Exit 0 all admitted, 1 any refused, 2 usage.")
    admit.add_argument("files", nargs="+", metavar="FILE", help="YAML files of objects")
    against = admit.add_mutually_exclusive_group(required=True)
    against.add_argument("--blueprint", type=Path, metavar="BLUEPRINT",
                         help="judge against the cluster this blueprint makes (in memory)")
    against.add_argument("--cluster", metavar="NAME",
                         help="judge against the reviewed tree generated/NAME/")
    admit.add_argument("--generated", type=Path, default=Path("generated"), metavar="DIR",
                       help="where the reviewed trees are (default: generated/)")
    admit.add_argument("--format", choices=("text", "json"), default="text",
                       help="output format (default: text)")

    diff = commands.add_parser(
        "diff", help="what a branch changes in the clusters (markdown for a pull-request comment)",
        description="Compare the blueprints at a git ref with the working tree: GPUs, racks, "
        "nodes, power against the budget, tenant quotas, versions and generated objects per "
        "cluster.")
    diff.add_argument("paths", nargs="*", metavar="PATH",
                      help="blueprint files or folders (default: blueprints/)")
    diff.add_argument("--base", metavar="REF",
                      help="git ref to compare with (default: merge base with origin/main, else HEAD)")
    diff.add_argument("--format", choices=("markdown", "text", "json"), default="markdown",
                      help="output format (default: markdown)")

    plan = commands.add_parser(
        "plan", help="capacity and bill of materials; --mirror-list for air-gapped sites",
        description="GPUs, nodes, racks, NICs and rails, NVLink domains, scalable units, switches "
        "and power per pool; or every upstream image and chart an air-gapped site must mirror.")
    plan.add_argument("paths", nargs="*", metavar="BLUEPRINT",
                      help="blueprint files or folders (default: blueprints/)")
    plan.add_argument("--format", choices=("text", "json", "skopeo"), default="text",
                      help="output format (skopeo: the mirror list as `skopeo sync --src yaml` "
                      "reads it)")
    plan.add_argument("--mirror-list", action="store_true",
                      help="print every chart and image the clusters pull, one per line")
    plan.add_argument("--chart-values", metavar="DIR", type=_folder,
                      help="default values (<chart>-<version>.values.yaml) of chart versions "
                      "aifab ships no data for")
    plan.add_argument("--node-os", action="append", metavar="OS", type=_node_os,
                      help="the nodes' OS, for the driver images tagged per OS (default "
                      "ubuntu24.04; repeat for several)")

    catalog = commands.add_parser(
        "catalog",
        help="list the systems of the hardware catalog, or show one with its sources",
        description="List the systems of the hardware catalog, or show one with its sources.",
    )
    catalog.add_argument("system", nargs="?", metavar="SYSTEM", help="a system id, e.g. gb200-nvl72")

    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of blueprint files (for editors and other tools)",
        description="Print the JSON Schema of blueprint files: by default the one every "
                    "blueprint file meets (schemas/blueprint.schema.json), or that of one kind. "
                    "FleetMember is a fleet's cluster file, which the fleet's defaults complete.",
    )
    schema.add_argument("--kind", choices=("Cluster", "Fleet", "FleetMember"),
                        help="the schema of one kind only")

    init = commands.add_parser(
        "init", help="create a blueprint repository: an example blueprint, Pulumi, CI",
        description="Create a blueprint repository in DIR (new or empty): an example "
        "blueprint, the schema, a Pulumi project running aifab's program, pre-commit hooks and "
        "a GitHub workflow. aifab validate, generate and generate --check pass in it at once.")
    init.add_argument("folder", type=Path, metavar="DIR", help="a new or empty folder")
    return parser


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return int(value)


def _node_os(value: str) -> str:
    """An OS as driver image tags spell it (ubuntu24.04, rhel9.6)."""
    if not re.fullmatch(r"[a-z][a-z0-9._-]{0,31}", value):
        raise argparse.ArgumentTypeError(
            "an OS as driver image tags spell it, e.g. ubuntu24.04 or rhel9.6")
    return value


def _folder(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is not a folder")
    return path


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of seconds")
    return seconds


def _findings_options(command: argparse.ArgumentParser, *, strict: bool) -> None:
    command.add_argument("--format", choices=FINDING_FORMATS, default="text",
                         help="how findings are printed (github: workflow-command annotations)")
    if strict:
        command.add_argument("--strict", action="store_true", help="treat warnings as errors")


def main(argv: Sequence[str] | None = None) -> int:
    commands = {"validate": _validate, "generate": _generate, "verify": _verify,
                "diff": _diff, "plan": _plan, "catalog": _catalog, "schema": _schema,
                "deploy": _deploy, "admit": _admit, "init": _init}
    try:
        args = _parser().parse_args(argv)  # --help or a usage error: SystemExit, as argparse does
        return commands[args.command](args)
    except BrokenPipeError:  # `aifab validate | head` is not an error
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:  # what a run staged is gone already (generate.discard)
        print("interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except Terminated:  # the same clean-up as Ctrl-C
        print("terminated", file=sys.stderr)
        return 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM, raised where the program is, like KeyboardInterrupt for Ctrl-C."""


def program() -> int:
    """The `aifab` command: `main`, with Ctrl-C and SIGTERM heard once. The first stops aifab
    (as KeyboardInterrupt or Terminated: what a run staged is removed, its workers stopped);
    later ones are ignored while it stops, so an impatient second one cannot cut a clean-up
    short or print a traceback as Python exits. Only the command does this: a program calling
    `main` keeps its own handlers, and a signal ignored when aifab started (a background job
    of a script) stays ignored."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt_once)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate_once)
    return main()


def _interrupt_once(signum: int, frame: object) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if signal.getsignal(signal.SIGTERM) is _terminate_once:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _terminate_once(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if signal.getsignal(signal.SIGINT) is _interrupt_once:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise Terminated


def _validate(args: argparse.Namespace) -> int:
    from aifab.diagnostics import sorted_unique, with_strict
    from aifab.pipeline import blueprint_files, run_all
    from aifab.reporters import report

    files, usage = blueprint_files(args.paths)
    if usage:
        print(report(args.format, usage, {}, 0, sys.stderr), file=sys.stderr)
        return EXIT_USAGE
    findings, sources = [], {}
    for result in run_all(files):
        findings.extend(result.findings)
        sources[result.document.file] = result.document.text.splitlines()
    findings = sorted_unique(with_strict(findings, args.strict))
    print(report(args.format, findings, sources, len(files)))
    return EXIT_FINDINGS if any(f.is_error for f in findings) else EXIT_OK


def _generate(args: argparse.Namespace) -> int:
    if not args.watch:
        return _generate_once(args)
    from aifab.pipeline import blueprint_files
    from aifab.watch import watch, watching_memo

    given = args.paths or ["blueprints"]
    if blueprint_files(given)[1]:  # a mistyped path ends the command, as without --watch
        return _generate_once(args)
    memo = watching_memo()
    return watch(lambda: _generate_once(args, memo) == EXIT_OK, given, memo)


def _generate_once(args: argparse.Namespace, memo: Memo | None = None) -> int:
    """One generate run; with a `memo`, one of the runs of --watch. It holds the output
    folder's lock (aifab.outlock): a second run on the same folder waits for this one."""
    from aifab.outlock import CannotLock, held

    try:
        with held(Path(args.out), shared=args.check, say=_say_waiting):
            return _generate_locked(args, memo)
    except CannotLock as e:
        return _cannot_write(e.filename, e.reason)


def _say_waiting(message: str) -> None:
    print(f"aifab generate: {message}", file=sys.stderr, flush=True)


def _generate_locked(args: argparse.Namespace, memo: Memo | None = None) -> int:
    from aifab.generate import CannotWrite, discard, plan
    from aifab.pipeline import blueprint_files
    from aifab.progress import progress
    from aifab.reporters import report
    from aifab.verify import Sources

    files, usage = blueprint_files(args.paths or ["blueprints"])
    if usage:
        print(report(args.format, usage, {}, 0, sys.stderr), file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out)
    try:
        with progress("generating") as tracker:  # a bar on a terminal; nothing in CI or a pipe
            result = plan(files, out, Sources(crds=args.crds, chart_values=args.chart_values),
                          jobs=max(1, args.jobs), reuse=not (args.check or args.full),
                          stage=not args.check, tracker=tracker, memo=memo)
    except CannotWrite as e:  # staging new files: a full disk, a read-only folder
        return _cannot_write(e.filename, e.reason)
    except OSError as e:  # reading: a file that vanished, a dangling link under --crds
        from aifab.escape import printable

        print(printable(f"aifab generate: cannot read {e.filename}: {e.strerror or e}"),
              file=sys.stderr)
        print("hint: nothing was written; check that the file exists and is readable (a link "
              "must point at a file)", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _report_and_write(args, result, len(files), memo)
    except BaseException:  # Ctrl-C or a closed pipe before the swap: what was staged goes
        discard(result)
        raise


def _report_and_write(args: argparse.Namespace, result: Plan, given: int,
                      memo: Memo | None = None) -> int:
    """Print the findings, then write the planned clusters, or check them (--check). With a
    `memo` (--watch), the trees replaced are removed after the run is reported."""
    from aifab.diagnostics import sorted_unique, with_strict
    from aifab.escape import printable
    from aifab.generate import check, discard, drift_findings, write, write_stack_configs
    from aifab.reporters import report
    from aifab.retire import orphans, retire
    from aifab.scan import odd_entries

    findings = sorted_unique(with_strict(result.findings, args.strict))
    failed = any(f.is_error for f in findings)
    if failed:
        discard(result)  # what the builders staged: out/ stays as it was
    sources = {r.document.file: r.document.text.splitlines() for r in result.results}
    sources.update((file, text.splitlines()) for file, text in result.texts.items())
    # a run over whole folders (blueprints/ by default; the action's and pre-commit's paths)
    # removes what no blueprint makes any more, and --check reports it; one over single files
    # leaves the other clusters alone
    whole = all(Path(p).is_dir() for p in args.paths)
    found, unreadable, drifts = None, None, []
    if not failed:
        try:
            found = orphans(result.out, result.files,
                            (r.document.file for r in result.results)) if whole else None
        except OSError as e:  # an unreadable folder under the output folder
            unreadable = e
        if args.check and unreadable is None:
            drifts = check(result, all_clusters=whole) + (found.drifts() if found else [])
            if args.format != "text":  # each file not as generated, a finding at that file
                findings = sorted_unique([*findings, *drift_findings(drifts)])
    if findings or args.format in MACHINE_READABLE:  # a tool reading stdout gets a document
        print(report(args.format, findings, sources, given))
    if failed:
        if not args.check:
            print("nothing written: fix the errors above", file=sys.stderr)
        return EXIT_FINDINGS
    for note in result.notes:
        print(printable(f"note: {note}"), file=sys.stderr)
    # in json and sarif, standard output is the document alone, for the tool that reads it
    listing = sys.stderr if args.format in MACHINE_READABLE else sys.stdout
    if unreadable is not None:
        print(printable(f"aifab generate: cannot read {unreadable.filename}: "
                        f"{unreadable.strerror or unreadable}"), file=sys.stderr)
        return EXIT_FINDINGS
    if args.check:
        return _report_drift(drifts, args.diff, listing)
    out = result.out
    odd = {name: odd_entries(out / name) for name in result.files if name not in result.reused}
    try:
        replaced: list[Path] | None = None if memo is None else []
        if memo is not None:  # before the swaps: a Ctrl-C among them leaves none aside
            memo.later(lambda: _remove_replaced(out, replaced))
        changed = write(result, replaced)
        project = out.resolve().parent  # stack files belong to the Pulumi project, if there is one
        created = (write_stack_configs(result, project / "stacks")
                   if (project / "Pulumi.yaml").is_file() else [])
        retired = retire(found) if found else []
    except OSError as e:  # a full disk, a read-only folder: each cluster is old or new, never torn
        return _cannot_write(e.filename or str(out), e.strerror or str(e))
    from aifab.terminal import count, relative

    for name, was_changed in changed.items():
        files = count(len(result.files[name]), "file")
        print(f"{relative(out / name)}/: {files} {'written' if was_changed else 'unchanged'}",
              file=listing)
    for path in created:
        print(f"{relative(path)}: new Pulumi stack configuration", file=listing)
    for name, entries in odd.items():
        if entries and changed.get(name):
            print(printable(f"note: {relative(out / name)}/: replaced what was not a regular "
                            "file (never read): " + ", ".join(f"{path} ({what})"
                                                              for path, what in entries.items())),
                  file=sys.stderr)
    for path in retired:
        print(printable(f"{relative(path)}: removed (no blueprint generates its cluster any "
                        "more)"),
              file=listing)
    return EXIT_OK


def _remove_replaced(out: Path, replaced: list[Path]) -> list[OSError]:
    """Remove the trees a watching run replaced, after it has reported: holding the output
    folder's lock again, as another run may be writing the folder by then."""
    from aifab.outlock import CannotLock, held
    from aifab.render import remove_replaced

    try:
        with held(out, say=_say_waiting):
            return remove_replaced(replaced)
    except CannotLock as e:
        return [OSError(0, e.reason, e.filename)]


def _cannot_write(filename: str, reason: str) -> int:
    from aifab.escape import printable

    print(printable(f"aifab generate: cannot write {filename}: {reason}"), file=sys.stderr)
    print("hint: every cluster folder is either as before or fully new; free space or fix "
          "the permissions and run again", file=sys.stderr)
    return EXIT_FINDINGS


def _report_drift(drifts: Sequence, show_diff: bool, listing: TextIO) -> int:
    """What `--check` found. File names and diffs come from the tree under review (a pull
    request can plant a file, or put ESC sequences in one): shown escaped, line by line."""
    from aifab.escape import printable
    from aifab.terminal import relative

    stale = [d for d in drifts if not d.clean]
    for d in drifts:
        if d.clean:
            print(f"{relative(d.folder)}/: current", file=listing)
            continue
        print(f"{relative(d.folder)}/: NOT current", file=listing)
        for label, paths in (("missing", d.missing), ("stale (regenerate)", d.stale),
                             ("edited by hand", d.edited), ("extra", d.extra),
                             ("not a regular file (not read)", d.odd)):
            for path in paths:
                print(printable(f"  {label}: {d.describe(path)}"), file=listing)
        if show_diff:
            for diff in d.diffs.values():
                for line in diff.removesuffix("\n").split("\n"):  # a CR stays in its line
                    print(printable(line), file=listing)
    if stale:
        print("run `aifab generate` and commit the result", file=sys.stderr)
        return EXIT_FINDINGS
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    from aifab.diagnostics import sorted_unique
    from aifab.live import LiveError, connect, verify_cluster
    from aifab.pipeline import blueprint_files, run_all
    from aifab.reporters import report

    files, usage = blueprint_files([args.blueprint] if args.blueprint else ["blueprints"])
    if usage:
        print(report(args.format, usage, {}, 0, sys.stderr), file=sys.stderr)
        return EXIT_USAGE
    results = list(run_all(files))
    invalid = [f for r in results for f in r.findings if f.is_error]
    if invalid:
        sources = {r.document.file: r.document.text.splitlines() for r in results}
        print(report(args.format, sorted_unique(invalid), sources, len(files)))
        return EXIT_FINDINGS
    clusters = [r for r in results if r.cluster is not None]
    wanted = args.context or _current_context(args.kubeconfig)
    chosen = clusters if args.blueprint and len(clusters) == 1 else [
        r for r in clusters if r.cluster and r.cluster.name == wanted]
    if len(chosen) != 1:
        names = ", ".join(sorted(r.cluster.name for r in clusters if r.cluster))
        print(f"aifab verify: no single cluster named '{wanted}' among {names}; pass the "
              "cluster's blueprint, or --context with the cluster's name", file=sys.stderr)
        return EXIT_USAGE
    result = chosen[0]
    assert result.cluster is not None
    try:
        found = verify_cluster(result.cluster, connect(args.kubeconfig, args.context),
                               timeout=args.timeout)
    except LiveError as e:
        found = [e.finding]
    findings = sorted_unique(result.document.place(f) for f in found)
    sources = {r.document.file: r.document.text.splitlines() for r in results}
    print(report(args.format, findings, sources, 1))
    return EXIT_FINDINGS if any(f.is_error for f in findings) else EXIT_OK


def _admit(args: argparse.Namespace) -> int:
    from aifab.admit import Report, admit
    from aifab.admit.cluster import Unusable, from_blueprint, from_tree
    from aifab.admit.report import as_json, text

    show = as_json if args.format == "json" else text
    try:
        cluster = from_blueprint(args.blueprint) if args.blueprint else \
            from_tree(args.generated, args.cluster)
    except Unusable as e:
        print(show(Report("", (), tuple(e.findings))), end="")
        return EXIT_USAGE
    report = admit(args.files, cluster)
    print(show(report), end="")
    if report.problems:
        return EXIT_USAGE
    return EXIT_FINDINGS if any(not v.admitted for v in report.verdicts) else EXIT_OK


def _deploy(args: argparse.Namespace) -> int:
    from aifab.rollout import Request, deploy

    if args.destroy != args.yes:
        print("aifab deploy: --destroy needs --yes (and --yes is only for --destroy): "
              "destroying a stack deletes the cluster's deployed objects", file=sys.stderr)
        return EXIT_USAGE
    operation = "destroy" if args.destroy else "preview" if args.preview else "up"
    return deploy(Request(args.paths, Path(args.out), operation, args.parallel, args.dry_run))


def _diff(args: argparse.Namespace) -> int:
    from aifab.diff import run
    from aifab.terminal import use_color

    text, code = run(args.paths, base=args.base, fmt=args.format,
                     color=use_color(sys.stdout, args.format))
    print(text, file=sys.stderr if code == EXIT_USAGE else sys.stdout)
    return code


def _plan(args: argparse.Namespace) -> int:
    import shutil

    from aifab.plan import run
    from aifab.terminal import use_color

    tty = sys.stdout.isatty()
    text, code = run(args.paths, fmt=args.format, mirror_list=args.mirror_list,
                     chart_values=args.chart_values, color=use_color(sys.stdout, args.format),
                     width=shutil.get_terminal_size((120, 24)).columns if tty else 120,
                     node_os=args.node_os or ())
    print(text, file=sys.stderr if code == EXIT_USAGE else sys.stdout)
    return code


def _current_context(kubeconfig: Path) -> str | None:
    """The kubeconfig's current-context, read as plain YAML (no client needed)."""
    import yaml

    try:
        data = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return data.get("current-context") if isinstance(data, dict) else None


def _catalog(args: argparse.Namespace) -> int:
    from aifab.catalog import load_catalog
    from aifab.catalog.report import describe_system, systems_table
    from aifab.diagnostics import did_you_mean

    catalog = load_catalog()
    if args.system is None:
        print(systems_table(catalog))
        return EXIT_OK
    if args.system not in catalog.systems:
        hint = did_you_mean(args.system, catalog.systems) or f"known: {', '.join(catalog.systems)}"
        print(f"aifab catalog: unknown system '{args.system}'; {hint}", file=sys.stderr)
        return EXIT_USAGE
    print(describe_system(catalog, args.system))
    return EXIT_OK


def _init(args: argparse.Namespace) -> int:
    from aifab.escape import printable
    from aifab.reporters import text
    from aifab.scaffold import init

    written, refused = init(args.folder)
    if refused:  # a folder with files in it is a usage error; a failed write is not
        print(text(refused, {}, 0).rsplit("\n", 1)[0], file=sys.stderr)
        return EXIT_USAGE if refused[0].code == "AF012" else EXIT_FINDINGS
    for path in written:
        print(printable(f"{args.folder / path}: created"))
    print(printable(f"next: cd {args.folder}, edit blueprints/lab-b200.yaml, run aifab "
                    "generate and commit (replace <org> in .github/workflows/aifab.yml)"))
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    from aifab.schema import document, text

    sys.stdout.write(text(document(args.kind)))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
