"""The published JSON Schema on its own: valid, documented, strict, and true to the blueprints.

These tests read schemas/blueprint.schema.json directly (as editors and CI do), not through
the aifab package, so that the file keeps working without it.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bundled import CLUSTER_FILES, reference

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "schemas" / "blueprint.schema.json"
BLUEPRINTS = CLUSTER_FILES
DESIGN_BLUEPRINT = ROOT.parent / "shared" / "design" / "blueprint-example.yaml"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def subschemas(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object below `node`, with a JSON-pointer-like location.

    Descends through keywords that hold schemas and skips data (`default`, `examples`,
    `const`, `enum`), whose objects are instances, not schemas, and `if` conditions, which test
    a document (e.g. its kind) rather than describe one.
    """
    if not isinstance(node, dict):
        return
    yield where, node
    for key in ("properties", "$defs", "patternProperties"):
        for name, child in node.get(key, {}).items():
            yield from subschemas(child, f"{where}/{key}/{name}")
    for key in ("items", "additionalProperties", "propertyNames", "not", "then", "else"):
        yield from subschemas(node.get(key), f"{where}/{key}")
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        for i, child in enumerate(node.get(key, [])):
            yield from subschemas(child, f"{where}/{key}/{i}")


def test_schema_is_valid_2020_12(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://aifab.dev/schemas/blueprint.schema.json"
    assert schema.get("title") and schema.get("description")
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_file_is_canonically_formatted() -> None:
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


def test_every_property_has_a_description(schema: dict[str, Any]) -> None:
    missing = [
        f"{where}/properties/{name}"
        for where, node in subschemas(schema)
        for name, prop in node.get("properties", {}).items()
        if not (isinstance(prop, dict) and prop.get("description"))
    ]
    assert not missing, f"properties without a description: {missing}"


def test_objects_are_closed_and_maps_are_typed(schema: dict[str, Any]) -> None:
    """Objects with properties refuse unknown keys; free-form maps type their values. The
    embedded Fleet schema keeps `defaults` and inline clusters free-form: each cluster is
    validated against the Cluster schema after the merge."""
    open_objects = []
    untyped_maps = []
    for where, node in subschemas(schema):
        if where.startswith("#/$defs/fleet/"):
            continue
        if "properties" in node:
            if node.get("additionalProperties") is not False:
                open_objects.append(where)
        elif node.get("type") == "object":
            if not isinstance(node.get("additionalProperties"), dict):
                untyped_maps.append(where)
    assert not open_objects, f"objects without additionalProperties: false: {open_objects}"
    assert not untyped_maps, f"maps without a typed additionalProperties: {untyped_maps}"


def test_there_are_example_blueprints() -> None:
    assert len(BLUEPRINTS) >= 4, [p.name for p in BLUEPRINTS]


@pytest.mark.parametrize("path", BLUEPRINTS, ids=[p.name for p in BLUEPRINTS])
def test_blueprint_validates(path: Path, validator: jsonschema.Draft202012Validator) -> None:
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(load_yaml(path))]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("path", BLUEPRINTS, ids=[p.name for p in BLUEPRINTS])
def test_blueprint_names_the_schema_for_editors(path: Path) -> None:
    first_lines = path.read_text(encoding="utf-8").splitlines()[:20]
    assert any(line.startswith("# yaml-language-server: $schema=") for line in first_lines)


def test_reference_blueprint_validates(validator: jsonschema.Draft202012Validator) -> None:
    errors = [f"{e.json_path}: {e.message}"
              for e in validator.iter_errors(load_yaml(reference(DESIGN_BLUEPRINT)))]
    assert not errors, "\n".join(errors)


def test_check_jsonschema_cli_accepts_the_blueprints() -> None:
    if importlib.util.find_spec("check_jsonschema") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("check-jsonschema is not installed (pip install '.[test]')")
        pytest.skip("check-jsonschema is not installed")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--schemafile",
            str(SCHEMA_PATH),
            *map(str, BLUEPRINTS),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def minimal() -> dict[str, Any]:
    return yaml.safe_load(
        """
        apiVersion: aifab.dev/v1alpha1
        kind: Cluster
        metadata:
          name: test
        spec:
          site: {name: site-1, country: KR, powerBudgetKW: 100, cooling: air}
          kubernetes: {version: "1.34"}
          gpuOperator: {version: v26.3.0, driver: {version: "580.126.20"}}
          nodePools:
            - {name: b200, system: dgx-b200, nodes: 4}
        """
    )


def test_minimal_blueprint_validates(
    minimal: dict[str, Any], validator: jsonschema.Draft202012Validator
) -> None:
    assert list(validator.iter_errors(minimal)) == []


def _parent(doc: Any, path: str) -> tuple[Any, str | int]:
    """The container holding the last key of a dotted path (digits index lists)."""
    *parents, last = (int(k) if k.isdigit() else k for k in path.split("."))
    for key in parents:
        doc = doc[key]
    return doc, last


@pytest.mark.parametrize(
    ("change", "path", "value", "expected"),
    [
        ("set", "spec.site.altitude", 12, "Additional properties are not allowed"),
        ("delete", "metadata.name", None, "'name' is a required property"),
        ("set", "metadata.name", "Gwangju", "does not match"),
        ("set", "metadata.name", "a" * 41, "is too long"),
        ("set", "spec.kubernetes.version", 1.34, "is not of type 'string'"),
        ("set", "spec.site.country", False, "is not of type 'string'"),  # YAML 1.1 `NO`
        ("set", "spec.site.cooling", "immersion", "is not one of"),
        ("set", "spec.gpuOperator.version", "26.3.0", "does not match"),
        ("set", "spec.nodePools.0.system", "dgx-h100", "is not one of"),
        ("set", "spec.nodePools.0.hostnames", "n-{host}", "does not match"),
        ("set", "spec.nodePools.0.labels", {"bad key!": "x"}, "does not match"),
        ("set", "spec.nodePools.0.sharing", {}, "should be non-empty"),
        (
            "set",
            "spec.nodePools.0.sharing",
            {"timeSlicing": {"replicas": 2}, "mps": {"replicas": 2}},
            "has too many properties",
        ),
        ("set", "spec.nodePools.0.sharing", {"mps": {"replicas": 1}}, "less than the minimum"),
        ("set", "spec.nodePools", [], "should be non-empty"),
        ("set", "spec.tenants", [{"name": "t", "quota": {"b200": -1}}], "less than the minimum"),
        ("set", "spec.sovereignty", {"registryMirror": "https://r.example"}, "does not match"),
    ],
)
def test_invalid_blueprints_are_refused(
    minimal: dict[str, Any],
    validator: jsonschema.Draft202012Validator,
    change: str,
    path: str,
    value: Any,
    expected: str,
) -> None:
    doc = copy.deepcopy(minimal)
    parent, key = _parent(doc, path)
    if change == "set":
        parent[key] = value
    else:
        del parent[key]
    messages = [e.message for e in validator.iter_errors(doc)]
    assert messages, f"{path} = {value!r} was accepted"
    assert any(expected in m for m in messages), messages


# -- one published schema for every blueprint file; fleet members ---------------------------------

MEMBER_SCHEMA = ROOT / "schemas" / "fleet-member.schema.json"
FLEETS = sorted(p for p in (ROOT / "blueprints").glob("*.yaml")
                if load_yaml(p).get("kind") == "Fleet")
MEMBERS = sorted((ROOT / "blueprints").glob("*/*.yaml"))


def test_the_derived_schema_files_are_current() -> None:
    from aifab import schema as schemas
    for name, text in schemas.derived().items():
        assert (ROOT / "schemas" / name).read_text(encoding="utf-8") == text, (
            f"schemas/{name} is stale: run `python -m aifab.schema`")


def test_the_published_schema_accepts_fleets_and_refuses_their_mistakes(
        validator: jsonschema.Draft202012Validator) -> None:
    assert FLEETS
    for path in FLEETS:
        doc = load_yaml(path)
        assert list(validator.iter_errors(doc)) == []
        doc["spec"]["bogus"] = 1
        assert [e.message for e in validator.iter_errors(doc)] == [
            "Additional properties are not allowed ('bogus' was unexpected)"]


def test_fleet_members_meet_the_member_schema_only() -> None:
    member = jsonschema.Draft202012Validator(json.loads(MEMBER_SCHEMA.read_text(encoding="utf-8")))
    cluster = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    assert MEMBERS
    incomplete = 0
    for path in MEMBERS:
        doc = load_yaml(path)
        assert list(member.iter_errors(doc)) == [], path
        incomplete += bool(list(cluster.iter_errors(doc)))  # the fleet's defaults complete them
        doc["spec"]["nodePools"] = [{"name": "x"}]  # list items keep their required keys
        assert any("required" in e.message for e in member.iter_errors(doc)), path
    assert incomplete


def test_check_jsonschema_cli_accepts_fleets_and_members() -> None:
    if importlib.util.find_spec("check_jsonschema") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("check-jsonschema is not installed (pip install '.[test]')")
        pytest.skip("check-jsonschema is not installed")
    for schema_file, files in ((SCHEMA_PATH, FLEETS), (MEMBER_SCHEMA, MEMBERS)):
        result = subprocess.run(
            [sys.executable, "-m", "check_jsonschema", "--schemafile", str(schema_file),
             *map(str, files)],
            capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kind", ["Cluster", "Fleet", "FleetMember", None])
def test_aifab_schema_prints_each_kind(kind: str | None, capsys) -> None:
    from aifab.cli import main
    from aifab.schema import document
    assert main(["schema", *(["--kind", kind] if kind else [])]) == 0
    assert json.loads(capsys.readouterr().out) == document(kind)
