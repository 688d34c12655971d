"""The published JSON Schemas: one hand-written source per kind, the rest derived from them.

- `schemas/blueprint.schema.json` validates any blueprint file. Its `$defs.cluster` is the
  Cluster schema (hand-written); its root picks Cluster or, by `kind`, Fleet, whose schema
  (`schemas/fleet.schema.json`, hand-written) it embeds as a resource with its own `$id`, so
  editors and check-jsonschema resolve it with no network.
- `schemas/fleet-member.schema.json` validates a cluster file of a fleet, which the fleet's
  `defaults` complete (fleet/compose.py deep-merges mappings and replaces everything else): the
  Cluster schema where nothing under `spec` reached through mappings is required. List items
  keep their required keys, since a member's list replaces the defaults' whole.

`python -m aifab.schema` rewrites the derived parts; a test keeps the published files current.
"""

from __future__ import annotations

import copy
import json
import sys
from importlib import resources
from pathlib import Path as FsPath
from typing import Any

KINDS = ("Cluster", "Fleet", "FleetMember")
BASE = "https://aifab.dev/schemas/"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
FILES = {"blueprint": "blueprint.schema.json", "fleet": "fleet.schema.json",
         "member": "fleet-member.schema.json"}
_DERIVED = ("cluster", "fleet")  # $defs of blueprint.schema.json that are not shared defs


def path(name: str) -> FsPath:
    """A published schema inside an installed wheel, else the repository's copy."""
    packaged = resources.files("aifab") / "schemas" / FILES[name]
    if packaged.is_file():
        return FsPath(str(packaged))
    return FsPath(__file__).resolve().parents[2] / "schemas" / FILES[name]


def _read(name: str) -> dict[str, Any]:
    return json.loads(path(name).read_text(encoding="utf-8"))


def document(kind: str | None = None) -> dict[str, Any]:
    """The schema of one kind, or (None) the schema every blueprint file meets."""
    blueprint = _read("blueprint")
    if kind is None:
        return blueprint
    if kind == "Fleet":
        return _read("fleet")
    cluster = _cluster(blueprint)
    return member(cluster) if kind == "FleetMember" else cluster


def _cluster(blueprint: dict[str, Any]) -> dict[str, Any]:
    defs = {k: v for k, v in blueprint["$defs"].items() if k not in _DERIVED}
    return {"$schema": DIALECT, "$id": BASE + FILES["blueprint"],
            "title": "aifab Cluster", "description": blueprint["$defs"]["cluster"]["description"],
            **{k: v for k, v in blueprint["$defs"]["cluster"].items() if k != "description"},
            "$defs": defs}


def combined(blueprint: dict[str, Any], fleet: dict[str, Any]) -> dict[str, Any]:
    """blueprint.schema.json with its root and the embedded Fleet schema made anew."""
    out = {key: blueprint[key] for key in ("$schema", "$id", "title", "description")}
    out["if"] = {"properties": {"kind": {"const": "Fleet"}}, "required": ["kind"]}
    out["then"] = {"$ref": BASE + FILES["fleet"]}
    out["else"] = {"$ref": "#/$defs/cluster"}
    embedded = {k: v for k, v in fleet.items() if k != "$schema"}
    out["$defs"] = {**blueprint["$defs"], "fleet": embedded}
    return out


def member(cluster: dict[str, Any]) -> dict[str, Any]:
    """The Cluster schema with nothing under `spec` required through mappings."""
    defs = cluster["$defs"]
    out = copy.deepcopy(cluster)
    out["$id"] = BASE + FILES["member"]
    out["title"] = "aifab FleetMember"
    out["description"] = ("A cluster file of a fleet: the fleet's defaults fill in what it "
                          "leaves out, so no key under spec is required here.")
    out["properties"]["spec"] = _optional(out["properties"]["spec"], defs)
    return out


def _optional(node: Any, defs: dict[str, Any]) -> Any:
    """`node` with `required` dropped wherever a mapping can reach (refs inlined there)."""
    if not isinstance(node, dict):
        return node
    if "$ref" in node and node["$ref"].startswith("#/$defs/"):
        target = defs[node["$ref"].removeprefix("#/$defs/")]
        node = {**{k: v for k, v in node.items() if k != "$ref"}, **copy.deepcopy(target)}
    out = {k: v for k, v in node.items() if k != "required"}
    if "properties" in out:
        out["properties"] = {k: _optional(v, defs) for k, v in out["properties"].items()}
    for key in ("allOf", "anyOf", "oneOf"):
        if key in out:
            out[key] = [_optional(v, defs) for v in out[key]]
    for key in ("if", "then", "else"):
        if key in out:
            out[key] = _optional(out[key], defs)
    return out


def text(schema: dict[str, Any]) -> str:
    """The canonical file text (what the repository commits)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def derived() -> dict[str, str]:
    """File name -> text of every derived schema file, from the hand-written sources."""
    blueprint, fleet = _read("blueprint"), _read("fleet")
    return {FILES["blueprint"]: text(combined(blueprint, fleet)),
            FILES["member"]: text(member(_cluster(blueprint)))}


def main() -> int:
    """Rewrite the derived schema files of the repository (a developer's step)."""
    folder = FsPath(__file__).resolve().parents[2] / "schemas"
    for name, content in derived().items():
        (folder / name).write_text(content, encoding="utf-8")
        print(f"schemas/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
