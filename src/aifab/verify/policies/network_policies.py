"""Default-deny NetworkPolicy in every tenant namespace.

Why: pods no NetworkPolicy selects accept connections from every pod of the cluster and reach
anything: another tenant's inference endpoint, the operators' webhooks, the node's services. A
default deny turns the network into an allow-list; since NetworkPolicies add up, one rule that
allows everything undoes it.

Fix: keep aifab's default-deny, allow-same-namespace and allow-dns policies
(aifab.expand.tenants) and write allow rules that name their peers or at least their ports.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from aifab.diagnostics import Finding
from aifab.verify.policies._context import Context, describe, namespace_of

CODES = {
    "AF435": "tenant namespace without a default-deny NetworkPolicy, or with an allow-all rule",
}


def _is_default_deny(spec: Mapping[str, Any]) -> bool:
    selector = spec.get("podSelector")
    selects_all = isinstance(selector, Mapping) and not any(selector.values())
    types = set(spec.get("policyTypes") or [])
    return (selects_all and {"Ingress", "Egress"} <= types
            and not spec.get("ingress") and not spec.get("egress"))


def check(ctx: Context) -> Iterator[Finding]:
    policies = ctx.of_kind("NetworkPolicy")
    for namespace in ctx.tenant_namespaces:
        mine = [out for out in policies if namespace_of(out.data) == namespace]
        if not any(_is_default_deny(out.data.get("spec") or {}) for out in mine):
            yield ctx.finding(ctx.namespace_output(namespace), "AF435",
                              f"tenant namespace '{namespace}' has no default-deny "
                              "NetworkPolicy: its pods accept traffic from every namespace "
                              "and reach anything", ("metadata", "name"),
                              "add a NetworkPolicy with podSelector: {}, policyTypes: [Ingress, "
                              "Egress] and no rules, then allow what is needed explicitly")
        for out in mine:
            spec = out.data.get("spec") or {}
            for direction, peers in (("ingress", "from"), ("egress", "to")):
                for i, rule in enumerate(spec.get(direction) or []):
                    if isinstance(rule, Mapping) and not rule.get(peers) and not rule.get("ports"):
                        yield ctx.finding(out, "AF435", f"{describe(out.data)} in tenant namespace "
                                          f"'{namespace}' allows all {direction} (a rule with "
                                          f"neither '{peers}' nor 'ports'), which undoes the "
                                          "default deny", ("spec", direction, i),
                                          f"name the peers in '{peers}' (podSelector, "
                                          "namespaceSelector) or remove the rule")
