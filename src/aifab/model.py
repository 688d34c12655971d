"""The resolved cluster: frozen dataclasses, defaults applied, catalog entries attached.

Every entity keeps the JSON path it came from, so rules can report findings at the right line
without knowing anything about YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aifab.catalog import Catalog, System
from aifab.diagnostics import Finding, Path


@dataclass(frozen=True, slots=True)
class Site:
    name: str
    country: str
    power_budget_kw: float
    cooling: str
    rack_power_limit_kw: float | None


@dataclass(frozen=True, slots=True)
class Sovereignty:
    residency: str | None
    air_gapped: bool
    registry_mirror: str | None
    chart_mirror: str | None
    package_repositories: Mapping[str, str]  # file name -> content, for driver containers


@dataclass(frozen=True, slots=True)
class Kubernetes:
    version: str
    dns_namespace: str
    dns_pod_labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class GpuOperator:
    version: str
    driver_version: str
    kernel_module_type: str
    gpu_direct_rdma: str
    gds: bool
    cdi: bool
    dcgm_exporter: bool
    service_monitor: bool
    prometheus_operator: str  # "deploy" | "site": who runs the operator a ServiceMonitor needs
    mig_strategy: str | None  # as written; None means "derive it"


@dataclass(frozen=True, slots=True)
class NetworkOperator:
    version: str
    deploy_ofed: bool


@dataclass(frozen=True, slots=True)
class PriorityClass:
    name: str
    value: int
    description: str


@dataclass(frozen=True, slots=True)
class Kueue:
    version: str
    cohort: str
    fair_sharing: bool
    priority_classes: tuple[PriorityClass, ...]


@dataclass(frozen=True, slots=True)
class Fabric:
    technology: str
    link_gbps: int
    subnet: str
    partition_key: str | None


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True, slots=True)
class Sharing:
    kind: str  # "timeSlicing" | "mps"
    replicas: int


@dataclass(frozen=True, slots=True)
class NodePool:
    path: Path
    name: str
    system: System
    racks: int | None  # as written
    nodes: int | None  # as written
    hostnames: str | None
    node_selector: Mapping[str, str]
    compute_domains: bool
    mig_config: str | None
    sharing: Sharing | None
    driver_version: str  # the pool's override, else the cluster's
    driver_overridden: bool
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]

    @property
    def node_count(self) -> int:
        """Nodes (NVL72: compute trays) in the pool; racks are converted with the catalog."""
        if self.racks is not None and self.system.nodes_per_rack:
            return self.racks * self.system.nodes_per_rack
        return self.nodes or 0

    @property
    def gpus(self) -> int:
        return self.node_count * self.system.gpus_per_node

    @property
    def rack_count(self) -> int | None:
        per_rack = self.system.nodes_per_rack
        return -(-self.node_count // per_rack) if per_rack else None

    @property
    def power_kw(self) -> float:
        return self.system.power_kw(self.node_count)

    @property
    def mig_profiles(self) -> Mapping[str, int]:
        """Profile -> instances per GPU of the pool's MIG config ({} without MIG)."""
        if self.mig_config is None:
            return {}
        return self.system.gpu.mig_configs.get(self.mig_config, {})

    @property
    def uses_mig(self) -> bool:
        """True when the pool's (valid) MIG config creates MIG devices (not all-disabled)."""
        return bool(self.mig_profiles)


@dataclass(frozen=True, slots=True)
class StorageClass:
    path: Path
    name: str
    backend: str
    capacity_tib: float | None
    default: bool
    reclaim_policy: str
    parameters: Mapping[str, str]
    mount_options: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PeerRule:
    """Peers a tenant's pods exchange traffic with (spec.tenants[].network.ingress/egress[])."""

    path: Path
    namespaces: tuple[str, ...]  # ingress only
    cidrs: tuple[str, ...]
    ports: tuple[int, ...]
    protocol: str


@dataclass(frozen=True, slots=True)
class Tenant:
    path: Path
    name: str
    description: str
    quota: Mapping[str, int]
    borrowing_limit: Mapping[str, int]
    groups: tuple[str, ...]
    ingress: tuple[PeerRule, ...] = ()
    egress: tuple[PeerRule, ...] = ()


@dataclass(frozen=True, slots=True)
class Cluster:
    source: str
    name: str
    description: str
    labels: Mapping[str, str]
    site: Site
    sovereignty: Sovereignty
    kubernetes: Kubernetes
    gpu_operator: GpuOperator
    network_operator: NetworkOperator | None
    kueue: Kueue | None
    fabric: Fabric | None
    node_pools: tuple[NodePool, ...]
    storage: tuple[StorageClass, ...]
    tenants: tuple[Tenant, ...]
    catalog: Catalog
    warnings: tuple[Finding, ...] = ()  # what the rules said, for the review summary
    def pool(self, name: str) -> NodePool | None:
        return next((p for p in self.node_pools if p.name == name), None)

    @property
    def gpus(self) -> int:
        return sum(p.gpus for p in self.node_pools)

    @property
    def power_kw(self) -> float:
        return sum(p.power_kw for p in self.node_pools)

    @property
    def needed_mig_strategy(self) -> str:
        """What the pools need: `mixed` when a config mixes profile types (all-balanced),
        `single` when pools use MIG with one profile each, else `none`."""
        mig = [pool for pool in self.node_pools if pool.uses_mig]
        if any(len(pool.mig_profiles) > 1 for pool in mig):
            return "mixed"
        return "single" if mig else "none"

    @property
    def mig_strategy(self) -> str:
        """The device plugin's MIG strategy: the blueprint's when written, else the needed one."""
        return self.gpu_operator.mig_strategy or self.needed_mig_strategy
