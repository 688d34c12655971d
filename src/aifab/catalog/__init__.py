"""The hardware/software catalog: GPUs, systems and software compatibility, every value sourced.

The data lives in the YAML files beside this module (sources, gpus, systems, compatibility) so
that facts can be reviewed and updated without touching code; this module loads them into
frozen, typed objects.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

__all__ = [
    "Catalog",
    "Fact",
    "FabricDesign",
    "Gpu",
    "MigProfile",
    "OperatorRelease",
    "Source",
    "System",
    "load_catalog",
    "version_tuple",
]

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CONFIDENCES = ("verified", "unverified")
_FACT_KEYS = {"value", "source", "confidence", "note"}
_VERSION_RE = re.compile(r"v?(\d+(?:\.\d+)*)")


@dataclass(frozen=True, slots=True)
class Source:
    """Where facts come from; `url` is None for supplier-specific values (key S)."""

    key: str
    title: str
    url: str | None


@dataclass(frozen=True, slots=True)
class Fact:
    """One catalog value with its source key, so every number can be traced."""

    value: Any
    source: str
    confidence: str = "verified"
    note: str = ""

    @property
    def verified(self) -> bool:
        return self.confidence == "verified"


@dataclass(frozen=True, slots=True)
class MigProfile:
    """A MIG profile of one GPU model (profile names differ between models)."""

    name: str
    max_instances: int
    memory_gb: int


@dataclass(frozen=True, slots=True)
class Gpu:
    """A GPU model, identified the way the operator stack sees it (PCI id, GFD label)."""

    id: str
    name: str
    device_id: str
    device_filter: str
    gfd_product: str
    memory_gb: int
    grace: bool
    min_driver: str
    min_driver_mig: str
    min_gpu_operator: str
    min_gpu_operator_mig: str
    mig_profiles: Mapping[str, MigProfile]
    mig_configs: Mapping[str, Mapping[str, int]]
    facts: Mapping[str, Fact]


@dataclass(frozen=True, slots=True, order=True)
class FabricDesign:
    """A row of a DGX SuperPOD RA's compute-fabric table: switches for `sus` scalable units."""

    sus: int
    leaf: int
    spine: int
    core: int  # 0: two tiers


@dataclass(frozen=True, slots=True)
class System:
    """A server (form "node") or an NVL72 rack (form "nvl-rack", whose trays are nodes)."""

    id: str
    name: str
    gpu: Gpu
    form: str
    gpus_per_node: int
    nodes_per_rack: int | None
    nodes_per_nvlink_domain: int
    power_kw_per_node: float | None
    power_kw_per_rack: float | None
    cooling: str
    compute_nics: int
    compute_nic_gbps: int | None
    compute_nic_model: str | None
    su_nodes: int | None
    su_racks: int | None
    cpu_architecture: str  # kubernetes.io/arch: amd64 | arm64
    fabric_designs: tuple[FabricDesign, ...]  # the RA's table, by SUs; () where it has none
    fabric_designs_xdr: tuple[FabricDesign, ...]  # DGX B300: the XDR variant's table
    placeholders: frozenset[str]
    facts: Mapping[str, Fact]

    @property
    def is_nvl_rack(self) -> bool:
        return self.form == "nvl-rack"

    def su_nodes_for(self, designs_key: str) -> int | None:
        """Nodes per SU of a fabricDesigns table (DGX B300: the XDR table has its own SU)."""
        if designs_key.endswith("Xdr"):
            xdr = self.facts.get("suNodesXdr")
            return int(xdr.value) if xdr else None
        return self.su_nodes

    @property
    def gpus_per_rack(self) -> int | None:
        if self.nodes_per_rack is None:
            return None
        return self.gpus_per_node * self.nodes_per_rack

    def power_kw(self, nodes: int) -> float:
        """Power of `nodes` nodes; rack-powered systems (NVL72) round up to whole racks."""
        if nodes < 0:
            raise ValueError(f"{self.id}: node count must be >= 0, got {nodes}")
        if self.power_kw_per_rack is not None and self.nodes_per_rack:
            return math.ceil(nodes / self.nodes_per_rack) * self.power_kw_per_rack
        if self.power_kw_per_node is not None:
            return nodes * self.power_kw_per_node
        raise ValueError(f"{self.id}: the catalog has no power value")


@dataclass(frozen=True, slots=True)
class OperatorRelease:
    """A GPU Operator release and what it supports (Kubernetes minors are inclusive)."""

    version: str
    kubernetes_min: str
    kubernetes_max: str
    default_driver: str | None
    new_gpus: tuple[str, ...]
    drivers: tuple[str, ...] = ()  # the release's component matrix
    source: str = "R1"
    confidence: str = "verified"
    note: str = ""

    def supports_kubernetes(self, version: str) -> bool:
        """Compare on major.minor only, so "1.34.2" is inside "1.33".."1.36"."""
        low, high = version_tuple(self.kubernetes_min)[:2], version_tuple(self.kubernetes_max)[:2]
        return low <= version_tuple(version)[:2] <= high


@dataclass(frozen=True, slots=True)
class StorageBackend:
    """The CSI driver behind a storage backend (storage.yaml)."""

    name: str
    driver: str
    provisioner: str
    parameters: Mapping[str, str]
    required: tuple[str, ...]
    volume_binding_mode: str
    allow_volume_expansion: bool
    source: str
    note: str


@dataclass(frozen=True, slots=True)
class Catalog:
    """Everything the validator needs to know about hardware and software, read-only."""

    version: str
    sources: Mapping[str, Source]
    gpus: Mapping[str, Gpu]
    systems: Mapping[str, System]
    gpu_operator_releases: Mapping[str, OperatorRelease]
    network_operator_versions: tuple[str, ...]
    doca_drivers: Mapping[str, str]  # Network Operator release -> DOCA-OFED driver version
    kueue_versions: tuple[str, ...]
    features: Mapping[str, Any]
    charts: Mapping[str, Any]
    storage_backends: Mapping[str, StorageBackend]


def version_tuple(text: str) -> tuple[int, ...]:
    """Numeric version for comparisons: "v26.3.0" -> (26, 3, 0), "1.34" -> (1, 34)."""
    match = _VERSION_RE.fullmatch(str(text).strip())
    if not match:
        raise ValueError(f"not a numeric version: {text!r}")
    return tuple(int(part) for part in match.group(1).split("."))


def _freeze(obj: Any) -> Any:
    """Deep-freeze YAML data so catalog users cannot change shared, cached state."""
    if isinstance(obj, dict):
        return MappingProxyType({key: _freeze(value) for key, value in obj.items()})
    if isinstance(obj, list):
        return tuple(_freeze(item) for item in obj)
    return obj


def _read(name: str) -> dict[str, Any]:
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - the loader is a safe loader


def _check_source(key: Any, sources: Mapping[str, Source], where: str) -> str:
    if key not in sources:
        raise ValueError(f"{where}: unknown source key {key!r}")
    return key


def _check_confidence(confidence: Any, where: str) -> str:
    if confidence not in CONFIDENCES:
        raise ValueError(f"{where}: confidence must be one of {CONFIDENCES}, got {confidence!r}")
    return confidence


def _facts(raw: dict[str, Any], sources: Mapping[str, Source], where: str) -> Mapping[str, Fact]:
    facts = {}
    for key, item in raw.items():
        here = f"{where}.{key}"
        if not isinstance(item, dict) or "value" not in item or "source" not in item:
            raise ValueError(f"{here}: a fact needs 'value' and 'source'")
        if extra := set(item) - _FACT_KEYS:
            raise ValueError(f"{here}: unknown keys {sorted(extra)} (quote text with commas)")
        facts[key] = Fact(
            value=_freeze(item["value"]),
            source=_check_source(item["source"], sources, here),
            confidence=_check_confidence(item.get("confidence", "verified"), here),
            note=str(item.get("note", "")).strip(),
        )
    return MappingProxyType(facts)


def _opt(value: Any, kind: type) -> Any:
    return None if value is None else kind(value)


def _gpu(gpu_id: str, raw: dict[str, Any], sources: Mapping[str, Source]) -> Gpu:
    facts = _facts(raw, sources, f"gpus.{gpu_id}")
    v = {key: fact.value for key, fact in facts.items()}
    profiles = {
        name: MigProfile(name, int(p["maxInstances"]), int(p["memoryGB"]))
        for name, p in v["migProfiles"].items()
    }
    return Gpu(
        id=gpu_id,
        name=v["name"],
        device_id=v["deviceId"],
        device_filter=v["deviceFilter"],
        gfd_product=v["gfdProduct"],
        memory_gb=int(v["memoryGB"]),
        grace=bool(v["grace"]),
        min_driver=str(v["minDriver"]),
        min_driver_mig=str(v["minDriverMig"]),
        min_gpu_operator=str(v["minGpuOperator"]),
        min_gpu_operator_mig=str(v["minGpuOperatorMig"]),
        mig_profiles=MappingProxyType(profiles),
        mig_configs=v["migConfigs"],
        facts=facts,
    )


def _system(
    system_id: str, raw: dict[str, Any], gpus: Mapping[str, Gpu], sources: Mapping[str, Source]
) -> System:
    facts = _facts(raw, sources, f"systems.{system_id}")
    v = {key: fact.value for key, fact in facts.items()}
    if v["gpu"] not in gpus:
        raise ValueError(f"systems.{system_id}.gpu: unknown GPU {v['gpu']!r}")
    return System(
        id=system_id,
        name=v["name"],
        gpu=gpus[v["gpu"]],
        form=v["form"],
        gpus_per_node=int(v["gpusPerNode"]),
        nodes_per_rack=_opt(v["nodesPerRack"], int),
        nodes_per_nvlink_domain=int(v["nodesPerNvlinkDomain"]),
        power_kw_per_node=_opt(v["powerKWPerNode"], float),
        power_kw_per_rack=_opt(v["powerKWPerRack"], float),
        cooling=v["cooling"],
        compute_nics=int(v["computeNics"]),
        compute_nic_gbps=_opt(v["computeNicGbps"], int),
        compute_nic_model=v["computeNicModel"],
        su_nodes=_opt(v["suNodes"], int),
        su_racks=_opt(v["suRacks"], int),
        cpu_architecture=_architecture(v["cpuArchitecture"], system_id),
        fabric_designs=_designs(v.get("fabricDesigns")),
        fabric_designs_xdr=_designs(v.get("fabricDesignsXdr")),
        placeholders=frozenset(v["placeholders"]),
        facts=facts,
    )


_ARCHITECTURES = ("amd64", "arm64")


def _architecture(value: Any, system_id: str) -> str:
    if value not in _ARCHITECTURES:
        raise ValueError(f"systems.{system_id}.cpuArchitecture: one of {_ARCHITECTURES}")
    return value


def _designs(rows: Any) -> tuple[FabricDesign, ...]:
    if rows is None:
        return ()
    designs = tuple(sorted(FabricDesign(int(r["sus"]), int(r["leaf"]), int(r["spine"]),
                                        int(r["core"])) for r in rows))
    if len({d.sus for d in designs}) != len(designs):
        raise ValueError("fabricDesigns: one row per SU count")
    return designs


def _release(raw: dict[str, Any], sources: Mapping[str, Source]) -> OperatorRelease:
    where = f"gpuOperator.releases.{raw['version']}"
    return OperatorRelease(
        version=raw["version"],
        kubernetes_min=str(raw["kubernetes"]["min"]),
        kubernetes_max=str(raw["kubernetes"]["max"]),
        default_driver=_opt(raw.get("defaultDriver"), str),
        new_gpus=tuple(raw.get("newGpus") or ()),
        drivers=tuple(str(d) for d in raw.get("drivers") or ()),
        source=_check_source(raw["source"], sources, where),
        confidence=_check_confidence(raw.get("confidence", "verified"), where),
        note=str(raw.get("note", "")).strip(),
    )


@functools.cache
def load_catalog() -> Catalog:
    """Load and check the catalog once; it is immutable, so every caller can share it."""
    sources = MappingProxyType(
        {
            key: Source(key, item["title"], item.get("url"))
            for key, item in _read("sources.yaml")["sources"].items()
        }
    )
    gpus = MappingProxyType(
        {gid: _gpu(gid, raw, sources) for gid, raw in _read("gpus.yaml")["gpus"].items()}
    )
    systems = MappingProxyType(
        {
            sid: _system(sid, raw, gpus, sources)
            for sid, raw in _read("systems.yaml")["systems"].items()
        }
    )
    compat = _read("compatibility.yaml")
    releases = {}
    for raw in compat["gpuOperator"]["releases"]:
        release = _release(raw, sources)
        unknown = set(release.new_gpus) - set(gpus)
        if unknown:
            where = f"gpuOperator.releases.{release.version}"
            raise ValueError(f"{where}: unknown GPUs {sorted(unknown)}")
        releases[release.version] = release
    for section in ("features", "charts"):
        for name, item in compat[section].items():
            _check_source(item.get("source"), sources, f"{section}.{name}")
    for section in ("networkOperator", "kueue"):
        _check_source(compat[section].get("source"), sources, section)
    return Catalog(
        version=str(compat["catalogVersion"]),
        sources=sources,
        gpus=gpus,
        systems=systems,
        gpu_operator_releases=MappingProxyType(releases),
        network_operator_versions=tuple(compat["networkOperator"]["versions"]),
        doca_drivers=MappingProxyType(dict(compat["networkOperator"]["docaDriver"])),
        kueue_versions=tuple(compat["kueue"]["versions"]),
        features=_freeze(compat["features"]),
        charts=_freeze(compat["charts"]),
        storage_backends=_storage_backends(_read("storage.yaml")["backends"]),
    )


_BINDING_MODES = ("Immediate", "WaitForFirstConsumer")


def _storage_backends(raw: Mapping[str, Any]) -> Mapping[str, StorageBackend]:
    table: dict[str, StorageBackend] = {}
    for name, entry in raw.items():
        parameters = entry.get("parameters") or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in parameters.items()):
            raise ValueError(f"storage backend {name}: parameters must map strings to strings")
        if entry["volumeBindingMode"] not in _BINDING_MODES:
            raise ValueError(f"storage backend {name}: bad volumeBindingMode")
        table[name] = StorageBackend(
            name=name,
            driver=entry["driver"],
            provisioner=entry["provisioner"],
            parameters=MappingProxyType(dict(parameters)),
            required=tuple(entry.get("required") or ()),
            volume_binding_mode=entry["volumeBindingMode"],
            allow_volume_expansion=bool(entry["allowVolumeExpansion"]),
            source=entry["source"],
            note=" ".join(entry.get("note", "").split()),
        )
    return MappingProxyType(table)
