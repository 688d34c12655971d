"""Rendering a diff for a reader: Markdown (a pull-request comment), text, or JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aifab.diff.compare import ClusterDiff, Row, cell, signed
from aifab.diff.fields import FieldChange
from aifab.diff.gitref import Base
from aifab.diff.sides import Side
from aifab.escape import printable
from aifab.terminal import paint

WORKING_TREE = "working tree"
MAX_LISTED = 100  # objects listed per kind and change, so a PR comment stays readable
MAX_FINDINGS = 5  # findings shown per invalid side


def _delta(row: Row) -> str:
    text = signed(row.delta)
    return f"{text} pt" if row.metric.endswith("%") and text else text


def _findings(side: Side) -> list[str]:
    errors = [f for f in side.findings if f.is_error]
    lines = [f"{f.file}:{f.line}:{f.col}: {f.code} {f.message}"
             + (f" (hint: {f.hint})" if f.hint else "") for f in errors[:MAX_FINDINGS]]
    if len(errors) > MAX_FINDINGS:
        lines.append(f"... and {len(errors) - MAX_FINDINGS} more errors")
    return lines


def _side_problems(diff: ClusterDiff, base_label: str) -> list[tuple[str, list[str]]]:
    out = []
    for where, side in ((base_label, diff.before), (WORKING_TREE, diff.after)):
        if side is not None and not side.valid:
            out.append((f"does not validate at {where}", _findings(side)))
    return out


def _summary(diffs: Sequence[ClusterDiff]) -> str:
    counts: dict[str, int] = {}
    for d in diffs:
        counts[d.status] = counts.get(d.status, 0) + 1
    return ", ".join(f"{counts[s]} {s}" for s in ("added", "removed", "changed", "invalid",
                                                  "unchanged") if counts.get(s))


def markdown(diffs: Sequence[ClusterDiff], base: Base) -> str:
    out = [f"## aifab diff: `{base.label}` (`{base.commit[:12]}`) → working tree", ""]
    shown = [d for d in diffs if d.status != "unchanged"]
    if not shown:
        out.append(f"No cluster changes between `{base.label}` and the working tree"
                   + (f" ({_summary(diffs)})." if diffs else "."))
        return "\n".join(out)
    out += [f"{_summary(diffs)}.", ""]
    for d in shown:
        out += [f"### {d.name} ({d.status})", "", f"`{d.file}`", ""]
        for title, lines in _side_problems(d, base.label):
            out += [f"**{title}:**", "", "```", *lines, "```", ""]
        if d.rows:
            out += ["| | before | after | change |", "|---|---:|---:|---:|"]
            out += [f"| {r.label} | {cell(r.before)} | {cell(r.after)} | {_delta(r)} |"
                    for r in d.rows]
            out.append("")
        if d.tenants:
            out += ["**Tenants**", "", *[f"- {line}" for line in d.tenants], ""]
        if d.versions:
            out += ["**Versions**", ""]
            out += [f"- {what}: `{cell(a)}` → `{cell(b)}`" for what, a, b in d.versions]
            out.append("")
        if d.objects:
            out += [f"**Generated objects**: {_object_summary(d.objects)}", "",
                    "| kind | added | removed | changed |", "|---|---:|---:|---:|"]
            out += [f"| {kind} | {len(c['added'])} | {len(c['removed'])} | {len(c['changed'])} |"
                    for kind, c in d.objects.items()]
            out.append("")
            for kind, changes in d.objects.items():
                out += [f"<details><summary>{kind}</summary>", ""]
                for change, paths in changes.items():
                    for p in paths[:MAX_LISTED]:
                        out.append(f"- {change} `{p}`")
                        out += [f"  - `{line}`" for line in _field_lines(d, p)]
                    if len(paths) > MAX_LISTED:
                        out.append(f"- ... and {len(paths) - MAX_LISTED} more {change}")
                out += ["", "</details>", ""]
    out.append("_Both sides were expanded by the same aifab, so these are the blueprints' "
               "changes only._")
    return "\n".join(out)


def _object_summary(objects: Mapping[str, Mapping[str, list[str]]]) -> str:
    totals = {c: sum(len(k[c]) for k in objects.values()) for c in ("added", "removed", "changed")}
    return ", ".join(f"{n} {c}" for c, n in totals.items())


def _field_lines(diff: ClusterDiff, path: str) -> list[str]:
    """A changed object's field changes, one line each, and how many were left out (values
    come from blueprints: control and bidi characters shown escaped)."""
    changes, total = diff.fields.get(path, ([], 0))
    lines = [printable(change.line()) for change in changes]
    if total > len(changes):
        lines.append(f"... and {total - len(changes)} more fields")
    return lines


def _field_colour(line: str) -> str:
    return "added" if ": + " in line else "removed" if ": - " in line else "changed"


def text(diffs: Sequence[ClusterDiff], base: Base, *, color: bool = False) -> str:
    """The diff for a terminal; `color` paints added, removed and changed lines."""
    out = [f"aifab diff: {base.label} ({base.commit[:12]}) -> working tree"]
    shown = [d for d in diffs if d.status != "unchanged"]
    if not shown:
        out.append("no cluster changes" + (f" ({_summary(diffs)})" if diffs else ""))
        return "\n".join(out)
    out.append(_summary(diffs))
    for d in shown:
        out += ["", f"{d.name} ({d.file}): {d.status}"]
        for title, lines in _side_problems(d, base.label):
            out += [f"  {title}:", *[f"    {line}" for line in lines]]
        width = max((len(r.label) for r in d.rows), default=0)
        for r in d.rows:
            out.append(f"  {r.label:<{width}}  {cell(r.before):>8} -> {cell(r.after):<8} "
                       f"{_delta(r)}".rstrip())
        if d.tenants:
            out += ["  tenants:", *[f"    {line}" for line in d.tenants]]
        if d.versions:
            out.append("  versions:")
            out += [f"    {what}: {cell(a)} -> {cell(b)}" for what, a, b in d.versions]
        if d.objects:
            out.append(f"  generated objects: {_object_summary(d.objects)}")
            marks = {"added": "+", "removed": "-", "changed": "~"}
            for kind, changes in d.objects.items():
                counts = ", ".join(f"{len(p)} {c}" for c, p in changes.items() if p)
                out.append(f"    {kind}: {counts}")
                for change, paths in changes.items():
                    for p in paths[:MAX_LISTED]:
                        out.append(paint(f"      {marks[change]} {p}", change, color))
                        out += [paint(f"          {line}", _field_colour(line), color)
                                for line in _field_lines(d, p)]
                    if len(paths) > MAX_LISTED:
                        out.append(f"      ... and {len(paths) - MAX_LISTED} more {change}")
    return "\n".join(out)


def as_json(diffs: Sequence[ClusterDiff], base: Base) -> str:
    def side(s: Side | None) -> dict[str, Any] | None:
        if s is None:
            return None
        return {"file": s.file, "valid": s.valid, "errors": [
            {"file": f.file, "line": f.line, "column": f.col, "code": f.code,
             "message": f.message, "path": f.json_path, "hint": f.hint}
            for f in s.findings if f.is_error]}

    return json.dumps({
        "base": {"ref": base.label, "commit": base.commit},
        "clusters": [{
            "name": d.name,
            "kind": d.kind,
            "status": d.status,
            "before": side(d.before),
            "after": side(d.after),
            "numbers": [{"scope": r.scope, "metric": r.metric, "before": r.before,
                         "after": r.after, "delta": r.delta} for r in d.rows],
            "tenants": d.tenants,
            "versions": [{"name": what, "before": a, "after": b} for what, a, b in d.versions],
            "objects": d.objects,
            "fields": {path: {"changes": [_field_json(c) for c in changes], "total": total}
                       for path, (changes, total) in d.fields.items()},
        } for d in diffs],
        "summary": {s: sum(d.status == s for d in diffs)
                    for s in ("added", "removed", "changed", "invalid", "unchanged")},
    }, indent=2)


def _field_json(change: FieldChange) -> dict[str, Any]:
    return {"path": change.path, "change": change.change, "before": change.before,
            "after": change.after}


FORMATS = {"markdown": markdown, "text": text, "json": as_json}
