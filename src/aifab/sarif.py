"""SARIF 2.1.0: findings as a static-analysis log for GitHub code scanning and SARIF viewers.

One run; the driver lists a rule for every code aifab can report (collected from the `CODES`
of each stage and of every rule module), so an alert links to its code's description even when
the run found nothing else. File locations are URIs relative to the working directory (CI runs
at the repository root) under the `%SRCROOT%` base; files outside it get absolute `file:` URIs.
Each result carries a partial fingerprint built from its code, file and JSON path, never its
line, so an alert survives edits that move it. Output is sorted, so a run is byte-identical to
the last one on the same input. Characters a terminal could act on (controls, bidi overrides)
are `\\u` escapes, as in `--format json` (escape.json_safe).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path as FsPath
from types import ModuleType
from urllib.parse import quote, urlsplit

from aifab import __version__
from aifab.diagnostics import Finding, Severity
from aifab.escape import json_safe

SCHEMA_URI = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
              "sarif-schema-2.1.0.json")
SRCROOT = "%SRCROOT%"
FINGERPRINT = "aifabFinding/v1"

SourceLines = Mapping[str, Sequence[str]]  # as in reporters.py, which registers this format

STAGES: tuple[tuple[str, str], ...] = (
    ("aifab.pipeline", "cli"),
    ("aifab.load", "load"),
    ("aifab.validate", "schema"),
    ("aifab.verify", "verify"),
    ("aifab.generate", "generate"),
    ("aifab.deploy.stack_config", "generate"),
    ("aifab.live", "live"),
    ("aifab.fleet.compose", "fleet"),
    ("aifab.suppress", "cli"),
    ("aifab.admit", "admit"),
    ("aifab.scaffold", "cli"),
)
"""Modules whose `CODES` are findings of a stage; rule and policy modules are found by their
packages."""

WARNING_CODES = frozenset({
    "AF010", "AF011", "AF320", "AF332", "AF333", "AF334", "AF335", "AF342", "AF345", "AF352",
    "AF354", "AF355", "AF357", "AF358", "AF360", "AF361", "AF365", "AF378", "AF379", "AF382",
    "AF385", "AF387", "AF389", "AF407", "AF408", "AF411", "AF616", "AF705",
})
"""Codes reported as warnings (their rule's default level). A code that can be either is an
error here; each result still carries its own level, which is what `--strict` changes."""


@dataclass(frozen=True, slots=True)
class RuleInfo:
    code: str
    title: str
    stage: str
    origin: str  # the module that defines the code
    summary: str  # one line: what the module checks
    doc: str  # the module docstring: why, and the sources of its facts


def sarif(findings: Sequence[Finding], sources: SourceLines, files: int, *,
          root: FsPath | None = None) -> str:
    """The SARIF log of one aifab run (same signature as the reporters in reporters.py)."""
    base = (root or FsPath.cwd()).resolve()
    catalog = dict(rule_catalog())
    for f in findings:  # a code no CODES table declares still gets a rule, so the log is valid
        catalog.setdefault(f.code, RuleInfo(f.code, f.code, "unknown", "aifab", "", ""))
    codes = sorted(catalog)
    index = {code: i for i, code in enumerate(codes)}
    results = sorted((_result(f, base, index) for f in findings), key=_result_order)
    _fingerprint(results)
    driver: dict = {
        "name": "aifab",
        "version": __version__,
        "semanticVersion": __version__,
    }
    if uri := information_uri():
        driver["informationUri"] = uri
    driver["rules"] = [_rule(catalog[code]) for code in codes]
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": driver},
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": {"blueprints": files},
        }],
    }
    return json_safe(json.dumps(log, indent=2, ensure_ascii=False))


@cache
def rule_catalog() -> tuple[tuple[str, RuleInfo], ...]:
    """Every code aifab can report, with its title and the docstring of the module behind it."""
    from aifab.check import rules as check_rules

    found: list[tuple[str, RuleInfo]] = []
    for name, stage in STAGES:
        found += _codes(importlib.import_module(name), stage)
    for rule in check_rules():
        module = importlib.import_module(f"aifab.check.{rule.name}")
        doc = _doc(module)
        found += [(code, RuleInfo(code, title, "rules", module.__name__, rule.summary, doc))
                  for code, title in rule.codes.items()]
    for module in _policies():
        found += _codes(module, "verify")
    for module in _fleet_rules():
        found += _codes(module, "fleet")
    return tuple(sorted(found, key=lambda item: item[0]))


def _policies() -> tuple[ModuleType, ...]:
    from aifab.verify.policies import modules

    return modules()


def _fleet_rules() -> tuple[ModuleType, ...]:
    from aifab.fleet.rules import rules

    return rules()


def _codes(module: ModuleType, stage: str) -> Iterator[tuple[str, RuleInfo]]:
    doc = _doc(module)
    summary = doc.splitlines()[0] if doc else ""
    for code, title in module.CODES.items():
        yield code, RuleInfo(code, title, stage, module.__name__, summary, doc)


def _doc(module: ModuleType) -> str:
    from inspect import cleandoc

    return cleandoc(module.__doc__ or "")


@cache
def information_uri() -> str:
    """The project's home page from the package metadata ([project.urls]), or '' when unset."""
    try:
        urls = metadata.metadata("aifab").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return ""
    for entry in sorted(urls):
        _, _, url = entry.partition(",")
        url = url.strip()
        if urlsplit(url).scheme in ("http", "https"):
            return url
    return ""


def _rule(info: RuleInfo) -> dict:
    rule: dict = {
        "id": info.code,
        "name": _identifier(info.title),
        "shortDescription": {"text": info.title},
    }
    if info.summary:
        rule["fullDescription"] = {"text": info.summary}
    if info.doc:
        rule["help"] = {
            "text": f"{info.code}: {info.title}\n\n{info.doc}",
            "markdown": f"**{info.code}** {_markdown(info.title)}\n\n{_markdown(info.doc)}\n\n"
                        f"Reported by `{info.origin}`.",
        }
    rule["defaultConfiguration"] = {"level": "warning" if info.code in WARNING_CODES else "error"}
    rule["properties"] = {"tags": sorted({"aifab", info.stage})}
    return rule


def _identifier(title: str) -> str:
    """`MIG config not defined for the pool's GPU` -> `MIGConfigNotDefinedForThePoolsGPU`."""
    words = re.findall(r"[A-Za-z0-9]+", title.replace("'", ""))
    return "".join(w[:1].upper() + w[1:] for w in words)


def _markdown(text: str) -> str:
    """Docstrings are plain text with `code`: escape markup characters outside code spans."""
    parts = re.split(r"(`[^`\n]*`)", text)
    return "".join(part if i % 2 else re.sub(r"([\\*_<>\[\]#|])", r"\\\1", part)
                   for i, part in enumerate(parts))


def _result(f: Finding, base: FsPath, index: dict[str, int]) -> dict:
    message = (f.message + (f" ({f.json_path})" if f.path else "")
               + (f". Hint: {f.hint}" if f.hint else ""))
    physical: dict = {"artifactLocation": _artifact(f.file, base)}
    if f.line >= 1:
        physical["region"] = {"startLine": f.line, "startColumn": max(f.col, 1)}
    result = {
        "ruleId": f.code,
        "ruleIndex": index[f.code],
        "level": "error" if f.severity is Severity.ERROR else "warning",
        "message": {"text": message},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {},
        "properties": {"jsonPath": f.json_path},
    }
    if f.suppressed:  # accepted in the blueprint (`# aifab: ignore`): SARIF 2.1.0 §3.35
        result["suppressions"] = [{"kind": "inSource", "justification": f.suppressed}]
    return result


def _artifact(file: str, base: FsPath) -> dict:
    """A URI relative to `base` (under %SRCROOT%), or an absolute file: URI outside it."""
    path = FsPath(file)
    absolute = path if path.is_absolute() else base / path
    try:
        relative = absolute.resolve().relative_to(base)
    except ValueError:
        return {"uri": absolute.resolve().as_uri()}
    return {"uri": quote(relative.as_posix(), safe="/"), "uriBaseId": SRCROOT}


def _location(result: dict) -> tuple[str, int, int]:
    physical = result["locations"][0]["physicalLocation"]
    region = physical.get("region", {})
    uri = physical["artifactLocation"]["uri"]
    return uri, region.get("startLine", 0), region.get("startColumn", 0)


def _result_order(result: dict) -> tuple:
    return (*_location(result), result["ruleId"], result["message"]["text"])


def _fingerprint(results: list[dict]) -> None:
    """sha256 of code, file and JSON path; repeats of that triple are numbered in output order."""
    seen: Counter[tuple[str, str, str]] = Counter()
    for result in results:
        key = (result["ruleId"], _location(result)[0], result["properties"]["jsonPath"])
        digest = hashlib.sha256("\0".join((*key, str(seen[key]))).encode()).hexdigest()
        seen[key] += 1
        result["partialFingerprints"] = {FINGERPRINT: digest}
