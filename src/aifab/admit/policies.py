"""Judge: would the cluster's ValidatingAdmissionPolicies admit the object and its pods?

The policies and bindings are the cluster's own (generated/<cluster>/admission/), evaluated
by verify/vap.py as the API server evaluates them on CREATE. A Pod is judged as it is; for a
Job, JobSet or Deployment the object itself is judged, then each pod its controller would
create (the template's labels and spec, in the object's namespace), as the policies match
Pods: a refused template means the object is accepted and its pods never run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from aifab.admit.cluster import ClusterView
from aifab.admit.namespace import namespace_of
from aifab.admit.objects import Submitted
from aifab.admit.schema import is_namespaced
from aifab.admit.workloads import pod_sets
from aifab.diagnostics import Finding, finding
from aifab.terminal import count
from aifab.verify.vap import Refusal, refusals


def judge(obj: Submitted, cluster: ClusterView, batch: Sequence[Submitted]
          ) -> Iterator[Finding]:
    policies = list(cluster.of_kind("ValidatingAdmissionPolicy"))
    if not policies:
        return
    bindings = list(cluster.of_kind("ValidatingAdmissionPolicyBinding"))
    namespace = None
    if is_namespaced(obj.data, cluster):
        namespace = namespace_of(obj, cluster, batch)
        if namespace is None:  # the namespace judge said so (AF710)
            return
    for refusal in _refusals(cluster, policies, bindings, obj.data, namespace):
        yield _refused(refusal.policy, refusal.message, ("metadata",), cluster)
    if obj.kind == "Pod":
        return
    for pods in pod_sets(obj.data):
        pod = _pod(obj, pods.metadata, pods.spec)
        for refusal in _refusals(cluster, policies, bindings, pod, namespace):
            yield _refused(refusal.policy, f"the {obj.kind} is accepted, but the "
                           f"{count(pods.count, 'pod')} its controller creates from this "
                           f"template would be refused: {refusal.message}", pods.path, cluster)


def _refusals(cluster: ClusterView, policies: list, bindings: list, obj: Mapping[str, Any],
              namespace: Mapping[str, Any] | None) -> list[Refusal]:
    """`refusals`, once per distinct object and namespace of a run (the pods of a JobSet's
    replicated jobs, a file of copies): the policies read neither the object's name nor
    anything outside it and its namespace."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "name"}
    key = json.dumps([{**obj, "metadata": meta}, namespace], sort_keys=True, default=str)
    memo = cluster.memo.setdefault("policies", {})
    if key not in memo:
        memo[key] = refusals(policies, bindings, obj, namespace)
    return memo[key]


def _pod(obj: Submitted, metadata: Any, spec: Any) -> dict[str, Any]:
    labels = metadata.get("labels") if hasattr(metadata, "get") else None
    meta: dict[str, Any] = {"name": f"{obj.name}-pod", "labels": labels or {}}
    if obj.namespace:
        meta["namespace"] = obj.namespace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def _refused(policy: str, message: str, path: tuple, cluster: ClusterView) -> Finding:
    return finding("AF712", f"admission policy {policy} refuses this: {message}", path,
                   hint=f"the cluster {cluster.name} enforces {policy} (its admission/ "
                        "folder; docs/policies.md says what each policy allows)")
