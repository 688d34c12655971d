"""A tenant's groups are its people's identity-provider groups, never Kubernetes' own groups.

Each group is bound to the tenant-admin Role of the tenant's namespace (aifab.expand.tenants).
Kubernetes reserves the prefix `system:` for itself ("Referring to subjects",
https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-subjects), and its
groups are not people: `system:serviceaccounts:<ns>` is every pod of namespace <ns> (another
tenant's pods would administer this tenant), `system:authenticated` and `system:serviceaccounts`
are everyone, `system:masters` bypasses RBAC altogether. None is allowed, not even the tenant's
own `system:serviceaccounts:<namespace>`: every pod there runs with a ServiceAccount token, so
any compromised container would become the namespace's admin (RBAC good practices,
https://kubernetes.io/docs/concepts/security/rbac-good-practices/, "Least privilege").
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.diagnostics import Finding, finding
from aifab.model import Cluster, Tenant
from aifab.naming import (
    SERVICE_ACCOUNT_GROUP_PREFIX,
    is_rbac_system_name,
    service_account_namespace,
    tenant_namespace,
)

CODES = {"AF395": "tenant group is a Kubernetes system group or another tenant's service accounts"}

EVERYONE = {
    "system:authenticated": "every authenticated user and ServiceAccount, other tenants' too",
    "system:serviceaccounts": "every ServiceAccount of the cluster, other tenants' pods too",
    "system:unauthenticated": "every anonymous request to the API server",
}
HINT = ("list the identity-provider groups of the tenant's people (e.g. oidc:llm-team); the "
        "prefix system: is Kubernetes' own (kubernetes.io/docs/reference/access-authn-authz/"
        "rbac/#referring-to-subjects)")


def check(cluster: Cluster) -> Iterator[Finding]:
    owners = {tenant_namespace(t.name): t.name for t in cluster.tenants}
    for tenant in cluster.tenants:
        for i, group in enumerate(tenant.groups):
            if is_rbac_system_name(group):
                yield finding("AF395", f"tenant '{tenant.name}' lists the group '{group}', "
                              f"{_who(group, tenant, owners)}; the group would get the tenant's "
                              "admin Role in its namespace", tenant.path + ("groups", i),
                              hint=HINT)


def _who(group: str, tenant: Tenant, owners: dict[str, str]) -> str:
    """Who is in a `system:` group, as an operator would want it said."""
    namespace = service_account_namespace(group)
    if namespace is None:
        return EVERYONE.get(group, "a name in the prefix Kubernetes reserves for itself "
                            "(system:masters, for one, bypasses RBAC)")
    pods = ("every pod" if group.startswith(SERVICE_ACCOUNT_GROUP_PREFIX)
            else "the pods of one ServiceAccount")
    if namespace == tenant_namespace(tenant.name):
        return f"{pods} of its own namespace: a compromised container would become its admin"
    if namespace in owners:
        return f"{pods} of tenant '{owners[namespace]}' (namespace '{namespace}')"
    return f"{pods} of namespace '{namespace}', which is not this tenant's"
