"""`aifab admit` output: a table for people, JSON for tools; every string from the files is
escaped for terminals (escape.printable) or written with JSON escapes (escape.json_safe)."""

from __future__ import annotations

import json
from typing import Any

from aifab.admit import Report, Verdict
from aifab.diagnostics import Finding
from aifab.escape import json_safe, printable


def _object(verdict: Verdict) -> str:
    obj = verdict.obj
    if not obj.kind:
        return "(not an object)"
    where = f"{obj.namespace}/" if obj.namespace else ""
    return f"{obj.kind} {where}{obj.name}"


def text(report: Report) -> str:
    lines = []
    for p in report.problems:
        lines += f"{p.file}:{p.line}:{p.col}: {p.code} {p.message}".splitlines()
        lines += [f"    hint: {p.hint}"] if p.hint else []
    rows = [(f"{v.obj.file}:{v.obj.line}", _object(v), "ADMITTED" if v.admitted else "REFUSED")
            for v in report.verdicts]
    if rows:
        widths = [max(len(r[i]) for r in rows) for i in range(2)]
        lines.append(f"cluster {report.cluster}")
    for verdict, row in zip(report.verdicts, rows, strict=True):
        lines.append(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}")
        for reason in verdict.reasons:
            lines.append(f"    {reason.code} {reason.severity.value} line {reason.line}, "
                         f"{reason.json_path}: {reason.message}")
            if reason.hint:
                lines.append(f"      hint: {reason.hint}")
    refused = sum(not v.admitted for v in report.verdicts)
    lines.append(f"{len(report.verdicts) - refused} admitted, {refused} refused")
    return "\n".join(printable(line) for line in lines) + "\n"


def _finding(f: Finding) -> dict[str, Any]:
    return {"code": f.code, "severity": f.severity.value, "file": f.file, "line": f.line,
            "col": f.col, "path": f.json_path, "message": f.message, "hint": f.hint}


def as_json(report: Report) -> str:
    data = {
        "cluster": report.cluster,
        "problems": [_finding(p) for p in report.problems],
        "objects": [{"file": v.obj.file, "line": v.obj.line, "apiVersion": _field(v, "apiVersion"),
                     "kind": v.obj.kind, "namespace": v.obj.namespace, "name": v.obj.name,
                     "admitted": v.admitted, "reasons": [_finding(r) for r in v.reasons]}
                    for v in report.verdicts],
    }
    return json_safe(json.dumps(data, indent=2, ensure_ascii=False)) + "\n"


def _field(verdict: Verdict, key: str) -> str:
    data = verdict.obj.data
    return str(data.get(key, "")) if isinstance(data, dict) else ""
