"""Retired clusters: what a plain `aifab generate` removes once no blueprint makes a cluster.

A cluster is retired by destroying its stack (`aifab deploy --destroy --yes NAME`) and deleting
its blueprint. Its tree generated/<cluster>/ and its stack configuration
stacks/Pulumi.<cluster>.yaml are then orphans: `aifab generate` run on all of blueprints/ removes
them, and `--check` reports them. Only what aifab wrote goes, and only when the blueprint that
made it is gone or no longer makes it:

- a tree, when its aifab.lock.json is an aifab lock (a JSON object with `files`, `blueprint`
  and `source`) and the lock's blueprint file is gone or was read in this run; a folder with
  no lock, or made from a blueprint outside those given, is never removed (--check still
  reports it, for a person to decide);
- a stack configuration, when its `aifab:cluster` names its own cluster and no tree of that
  cluster stays.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from aifab.render import LOCK, Drift


@dataclass(frozen=True)
class Orphans:
    """Trees and stack configurations that no blueprint makes any more and aifab may remove."""

    trees: list[Path] = field(default_factory=list)
    stack_configs: list[Path] = field(default_factory=list)

    def drifts(self) -> list[Drift]:
        """The stack configurations, as --check reports them (the trees are reported already,
        as folders no blueprint generates: generate.check)."""
        if not self.stack_configs:
            return []
        why = "the stack configuration of a cluster no blueprint generates: `aifab generate` " \
              "removes it"
        return [Drift(self.stack_configs[0].parent, extra=[p.name for p in self.stack_configs],
                      notes={p.name: why for p in self.stack_configs})]


def orphans(out: Path, known: Iterable[str], read: Iterable[str]) -> Orphans:
    """What no blueprint makes under `out` and its project's stacks/: `known` are the clusters
    generated now, `read` the blueprint files this run read."""
    root = out.resolve().parent
    known = set(known)
    read = {Path(os.path.relpath(Path(f).resolve(), root)).as_posix() for f in read}
    trees, kept = [], set()
    for folder in sorted(out.iterdir()) if out.is_dir() else []:
        if folder.name.startswith(".") or folder.name in known or folder.is_symlink() \
                or not folder.is_dir():
            continue
        made_by = _lock_blueprints(folder / LOCK)
        if made_by and any(b in read or not (root / b).is_file() for b in made_by):
            trees.append(folder)
        else:
            kept.add(folder.name)
    stacks = out.parent / "stacks"  # where generate writes them (write_stack_configs)
    configs = []
    if (root / "Pulumi.yaml").is_file() and stacks.is_dir():
        for path in sorted(stacks.glob("Pulumi.*.yaml")):
            name = path.name[len("Pulumi."):-len(".yaml")]
            if name not in known and name not in kept and _configures(path, name):
                configs.append(path)
    return Orphans(trees, configs)


def retire(found: Orphans) -> list[str]:
    """Remove the orphans; what was removed (a folder with a trailing /). A tree is first
    renamed to a hidden name, so an interrupted removal leaves no half tree that still looks
    like a cluster."""
    removed = []
    for folder in found.trees:
        aside = folder.with_name(f".{folder.name}.aifab-retired")
        if aside.exists():
            shutil.rmtree(aside)  # what an interrupted run left
        os.rename(folder, aside)
        shutil.rmtree(aside)
        removed.append(f"{folder}/")
    for path in found.stack_configs:
        path.unlink()
        removed.append(str(path))
    return removed


def _lock_blueprints(lock: Path) -> list[str]:
    """The blueprint and source files an aifab lock names; [] when it is not one."""
    if lock.is_symlink() or not lock.is_file():
        return []
    try:
        data = json.loads(lock.read_bytes())
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return []
    named = [data.get("blueprint"), data.get("source")]
    return [n for n in named if isinstance(n, str) and n] if all(named) else []


def _configures(path: Path, cluster: str) -> bool:
    """Whether the stack file is aifab's for `cluster` (its `aifab:cluster` names it)."""
    try:
        data = yaml.safe_load(path.read_bytes())
    except (OSError, yaml.YAMLError):
        return False
    config = data.get("config") if isinstance(data, dict) else None
    return isinstance(config, dict) and config.get("aifab:cluster") == cluster
