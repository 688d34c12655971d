"""What tests share: the bundled blueprints by kind (most tests run on the standalone
clusters; the national fleet has tests of its own), the reference data, resolved clusters."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from aifab.expand.flux import ChartRelease, is_release, is_source, read_release, source_key
from aifab.model import Cluster
from aifab.pipeline import run

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINTS = ROOT / "blueprints"


def _kind(path: Path) -> str:
    return yaml.safe_load(path.read_text(encoding="utf-8")).get("kind", "")


ALL_FILES = sorted(BLUEPRINTS.glob("*.yaml"))
CLUSTER_FILES = [p for p in ALL_FILES if _kind(p) == "Cluster"]
FLEET_FILES = [p for p in ALL_FILES if _kind(p) == "Fleet"]

REFERENCE = ROOT.parent / "shared" / "reference"

FLEET_FIXTURE = ROOT / "tests" / "fixtures" / "fleet"  # a-gb200 in its own file, a-b200 inline
RULE_FIXTURES = ROOT / "tests" / "fixtures" / "rules"  # <rule>/{pass,fail}-*.yaml
EXPECT = re.compile(r"#\s*expect:\s*((?:AF\d{3}[ ,]*)+)")


def fleet_copy(tmp_path: Path) -> Path:
    """A copy of the fixture fleet inside its own repository (a .git folder marks the root);
    the fleet file."""
    repo = tmp_path / "repo"
    shutil.copytree(FLEET_FIXTURE, repo / "fleet")
    (repo / ".git").mkdir()
    return repo / "fleet" / "fleet.yaml"


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in the file by `new`; `old` must be there."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def expected_findings(path: Path) -> set[tuple[int, str]]:
    """(line, code) of every `# expect: AFnnn[, AFnnn]` comment of a rule fixture."""
    expected = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if m := EXPECT.search(line):
            expected |= {(number, code) for code in re.findall(r"AF\d{3}", m[1])}
    return expected


def assert_fixtures_cover(kind: str, name: str, folder: Path, codes: Iterable[str]) -> None:
    """The meta-test of a family of rules (checks, policies): `folder` holds passing fixtures
    and failing ones whose `# expect:` lines name every code of rule `name`."""
    assert sorted(folder.glob("pass-*.yaml")), f"{kind} {name} has no passing fixture in {folder}"
    failing = sorted(folder.glob("fail-*.yaml"))
    assert failing, f"{kind} {name} has no failing fixture in {folder}"
    expected = {code for f in failing for _, code in expected_findings(f)}
    missing = set(codes) - expected
    assert not missing, f"codes of {name} without a failing fixture: {missing}"


def reference(path: Path = REFERENCE) -> Path:
    """A file or folder of ../shared (the reference data): fail under CI when it is missing,
    else skip with the reason printed."""
    if not path.exists():
        reason = f"reference file missing: {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        print(reason)
        pytest.skip(reason)
    return path


def cluster_of(path: Path) -> Cluster:
    """The resolved cluster of a blueprint that must be valid."""
    result = run(path)
    assert result.ok and result.cluster is not None, [
        f.message for f in result.findings if f.is_error]
    return result.cluster


def variant(tmp_path: Path, edit: Callable[[Any], None]) -> Cluster:
    """The reference blueprint with `edit(data)` applied, resolved through the pipeline."""
    data = yaml.safe_load((BLUEPRINTS / "gwangju-gb200.yaml").read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return cluster_of(path)


def chart_releases(objects: Iterable[Any]) -> list[ChartRelease]:
    """Every Flux HelmRelease among the objects of a tree, joined with its source, in order."""
    objects = list(objects)
    sources = {source_key(o): o for o in objects if is_source(o)}
    return [read_release(o, sources) for o in objects if is_release(o)]
