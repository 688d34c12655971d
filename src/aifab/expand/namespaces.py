"""Namespaces: one per operator the cluster runs, one per tenant, each with its Pod Security level.

Pod Security Admission enforces a namespace's level from its `pod-security.kubernetes.io/*`
labels (https://kubernetes.io/docs/concepts/security/pod-security-admission/).

- The namespaces of the GPU Operator (always), the Network Operator and the DRA driver are
  `privileged`: the driver containers load kernel modules, and the device plugin, DCGM, OFED
  and the IMEX daemons need hostPath, host networking and privileged containers, which only
  the Privileged profile allows. Those of Kueue, the JobSet controller and the Prometheus
  Operator are `baseline`: their controllers need no host access.
- Tenant namespaces enforce `privileged` and audit and warn at `baseline`: NCCL and RDMA pods
  add the capability IPC_LOCK (to pin memory for GPUDirect RDMA) and most NGC images run as
  root, which Restricted refuses, and Baseline refuses IPC_LOCK too (k8s.io/pod-security-
  admission v0.34.0, policy/check_capabilities_baseline.go). What enforces there instead is the
  ValidatingAdmissionPolicy `aifab-tenant-baseline` (expand/admission.py): Baseline re-stated in
  CEL with IPC_LOCK allowed, bound to the namespaces by their `aifab.dev/tenant` label. `warn`
  still shows, on `kubectl apply`, every pod Baseline would refuse (IPC_LOCK ones included).
  The levels are pinned to the blueprint's Kubernetes minor (`audit-version: v1.34`), so an
  upgrade never tightens them unannounced.
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.expand.common import (
    NS_DRA_DRIVER,
    NS_GPU_OPERATOR,
    NS_JOBSET,
    NS_KUEUE,
    NS_MONITORING,
    NS_NETWORK_OPERATOR,
    Output,
    metadata,
    obj,
)
from aifab.expand.monitoring import deploys_operator
from aifab.model import Cluster
from aifab.naming import tenant_namespace

COMPONENT = "namespaces"
PSA = "pod-security.kubernetes.io"
MODES = ("enforce", "audit", "warn")
TENANT_LABEL = "aifab.dev/tenant"


def operator_namespaces(cluster: Cluster) -> list[str]:
    """The operator namespaces this cluster needs, sorted."""
    names = {NS_GPU_OPERATOR}
    if cluster.network_operator is not None:
        names.add(NS_NETWORK_OPERATOR)
    if cluster.kueue is not None:
        names |= {NS_KUEUE, NS_JOBSET}  # multi-node jobs are JobSets (expand/jobset.py)
    if any(pool.compute_domains for pool in cluster.node_pools):
        names.add(NS_DRA_DRIVER)
    if deploys_operator(cluster):
        names.add(NS_MONITORING)
    return sorted(names)


def pod_security_version(cluster: Cluster) -> str:
    """The Pod Security Standards version for the blueprint's Kubernetes minor: "v1.34"."""
    major, minor = cluster.kubernetes.version.split(".")[:2]
    return f"v{major}.{minor}"


def pod_security_labels(level: str, version: str | None = None,
                        enforce: str | None = None) -> dict[str, str]:
    """The labels of one level for every mode (`enforce` may differ: tenants enforce
    privileged, their admission policies doing Baseline's work)."""
    labels = {f"{PSA}/{mode}": level for mode in MODES}
    if version is not None:
        labels |= {f"{PSA}/{mode}-version": version for mode in MODES}
    if enforce == "privileged":  # a version means nothing to the privileged level
        labels[f"{PSA}/enforce"] = enforce
        labels.pop(f"{PSA}/enforce-version", None)
    return labels


def _namespace(cluster: Cluster, name: str, labels: dict[str, str]) -> Output:
    return obj(COMPONENT, {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": metadata(cluster, name, labels=labels),
    })


# Where pods reach into the node (drivers, device plugins, DCGM, OFED, IMEX daemons): the
# Privileged profile. The controllers of Kueue, JobSet and the Prometheus Operator (node exporter
# stays off, monitoring.py) need no host access: Baseline.
NODE_NAMESPACES = (NS_GPU_OPERATOR, NS_NETWORK_OPERATOR, NS_DRA_DRIVER)


def expand(cluster: Cluster) -> Iterator[Output]:
    version = pod_security_version(cluster)
    for name in operator_namespaces(cluster):
        yield _namespace(cluster, name, pod_security_labels("privileged")
                         if name in NODE_NAMESPACES else pod_security_labels("baseline", version))
    for tenant in sorted(cluster.tenants, key=lambda t: t.name):
        labels = {TENANT_LABEL: tenant.name,
                  **pod_security_labels("baseline", version, enforce="privileged")}
        yield _namespace(cluster, tenant_namespace(tenant.name), labels)
