"""Judge: does the whole workload fit the namespace's ResourceQuota?

Every pod of a workload runs at once (a gang), so all of them must fit the namespace's
`hard` limits together; quota is charged per pod at creation (kubernetes v1.35.0
pkg/quota/v1/evaluator/core/pods.go: `requests.<resource>`, bare cpu/memory, `pods`), after
the namespace's LimitRange has filled in default requests (plugin/pkg/admission/limitranger).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fractions import Fraction

from aifab.admit.cluster import ClusterView
from aifab.admit.objects import Submitted
from aifab.admit.quantity import parse, shown
from aifab.admit.workloads import pod_requests, pod_sets
from aifab.diagnostics import Finding, finding
from aifab.terminal import count

_BARE = ("cpu", "memory", "ephemeral-storage")  # `hard` keys that mean their requests


def container_defaults(cluster: ClusterView, namespace: str) -> dict[str, Fraction]:
    """The default requests the namespace's LimitRanges give a container naming none."""
    found: dict[str, Fraction] = {}
    for limits in cluster.of_kind("LimitRange", namespace):
        for item in (limits.get("spec") or {}).get("limits") or ():
            if item.get("type") != "Container":
                continue
            for source in (item.get("default") or {}, item.get("defaultRequest") or {}):
                for name, value in source.items():
                    if (amount := parse(value)) is not None:
                        found[str(name)] = amount
    return found


def totals(obj: Submitted, cluster: ClusterView) -> tuple[dict[str, Fraction], int]:
    """What all pods of the object request together, and how many pods that is."""
    defaults = container_defaults(cluster, obj.namespace or "default")
    total: dict[str, Fraction] = {}
    pods = 0
    for pod_set in pod_sets(obj.data):
        pods += pod_set.count
        for name, value in pod_requests(pod_set.spec, defaults).items():
            total[name] = total.get(name, Fraction(0)) + value * pod_set.count
    return total, pods


def judge(obj: Submitted, cluster: ClusterView, batch: Sequence[Submitted]
          ) -> Iterator[Finding]:
    if not pod_sets(obj.data):
        return
    namespace = obj.namespace or "default"
    total, pods = totals(obj, cluster)
    for quota in cluster.of_kind("ResourceQuota", namespace):
        quota_name = (quota.get("metadata") or {}).get("name")
        for key, value in ((quota.get("spec") or {}).get("hard") or {}).items():
            limit = parse(value)
            if limit is None:
                continue
            if key == "pods":
                asked = Fraction(pods)
            elif key.startswith("requests."):
                asked = total.get(key.removeprefix("requests."), Fraction(0))
            elif key in _BARE:
                asked = total.get(key, Fraction(0))
            else:
                continue
            if asked > limit:
                yield finding(
                    "AF724", f"its {count(pods, 'pod')} ask for {shown(asked)} "
                    f"{key.removeprefix('requests.')} "
                    f"in all; ResourceQuota {quota_name} of namespace {namespace} allows "
                    f"{shown(limit)}, so some pods would be refused at creation",
                    ("spec",), hint="ask for less, or have the quota raised in the blueprint "
                    "(the tenant's quota)")
