"""Pod Security Admission on every Namespace.

Why: Pod Security Admission is the API server's own guard against privileged pods, and it acts
only on namespaces labelled pod-security.kubernetes.io/enforce. An unlabelled namespace falls
back to the cluster default, usually privileged: any tenant who can create a pod could create a
privileged one, whatever aifab generated. The privileged-pods policy checks what aifab writes;
this one makes the cluster refuse what tenants create later.

A tenant namespace may enforce privileged only where the ValidatingAdmissionPolicy
aifab-tenant-baseline binds it (policy admission_policies): that policy enforces Baseline there,
with IPC_LOCK allowed for NCCL and RDMA pods.

Fix: aifab labels the NVIDIA operator namespaces privileged and tenant namespaces privileged
under the tenant admission policy, warn and audit baseline (aifab.expand.namespaces); label
the namespace restricted or baseline, or keep it bound by aifab-tenant-baseline.
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.diagnostics import Finding
from aifab.expand.namespaces import COMPONENT as NAMESPACES_COMPONENT
from aifab.expand.namespaces import PSA
from aifab.naming import OPERATOR_NAMESPACES
from aifab.verify.policies._context import Context, name_of
from aifab.verify.policies.admission_policies import binds_tenant_baseline

CODES = {
    "AF433": "Namespace without a Pod Security enforce level",
    "AF434": "tenant namespace not at Pod Security restricted or baseline, nor bound by the "
             "tenant admission policy",
}

PSA_ENFORCE = f"{PSA}/enforce"
PSA_LEVELS = ("privileged", "baseline", "restricted")
TENANT_PSA_LEVELS = ("restricted", "baseline")


def check(ctx: Context) -> Iterator[Finding]:
    namespaces = {name_of(out.data): out for out in ctx.of_kind("Namespace")}
    for name in ctx.tenant_namespaces:
        if name not in namespaces:
            yield ctx.finding(ctx.namespace_output(name), "AF433",
                              f"tenant namespace '{name}' has no Namespace object, so nothing "
                              "sets its Pod Security level", ("metadata", "name"),
                              "generate the tenant's Namespace with the "
                              f"{PSA_ENFORCE} label (component '{NAMESPACES_COMPONENT}')")
    labels_path = ("metadata", "labels")
    for name, out in sorted(namespaces.items()):
        labels = (out.data.get("metadata") or {}).get("labels") or {}
        level = labels.get(PSA_ENFORCE)
        if level not in PSA_LEVELS:
            problem = "has no" if level is None else f"has an unknown ({level!r})"
            yield ctx.finding(out, "AF433", f"Namespace '{name}' {problem} Pod Security "
                              f"enforce level ({PSA_ENFORCE}): the cluster default applies, "
                              "which is usually privileged", labels_path + (PSA_ENFORCE,),
                              f"label it {PSA_ENFORCE}: restricted (tenants) or privileged "
                              "(operator namespaces)")
        elif (name not in OPERATOR_NAMESPACES and level not in TENANT_PSA_LEVELS
              and not (level == "privileged" and binds_tenant_baseline(ctx, name))):
            yield ctx.finding(out, "AF434", f"namespace '{name}' enforces Pod Security "
                              f"'{level}'; tenant namespaces must enforce "
                              f"{' or '.join(TENANT_PSA_LEVELS)}", labels_path + (PSA_ENFORCE,),
                              "set it to restricted, or bind it by the tenant admission "
                              "policy (label aifab.dev/tenant); only the operator namespaces "
                              f"({', '.join(OPERATOR_NAMESPACES)}) may be privileged otherwise")
