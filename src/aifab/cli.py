"""The `aifab` command: parse arguments, run the pipeline, print, return an exit code.

Exit codes: 0 valid (warnings allowed), 1 any error finding, 2 usage error (bad flag, missing
path). Heavy libraries are imported by the commands that need them, never at start-up.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from aifab import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aifab",
        description="Blueprints of NVIDIA Blackwell GPU clusters: validate, inspect the catalog.",
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

    catalog = commands.add_parser(
        "catalog",
        help="list the systems of the hardware catalog, or show one with its sources",
        description="List the systems of the hardware catalog, or show one with its sources.",
    )
    catalog.add_argument("system", nargs="?", metavar="SYSTEM", help="a system id, e.g. gb200-nvl72")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args)
        return _catalog(args)
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
