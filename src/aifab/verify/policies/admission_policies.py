"""Admission policies bind every tenant namespace, and every expression of theirs compiles.

Why: tenant namespaces enforce Pod Security `privileged` (NCCL and RDMA pods add IPC_LOCK,
which Baseline refuses), so the ValidatingAdmissionPolicy `aifab-tenant-baseline` is what
refuses privileged containers, hostPath volumes and host namespaces there. A tenant namespace
its binding does not select (a missing label, a binding that only warns) admits them all. An
expression the API server cannot compile makes the policy refuse every pod it matches
(failurePolicy Fail) or nothing at all.

Fix: keep aifab's admission/ objects (aifab.expand.admission) and the `aifab.dev/tenant`
label of tenant namespaces (aifab.expand.namespaces); fix the expression the finding names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from aifab.diagnostics import Finding
from aifab.expand import admission
from aifab.expand.admission import TENANT_BASELINE
from aifab.model import Cluster
from aifab.verify.policies._context import Context, describe, name_of
from aifab.verify.vap import compile_problems, expressions, selects

CODES = {
    "AF445": "tenant namespace not bound by the tenant admission policy (with Deny)",
    "AF446": "expression of a ValidatingAdmissionPolicy that cannot be compiled",
}


def binds_tenant_baseline(ctx: Context, namespace: str) -> bool:
    """Whether a Deny binding of `aifab-tenant-baseline` selects the generated Namespace."""
    found = [out.data for out in ctx.of_kind("Namespace") if name_of(out.data) == namespace]
    if not found or not any(name_of(out.data) == TENANT_BASELINE
                            for out in ctx.of_kind("ValidatingAdmissionPolicy")):
        return False
    labels = {**((found[0].get("metadata") or {}).get("labels") or {}),
              "kubernetes.io/metadata.name": namespace}  # the API server's, over any label
    for out in ctx.of_kind("ValidatingAdmissionPolicyBinding"):
        spec: Mapping[str, Any] = out.data.get("spec") or {}
        if spec.get("policyName") != TENANT_BASELINE:
            continue
        if "Deny" not in (spec.get("validationActions") or ()):
            continue
        if selects((spec.get("matchResources") or {}).get("namespaceSelector"), labels):
            return True
    return False


def check(ctx: Context) -> Iterator[Finding]:
    generated = {name_of(out.data) for out in ctx.of_kind("Namespace")}
    for namespace in ctx.tenant_namespaces:  # a missing Namespace object is AF433's
        if namespace in generated and not binds_tenant_baseline(ctx, namespace):
            yield ctx.finding(ctx.namespace_output(namespace), "AF445",
                              f"tenant namespace '{namespace}' is not selected by a Deny "
                              f"binding of the ValidatingAdmissionPolicy '{TENANT_BASELINE}': "
                              "nothing refuses privileged pods there", ("metadata", "labels"),
                              "label the namespace aifab.dev/tenant and keep aifab's "
                              "admission/ policy and binding (aifab.expand.admission)")
    for out in ctx.of_kind("ValidatingAdmissionPolicy"):
        problems = compile_problems(out.data)
        paths = dict(expressions(out.data))
        for problem in problems:
            where = problem.split(":", 1)[0]
            yield ctx.finding(out, "AF446", f"{describe(out.data)}: {problem}",
                              _path(where) if where in paths else ("spec",),
                              "write the expression in CEL the API server compiles "
                              "(https://kubernetes.io/docs/reference/using-api/cel/)")


def prepare(clusters: Iterable[Cluster]) -> None:
    """Compile the expressions of the clusters' admission policies ahead of `check` (compiled
    programs are kept by their text: cel.compiled). aifab generate calls it before its build
    workers fork, which then share them: 0.1-0.15 s of parsing that each would do again."""
    for cluster in clusters:
        for out in admission.expand(cluster):
            if out.data.get("kind") == "ValidatingAdmissionPolicy":
                compile_problems(out.data)


def _path(where: str) -> tuple[str | int, ...]:
    """'spec.validations[2].expression' -> ('spec', 'validations', 2, 'expression')."""
    path: list[str | int] = []
    for part in where.split("."):
        name, _, index = part.partition("[")
        path.append(name)
        if index:
            path.append(int(index.rstrip("]")))
    return tuple(path)
