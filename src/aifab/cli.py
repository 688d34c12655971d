"""The `aifab` command: parse arguments, run the pipeline, print, return an exit code.

Exit codes: 0 valid (warnings allowed), 1 any error finding, 2 usage error (bad flag, missing
path). Heavy libraries are imported by the commands that need them, never at start-up.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from aifab import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


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
    validate.add_argument("--format", choices=("text", "json", "github"), default="text",
                          help="output format (github: workflow-command annotations)")
    validate.add_argument("--strict", action="store_true", help="treat warnings as errors")

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
    generate.add_argument("--check", action="store_true",
                          help="write nothing; exit 1 when the output folder is not current")
    generate.add_argument("--diff", action="store_true", help="with --check: show unified diffs")
    generate.add_argument("--crds", metavar="DIR", type=_folder,
                          help="CRDs of the operators, to verify custom resources against")
    generate.add_argument("--chart-values", metavar="DIR", type=_folder,
                          help="charts' default values (<chart>-<version>.values.yaml), to check "
                          "Helm values keys against")
    generate.add_argument("--format", choices=("text", "json", "github"), default="text",
                          help="format of findings")
    generate.add_argument("--strict", action="store_true", help="treat warnings as errors")

    catalog = commands.add_parser(
        "catalog",
        help="list the systems of the hardware catalog, or show one with its sources",
        description="List the systems of the hardware catalog, or show one with its sources.",
    )
    catalog.add_argument("system", nargs="?", metavar="SYSTEM", help="a system id, e.g. gb200-nvl72")
    return parser


def _folder(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is not a folder")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {"validate": _validate, "generate": _generate, "catalog": _catalog}
    try:
        return commands[args.command](args)
    except BrokenPipeError:  # `aifab validate | head` is not an error
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _validate(args: argparse.Namespace) -> int:
    from aifab.diagnostics import sorted_unique, with_strict
    from aifab.pipeline import blueprint_files, run_all
    from aifab.reporters import FORMATS

    files, usage = blueprint_files(args.paths)
    if usage:
        print(FORMATS[args.format](usage, {}, 0), file=sys.stderr)
        return EXIT_USAGE
    findings, sources = [], {}
    for result in run_all(files):
        findings.extend(result.findings)
        sources[result.document.file] = result.document.text.splitlines()
    findings = sorted_unique(with_strict(findings, args.strict))
    print(FORMATS[args.format](findings, sources, len(files)))
    return EXIT_FINDINGS if any(f.is_error for f in findings) else EXIT_OK


def _generate(args: argparse.Namespace) -> int:
    from aifab.diagnostics import sorted_unique, with_strict
    from aifab.generate import check, plan, write
    from aifab.pipeline import blueprint_files
    from aifab.reporters import FORMATS
    from aifab.verify import Sources

    files, usage = blueprint_files(args.paths or ["blueprints"])
    if usage:
        print(FORMATS[args.format](usage, {}, 0), file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out)
    result = plan(files, out, Sources(crds=args.crds, chart_values=args.chart_values))
    findings = sorted_unique(with_strict(result.findings, args.strict))
    sources = {r.document.file: r.document.text.splitlines() for r in result.results}
    if findings:
        print(FORMATS[args.format](findings, sources, len(files)))
    if any(f.is_error for f in findings):
        if not args.check:
            print("nothing written: fix the errors above", file=sys.stderr)
        return EXIT_FINDINGS
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.check:
        return _report_drift(check(result, all_clusters=not args.paths), args.diff)
    for name, changed in write(result).items():
        count = len(result.files[name])
        print(f"{out / name}/: {count} files {'written' if changed else 'unchanged'}")
    return EXIT_OK


def _report_drift(drifts: Sequence, show_diff: bool) -> int:
    stale = [d for d in drifts if not d.clean]
    for d in drifts:
        if d.clean:
            print(f"{d.folder}/: current")
            continue
        print(f"{d.folder}/: NOT current")
        for label, paths in (("missing", d.missing), ("stale (regenerate)", d.stale),
                             ("edited by hand", d.edited), ("extra", d.extra)):
            for path in paths:
                print(f"  {label}: {path}")
        if show_diff:
            for diff in d.diffs.values():
                print(diff, end="")
    if stale:
        print("run `aifab generate` and commit the result", file=sys.stderr)
        return EXIT_FINDINGS
    return EXIT_OK


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


if __name__ == "__main__":
    sys.exit(main())
