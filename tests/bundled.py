"""The bundled blueprints by kind. Most tests run on the standalone clusters; the national
fleet (62,728 nodes, about 10 s to generate) is covered by tests of its own."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINTS = ROOT / "blueprints"


def _kind(path: Path) -> str:
    return yaml.safe_load(path.read_text(encoding="utf-8")).get("kind", "")


ALL_FILES = sorted(BLUEPRINTS.glob("*.yaml"))
CLUSTER_FILES = [p for p in ALL_FILES if _kind(p) == "Cluster"]
FLEET_FILES = [p for p in ALL_FILES if _kind(p) == "Fleet"]
