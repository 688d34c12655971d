"""Plain-text views of the catalog, so people can review the facts and where they come from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aifab.catalog import Catalog, Fact, Gpu, System

UNVERIFIED_MARK = "*"


def _fmt(value: Any) -> str:
    """One way to print values, so output is stable across runs and Python versions."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return ", ".join(_fmt(item) for item in items)
    if hasattr(value, "items"):
        return ", ".join(f"{key} x{_fmt(count)}" for key, count in value.items()) or "{}"
    return str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], indent: str = "") -> list[str]:
    rows = [header, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return [
        indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _mark(system: System, *keys: str) -> str:
    return "" if all(system.facts[key].verified for key in keys) else UNVERIFIED_MARK


def _power(system: System) -> str:
    if system.power_kw_per_rack is not None:
        return f"{system.power_kw_per_rack:g} kW/rack" + _mark(system, "powerKWPerRack")
    if system.power_kw_per_node is not None:
        return f"{system.power_kw_per_node:g} kW/node" + _mark(system, "powerKWPerNode")
    return "-"


def _nics(system: System) -> str:
    mark = _mark(system, "computeNics", "computeNicGbps", "computeNicModel")
    if not system.compute_nics:
        return "none" + mark
    return f"{system.compute_nics}x {system.compute_nic_gbps}G {system.compute_nic_model}{mark}"


def systems_table(catalog: Catalog) -> str:
    """One line per system, sorted by id; `*` marks unverified power or NIC values."""
    rows = [
        (
            s.id,
            s.name,
            str(s.gpus_per_node) + _mark(s, "gpusPerNode"),
            _fmt(s.nodes_per_rack),
            _power(s),
            s.cooling,
            s.cpu_architecture,
            _nics(s),
        )
        for s in sorted(catalog.systems.values(), key=lambda s: s.id)
    ]
    header = ("ID", "NAME", "GPUS/NODE", "NODES/RACK", "POWER", "COOLING", "ARCH",
              "COMPUTE NICS")
    lines = _table(header, rows)
    lines.append(f"{UNVERIFIED_MARK} unverified (catalog {catalog.version})")
    return "\n".join(lines) + "\n"


def _fact_rows(catalog: Catalog, facts: Mapping[str, Fact], skip: Iterable[str] = ()) -> list[str]:
    shown = [(key, fact) for key, fact in facts.items() if key not in skip]
    rows = [
        (
            key,
            _fmt(fact.value),
            fact.source,
            "" if fact.verified else "(unverified)",
            catalog.sources[fact.source].title,
        )
        for key, fact in shown
    ]
    header, *body = _table(("FACT", "VALUE", "SOURCE", "", "SOURCE TITLE"), rows, "  ")
    lines = [header]
    for line, (_, fact) in zip(body, shown, strict=True):
        lines.append(line)
        if fact.note:
            lines.append(f"      note: {fact.note}")
    return lines


def _mig(catalog: Catalog, gpu: Gpu) -> list[str]:
    profiles = _table(
        ("PROFILE", "MAX", "MEMORY"),
        [(p.name, str(p.max_instances), f"{p.memory_gb} GB") for p in gpu.mig_profiles.values()],
        "  ",
    )
    configs = []
    for name, devices in sorted(gpu.mig_configs.items()):
        if name == "all-disabled":
            shape = "MIG disabled"
        elif not devices:
            shape = "MIG enabled, no instances"
        else:
            shape = _fmt(devices)
        configs.append((name, shape))
    migp, migc = gpu.facts["migProfiles"], gpu.facts["migConfigs"]
    return [
        f"MIG profiles of {gpu.id} [{migp.source}: {catalog.sources[migp.source].title}]"
        + ("" if migp.verified else " (unverified)"),
        *profiles,
        f"Valid MIG configs of {gpu.id} [{migc.source}: {catalog.sources[migc.source].title}]",
        *_table(("CONFIG", "INSTANCES"), configs, "  "),
    ]


_DESIGNS = ("fabricDesigns", "fabricDesignsXdr")


def _designs(catalog: Catalog, system: System) -> list[str]:
    """The SuperPOD RA's compute-fabric rows, one table per variant."""
    lines: list[str] = []
    for key in (k for k in _DESIGNS if k in system.facts):
        fact, per_su = system.facts[key], system.su_nodes_for(key)
        rows = [(str(d["sus"]), str(d["sus"] * per_su) if per_su else "-", str(d["leaf"]),
                 str(d["spine"]), str(d["core"] or "-")) for d in fact.value]
        lines += [
            "",
            f"{key} of {system.id} [{fact.source}: {catalog.sources[fact.source].title}]"
            + ("" if fact.verified else " (unverified)"),
            *_table(("SU", "NODES", "LEAF", "SPINE", "CORE"), rows, "  "),
        ]
        if fact.note:
            lines.append(f"      note: {fact.note}")
    return lines


def describe_system(catalog: Catalog, system_id: str) -> str:
    """Every fact of a system and its GPU, with sources; then the GPU's MIG profiles and configs."""
    if system_id not in catalog.systems:
        raise KeyError(f"unknown system {system_id!r}; known: {', '.join(sorted(catalog.systems))}")
    system = catalog.systems[system_id]
    gpu = system.gpu
    lines = [
        f"{system.id}: {system.name} (catalog {catalog.version})",
        *_fact_rows(catalog, system.facts, skip=_DESIGNS),
        *_designs(catalog, system),
        "",
        f"GPU {gpu.id}: {gpu.name}",
        *_fact_rows(catalog, gpu.facts, skip=("migProfiles", "migConfigs")),
        "",
        *_mig(catalog, gpu),
    ]
    return "\n".join(lines) + "\n"
