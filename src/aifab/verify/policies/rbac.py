"""Tenant RBAC: no wildcards, nothing cluster-wide, no system: groups.

Why: a `*` in a Role grants whatever is added to the cluster later (Secrets, every future CRD);
escalate, bind and impersonate let a holder raise its own rights. A ClusterRoleBinding reaches
every namespace, a RoleBinding to a ClusterRole imports rules aifab does not see, an
aggregate-to-* label adds rules to everyone's built-in roles, and a `system:` group in a
tenant's RoleBinding hands the tenant's rights to pods, other tenants or everyone (Kubernetes
reserves the prefix: https://kubernetes.io/docs/reference/access-authn-authz/rbac/
#referring-to-subjects). Who a subject belongs to never depends on the order of the tenants.

Fix: tenants get the tenant-admin Role of their own namespace (aifab.expand.tenants), with
explicit API groups, resources and verbs, bound to their identity-provider groups.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from aifab.diagnostics import Finding
from aifab.expand.common import Output
from aifab.naming import (
    EVERYONE_GROUPS,
    is_rbac_system_name,
    service_account_namespace,
    tenant_namespace,
)
from aifab.verify.policies._context import Context, describe, name_of, namespace_of

CODES = {
    "AF441": "wildcard or escalation verb in a tenant Role",
    "AF442": "tenant granted rights through a ClusterRole, outside its namespace, or through a "
             "system: group",
}

RBAC_GROUP = "rbac.authorization.k8s.io"
# Verbs that let a Role holder grant itself more (RBAC good practices, "Privilege escalation
# risks": escalate, bind, impersonate).
ESCALATION_VERBS = frozenset({"escalate", "bind", "impersonate"})
# The members of a group every tenant is in (aifab.naming.EVERYONE_GROUPS)
EVERYONE = frozenset({"*"})
AGGREGATE_LABEL = f"{RBAC_GROUP}/aggregate-to-"


def _group_owners(ctx: Context) -> dict[str, frozenset[str]]:
    """Identity-provider group -> the tenant namespaces whose `groups` list it. `system:`
    groups are left out: who is in them is Kubernetes' business, not the blueprint's."""
    owners: dict[str, set[str]] = {}
    for tenant in ctx.cluster.tenants:
        for group in tenant.groups:
            if not is_rbac_system_name(group):
                owners.setdefault(group, set()).add(tenant_namespace(tenant.name))
    return {group: frozenset(namespaces) for group, namespaces in owners.items()}


def _subject_tenants(subject: Mapping[str, Any], owners: dict[str, frozenset[str]],
                     tenants: set[str]) -> frozenset[str]:
    """The tenant namespaces a subject's members belong to; EVERYONE for groups every tenant
    is in. Independent of the order of the tenants."""
    kind, name = subject.get("kind"), str(subject.get("name", ""))
    if kind == "ServiceAccount":
        namespace = str(subject.get("namespace", ""))
        return frozenset({namespace} & tenants)
    if kind not in ("Group", "User"):
        return frozenset()
    if kind == "Group" and name in EVERYONE_GROUPS:
        return EVERYONE
    if (namespace := service_account_namespace(name)) is not None:
        return frozenset({namespace} & tenants)
    return owners.get(name, frozenset()) if kind == "Group" else frozenset()


def check(ctx: Context) -> Iterator[Finding]:
    tenants = set(ctx.tenant_namespaces)
    owners = _group_owners(ctx)
    hint = ("give tenants only the namespaced tenant-admin Role of their own namespace, with "
            "explicit apiGroups, resources and verbs, bound to their identity-provider groups")
    for out in ctx.of_kind("Role"):
        if namespace_of(out.data) in tenants:
            yield from _role_rules(ctx, out, hint)
    for out in ctx.of_kind("ClusterRole"):
        labels = (out.data.get("metadata") or {}).get("labels") or {}
        for label in sorted(k for k in labels if k.startswith(AGGREGATE_LABEL)):
            if str(labels[label]).lower() == "true":
                yield ctx.finding(out, "AF442", f"ClusterRole '{name_of(out.data)}' aggregates "
                                  f"into the built-in '{label.removeprefix(AGGREGATE_LABEL)}' "
                                  "role, so everyone bound to that role (tenants too) gets its "
                                  "rules", ("metadata", "labels", label), hint)
    for out in ctx.of_kind("ClusterRoleBinding") + ctx.of_kind("RoleBinding"):
        for i, subject in enumerate(out.data.get("subjects") or []):
            if isinstance(subject, Mapping):
                problem = _binding_problem(out.data, subject, owners, tenants)
                if problem:
                    yield ctx.finding(out, "AF442", f"{describe(out.data)} {problem}",
                                      ("subjects", i), hint)


def _binding_problem(binding: Mapping[str, Any], subject: Mapping[str, Any],
                     owners: dict[str, frozenset[str]], tenants: set[str]) -> str:
    """What is wrong with one subject of a (Cluster)RoleBinding, or ''."""
    members = _subject_tenants(subject, owners, tenants)
    name = str(subject.get("name", ""))
    who = f"{subject.get('kind')} '{name}'"
    if len(members) == 1 and members != EVERYONE:
        who += f" (tenant namespace '{next(iter(members))}')"
    role = binding.get("roleRef") or {}
    if binding.get("kind") == "ClusterRoleBinding":
        return (f"grants {who} the ClusterRole '{role.get('name')}' in every namespace"
                if members else "")
    namespace = namespace_of(binding)
    if members and namespace not in members:
        return f"grants {who} rights in namespace '{namespace}'"
    if namespace in tenants and _kubernetes_identity(subject, namespace):
        return (f"binds {who}, an identity of Kubernetes' own (pods, anonymous requests, "
                "the control plane, not the tenant's people), in tenant namespace "
                f"'{namespace}'")
    if namespace in tenants and role.get("kind") == "ClusterRole":
        return (f"binds {who} to the ClusterRole '{role.get('name')}', whose rules are not "
                "aifab's (cluster-admin, admin and edit include Secrets and wildcards)")
    return ""


def _kubernetes_identity(subject: Mapping[str, Any], namespace: str) -> bool:
    """A `system:` group, or a `system:` user other than a ServiceAccount of `namespace`
    (which is the same as a ServiceAccount subject of the namespace)."""
    kind, name = subject.get("kind"), str(subject.get("name", ""))
    if kind not in ("Group", "User") or not is_rbac_system_name(name):
        return False
    return kind == "Group" or service_account_namespace(name) != namespace


def _role_rules(ctx: Context, out: Output, hint: str) -> Iterator[Finding]:
    for i, rule in enumerate(out.data.get("rules") or []):
        if not isinstance(rule, Mapping):
            continue
        for field in ("apiGroups", "resources", "verbs"):
            for j, item in enumerate(rule.get(field) or []):
                if "*" in str(item):
                    yield ctx.finding(out, "AF441", f"{describe(out.data)} grants '{item}' in "
                                      f"{field}: a wildcard also grants whatever is added to the "
                                      "cluster later (Secrets, new CRDs)", ("rules", i, field, j),
                                      hint)
                elif field == "verbs" and item in ESCALATION_VERBS:
                    yield ctx.finding(out, "AF441", f"{describe(out.data)} grants the verb "
                                      f"'{item}', which lets the tenant raise its own rights",
                                      ("rules", i, field, j), hint)
