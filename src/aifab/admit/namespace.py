"""Judge: does the object's namespace exist, and would Pod Security admit its pods?

Pod Security enforces on Pods only (the admission plugin checks workload resources in warn
and audit modes): a Job or JobSet whose pod template breaks the namespace's level is
accepted by the API server, but every pod its controller creates is refused, so it never
runs. That is reported as a refusal of those pods, and said so.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from aifab.admit import podsecurity
from aifab.admit.cluster import BUILTIN_NAMESPACES, ClusterView
from aifab.admit.objects import Submitted
from aifab.admit.schema import is_namespaced
from aifab.admit.workloads import pod_sets
from aifab.diagnostics import Finding, finding
from aifab.terminal import count

ENFORCE = "pod-security.kubernetes.io/enforce"


def namespace_of(obj: Submitted, cluster: ClusterView,
                 batch: Sequence[Submitted]) -> Mapping[str, Any] | None:
    """The Namespace object the object lands in: the cluster's, or one the files create."""
    name = obj.namespace or "default"
    found = cluster.find("Namespace", name)
    if found is None:
        found = next((o.data for o in batch if o.kind == "Namespace" and o.name == name), None)
    if found is None and name in BUILTIN_NAMESPACES:
        found = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    return found


def judge(obj: Submitted, cluster: ClusterView, batch: Sequence[Submitted]
          ) -> Iterator[Finding]:
    if not is_namespaced(obj.data, cluster):
        return
    namespace = namespace_of(obj, cluster, batch)
    name = obj.namespace or "default"
    if namespace is None:
        known = sorted(str((n.get("metadata") or {}).get("name"))
                       for n in cluster.of_kind("Namespace"))
        yield finding("AF710", f"namespace {name!r} does not exist in cluster {cluster.name}",
                      ("metadata", "namespace") if obj.namespace else ("metadata",),
                      hint=f"use one of its namespaces: {', '.join(known)}")
        return
    labels = (namespace.get("metadata") or {}).get("labels") or {}
    level = labels.get(ENFORCE, "privileged")
    if level not in podsecurity.LEVELS:
        level = "restricted"  # the plugin reads an invalid level as restricted (api/helpers.go)
    version = podsecurity.parse_version(labels.get(f"{ENFORCE}-version"))
    for pods in pod_sets(obj.data):
        for path, what in podsecurity.violations(level, pods.spec, pods.metadata, version):
            who = "" if obj.kind == "Pod" else (
                f"the {obj.kind} is accepted, but the {count(pods.count, 'pod')} its controller "
                "creates from this template would be refused: ")
            yield finding("AF711", f"{who}Pod Security {level!r} (namespace {name}) forbids "
                          f"this: {what}", pods.path + path,
                          hint=f"namespace {name} enforces Pod Security {level!r} "
                          f"(v{version[0]}.{version[1]}); change the pod to meet it "
                          "(https://kubernetes.io/docs/concepts/security/pod-security-standards/)")
