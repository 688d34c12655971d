"""Every bundled blueprint file names, in a yaml-language-server modeline, the schema editors
should check it with, and that schema accepts it: Clusters the blueprint schema, Fleets the
fleet schema (or the blueprint schema, which embeds it), a fleet's cluster files the member
schema (they are complete only with the fleet's defaults)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINTS = ROOT / "blueprints"
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)


def _data(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


FLEETS = [p for p in sorted(BLUEPRINTS.glob("*.yaml")) if _data(p).get("kind") == "Fleet"]
MEMBERS = sorted({(fleet.parent / entry["file"]).resolve() for fleet in FLEETS
                  for entry in _data(fleet)["spec"]["clusters"] if "file" in entry})
FILES = sorted(set(BLUEPRINTS.rglob("*.yaml")) | set(MEMBERS))


def expected(path: Path) -> set[str]:
    if path.resolve() in MEMBERS:
        return {"fleet-member.schema.json"}
    if _data(path).get("kind") == "Fleet":
        return {"fleet.schema.json", "blueprint.schema.json"}
    return {"blueprint.schema.json"}


def test_the_fleet_has_member_files():
    assert len(MEMBERS) >= 19 and all(p.is_file() for p in MEMBERS)


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(BLUEPRINTS).as_posix() for p in FILES])
def test_the_modeline_names_the_right_schema_and_it_accepts_the_file(path):
    text = path.read_text(encoding="utf-8")
    [named] = MODELINE.findall(text)
    assert MODELINE.search("\n".join(text.splitlines()[:20])), "not in the first 20 lines"
    schema_file = (path.parent / named).resolve()
    assert schema_file.parent == ROOT / "schemas" and schema_file.name in expected(path), named
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    errors = [f"{e.json_path}: {e.message}"
              for e in jsonschema.Draft202012Validator(schema).iter_errors(_data(path))]
    assert errors == []
