"""Tenants do not take a namespace that Kubernetes or aifab's operators use.

A tenant becomes a namespace with GPU quota, NetworkPolicies and a Role bound to its groups
(docs/blueprint.md, spec.tenants[].name); inside a system or operator namespace that would
hand the tenant's groups the operator's secrets and let quota throttle the operator.
"""

from collections.abc import Iterator

from aifab.diagnostics import Finding, finding
from aifab.model import Cluster
from aifab.naming import OPERATOR_NAMESPACES, RESERVED_PREFIXES, SYSTEM_NAMESPACES, tenant_namespace

CODES = {"AF390": "tenant namespace is reserved"}


def check(cluster: Cluster) -> Iterator[Finding]:
    for tenant in cluster.tenants:
        namespace = tenant_namespace(tenant.name)
        if why := _reserved(namespace):
            yield finding("AF390", f"tenant '{tenant.name}' would become the namespace "
                          f"'{namespace}', {why}; the tenant would get quota and RBAC inside it",
                          tenant.path + ("name",),
                          hint="rename the tenant; its name is its namespace")


def _reserved(namespace: str) -> str:
    if namespace in SYSTEM_NAMESPACES:
        return "which every Kubernetes cluster keeps for itself"
    if namespace in OPERATOR_NAMESPACES:
        return "where aifab installs an operator"
    prefix = next((p for p in RESERVED_PREFIXES if namespace.startswith(p)), None)
    return f"and names starting with '{prefix}' are reserved for the platform" if prefix else ""
