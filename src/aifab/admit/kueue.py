"""Judge: would Kueue ever admit the workload?

As Kueue v0.19.2 decides (kubernetes-sigs/kueue, tag v0.19.2): a workload in a namespace of
`managedJobsNamespaceSelector` with a `kueue.x-k8s.io/queue-name` label goes to that
LocalQueue, whose ClusterQueue must cover every resource the workload requests (unless
Kueue's `resources.excludeResourcePrefixes` drops it; pkg/resources), and the whole
workload must fit the ClusterQueue's nominal quota plus what it can borrow from its cohort
(other queues' nominal quota, or their `lendingLimit`, up to its own `borrowingLimit`;
pkg/cache/scheduler). Devices of ResourceClaimTemplates count as the resource their
DeviceClass is mapped to by `resources.deviceClassMappings` (KueueDRAIntegration, on by
default in v0.19); an unmapped DeviceClass makes the workload inadmissible.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any

from aifab.admit.cluster import ClusterView
from aifab.admit.namespace import namespace_of
from aifab.admit.objects import Submitted
from aifab.admit.quantity import parse, shown
from aifab.admit.quota import container_defaults, totals
from aifab.admit.selectors import label_selector
from aifab.admit.workloads import pod_requests, pod_sets
from aifab.diagnostics import Finding, finding
from aifab.expand.kueue import CHANNEL_DEVICE_CLASS
from aifab.terminal import count

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
LABEL_PATH = ("metadata", "labels", QUEUE_LABEL)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def managed(obj: Submitted, cluster: ClusterView, batch: Sequence[Submitted]) -> bool:
    """Whether Kueue manages the workload: it has a queue-name label and its namespace is
    selected by `managedJobsNamespaceSelector`, which v0.19 respects for every integration
    (feature ManagedJobsNamespaceSelectorAlwaysRespected, GA and locked on in v0.19:
    pkg/features/kube_features.go)."""
    config = cluster.kueue_config
    queue = _map(obj.metadata.get("labels")).get(QUEUE_LABEL)
    if config is None or not isinstance(queue, str) or not pod_sets(obj.data):
        return False
    namespace = namespace_of(obj, cluster, batch)
    selector = config.get("managedJobsNamespaceSelector")
    labels = _map(_map(_map(namespace).get("metadata")).get("labels"))
    return namespace is not None and (selector is None or label_selector(selector, labels))


def cluster_queue(obj: Submitted, cluster: ClusterView, batch: Sequence[Submitted]
                  ) -> Mapping[str, Any] | None:
    """The ClusterQueue Kueue would put the workload in; None when Kueue leaves it alone or
    there is no such queue."""
    if not managed(obj, cluster, batch):
        return None
    queue = str(_map(obj.metadata.get("labels")).get(QUEUE_LABEL))
    local = cluster.find("LocalQueue", queue, obj.namespace or "default")
    name = _map(_map(local).get("spec")).get("clusterQueue")
    return cluster.find("ClusterQueue", str(name)) if name else None


def judge(obj: Submitted, cluster: ClusterView, batch: Sequence[Submitted]
          ) -> Iterator[Finding]:
    config = cluster.kueue_config
    if config is None or not managed(obj, cluster, batch):
        return
    queue = _map(obj.metadata.get("labels")).get(QUEUE_LABEL)
    namespace = obj.namespace or "default"
    local = cluster.find("LocalQueue", str(queue), namespace)
    if local is None:
        known = sorted(str(_map(q.get("metadata")).get("name"))
                       for q in cluster.of_kind("LocalQueue", namespace))
        yield finding("AF720", f"LocalQueue {queue!r} does not exist in namespace {namespace}: "
                      "Kueue keeps the workload suspended", LABEL_PATH,
                      hint=f"use {' or '.join(map(repr, known))}" if known else
                      f"namespace {namespace} has no LocalQueue: it is not a tenant namespace")
        return
    queue_spec = cluster_queue(obj, cluster, batch)
    if queue_spec is None:
        return  # a namespace Kueue does not manage, or a tree without the ClusterQueue
    resources = _map(config.get("resources"))
    excluded = tuple(str(p) for p in _list(resources.get("excludeResourcePrefixes")))
    total, _ = totals(obj, cluster)
    devices, problems = _claimed(obj, cluster, batch, resources)
    yield from problems
    for resource, amount in devices.items():
        total[resource] = total.get(resource, Fraction(0)) + amount
    flavored = _capacity(queue_spec, cluster)
    capacity = {resource: sum(held.values(), Fraction(0)) for resource, held in flavored.items()}
    queue_name = _map(queue_spec.get("metadata")).get("name")
    yield from _one_flavor_per_pod_set(obj, cluster, flavored, excluded, str(queue_name))
    for resource in sorted(total):
        if total[resource] <= 0 or resource.startswith(excluded):
            continue
        if resource not in capacity:
            yield finding("AF721", f"ClusterQueue {queue_name} does not cover {resource}, "
                          "which the workload requests: Kueue never admits it",
                          _requesting(obj, resource), hint="request only what the tenant's "
                          f"queue covers: {', '.join(sorted(capacity)) or 'nothing'}")
        elif total[resource] > capacity[resource]:
            yield finding("AF722", f"the workload asks for {shown(total[resource])} {resource} "
                          f"in all; ClusterQueue {queue_name} can hold at most "
                          f"{shown(capacity[resource])} (nominal quota plus what its cohort "
                          "lends): Kueue never admits it", _requesting(obj, resource),
                          hint="ask for fewer pods or fewer devices per pod")


def _one_flavor_per_pod_set(obj: Submitted, cluster: ClusterView,
                            flavored: Mapping[str, Mapping[str, Fraction]],
                            excluded: tuple[str, ...], queue_name: str) -> Iterator[Finding]:
    """Kueue gives all pods of a pod set one flavor (kueue v0.19.2 pkg/scheduler/flavorassigner):
    a pod set must fit the largest flavor, however much the flavors hold together."""
    defaults = container_defaults(cluster, obj.namespace or "default")
    for pods in pod_sets(obj.data):
        for resource, each in sorted(pod_requests(pods.spec, defaults).items()):
            held = flavored.get(resource)
            asked = each * pods.count
            if not held or resource.startswith(excluded) or len(held) < 2:
                continue  # not covered (AF721), or one flavor: the total check says it
            flavor, most = max(held.items(), key=lambda item: item[1])
            if asked > most:
                yield finding("AF722", f"{count(pods.count, 'pod')} of one template ask for "
                              f"{shown(asked)} {resource}; Kueue admits a pod set on one "
                              f"flavor of ClusterQueue {queue_name}, and the largest, {flavor}, "
                              f"holds at most {shown(most)}: Kueue never admits it",
                              _requesting(obj, resource),
                              hint="split the pods over several templates (replicated jobs), "
                                   "or ask for fewer")


def _requesting(obj: Submitted, resource: str) -> tuple[Any, ...]:
    """The path of the first container asking for `resource` (else the object's spec)."""
    for pods in pod_sets(obj.data):
        for index, container in enumerate(_list(pods.spec.get("containers"))):
            asked = _map(_map(container).get("resources"))
            for field in ("limits", "requests"):
                if resource in _map(asked.get(field)):
                    return pods.path + ("containers", index, "resources", field, resource)
    return ("spec",)


def _claimed(obj: Submitted, cluster: ClusterView, batch: Sequence[Submitted],
             resources: Mapping[str, Any]) -> tuple[dict[str, Fraction], list[Finding]]:
    """What the pods claim through ResourceClaimTemplates, as the resources their DeviceClasses
    are mapped to, and a finding for each template not found or DeviceClass not mapped."""
    mapped = {str(name): str(_map(m).get("name"))
              for m in _list(resources.get("deviceClassMappings"))
              for name in _list(_map(m).get("deviceClassNames"))}
    namespace = obj.namespace or "default"
    devices: dict[str, Fraction] = {}
    problems: list[Finding] = []
    for pods in pod_sets(obj.data):
        for index, claim in enumerate(_list(pods.spec.get("resourceClaims"))):
            template = _map(claim).get("resourceClaimTemplateName")
            if not isinstance(template, str):
                continue
            path = pods.path + ("resourceClaims", index, "resourceClaimTemplateName")
            requests = _device_requests(template, namespace, cluster, batch)
            if requests is None:
                problems.append(finding(
                    "AF725", f"ResourceClaimTemplate {template!r} is not in namespace "
                    f"{namespace} (nor made by a ComputeDomain there): the pods wait for it",
                    path, hint="create it (or the ComputeDomain whose channel names it) "
                    "before the workload"))
                continue
            for device_class, amount in requests:
                if device_class in mapped:
                    resource = mapped[device_class]
                    devices[resource] = devices.get(resource, Fraction(0)) + amount * pods.count
                    continue
                problems.append(finding(
                    "AF723", f"DeviceClass {device_class!r} of ResourceClaimTemplate "
                    f"{template!r} is not mapped in Kueue's deviceClassMappings: Kueue never "
                    "admits the workload", path,
                    hint=f"use a mapped DeviceClass: {', '.join(sorted(mapped)) or 'none'}"))
    return devices, problems


def _device_requests(template: str, namespace: str, cluster: ClusterView,
                     batch: Sequence[Submitted]) -> list[tuple[str, int]] | None:
    """(DeviceClass, count) of each request of the named template; None when not found.
    A ComputeDomain's channel template asks for one channel of CHANNEL_DEVICE_CLASS."""
    candidates = [o.data for o in batch if o.namespace == namespace] + list(
        cluster.of_kind("ResourceClaimTemplate", namespace)) + list(
        cluster.of_kind("ComputeDomain", namespace))
    for data in candidates:
        name = _map(data.get("metadata")).get("name")
        spec = _map(data.get("spec"))
        if data.get("kind") == "ComputeDomain" and _map(_map(spec.get("channel")).get(
                "resourceClaimTemplate")).get("name") == template:
            return [(CHANNEL_DEVICE_CLASS, 1)]
        if data.get("kind") == "ResourceClaimTemplate" and name == template:
            found = []
            for request in _list(_map(_map(spec.get("spec")).get("devices")).get("requests")):
                request = _map(request)  # resource.k8s.io/v1 `exactly`; v1beta1 inline
                exact = _map(request.get("exactly")) or request
                # firstAvailable: alternatives, one of which is allocated; count the first
                options = [exact] if exact.get("deviceClassName") else [
                    _map(o) for o in _list(request.get("firstAvailable"))][:1]
                for option in options:
                    wanted = option.get("count", 1)
                    found.append((str(option.get("deviceClassName")),
                                  wanted if isinstance(wanted, int) and 0 < wanted < 10**6
                                  else 1))
            return found
    return None


def _capacity(queue: Mapping[str, Any], cluster: ClusterView) -> dict[str, dict[str, Fraction]]:
    """Resource -> flavor -> the most the ClusterQueue can ever admit of it on that flavor."""
    spec = _map(queue.get("spec"))
    cohort = spec.get("cohortName", spec.get("cohort"))
    name = _map(queue.get("metadata")).get("name")
    lenders = [q for q in cluster.of_kind("ClusterQueue") if cohort and
               _map(q.get("spec")).get("cohortName", _map(q.get("spec")).get("cohort")) == cohort
               and _map(q.get("metadata")).get("name") != name]
    cohort_object = cluster.find("Cohort", str(cohort)) if cohort else None
    capacity: dict[str, dict[str, Fraction]] = {}
    for flavor, resource, quota in _quotas(spec):
        nominal = parse(quota.get("nominalQuota")) or Fraction(0)
        lendable = sum((_lendable(q, flavor, resource) for q in lenders), Fraction(0))
        if cohort_object is not None:
            lendable += sum((parse(r.get("nominalQuota")) or Fraction(0)
                             for f, res, r in _quotas(_map(cohort_object.get("spec")))
                             if f == flavor and res == resource), Fraction(0))
        limit = parse(quota.get("borrowingLimit"))
        borrow = lendable if limit is None else min(limit, lendable)
        held = capacity.setdefault(resource, {})
        held[flavor] = held.get(flavor, Fraction(0)) + nominal + borrow
    return capacity


def _quotas(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    for group in _list(spec.get("resourceGroups")):
        for flavor in _list(_map(group).get("flavors")):
            for quota in _list(_map(flavor).get("resources")):
                yield str(_map(flavor).get("name")), str(_map(quota).get("name")), _map(quota)


def _lendable(queue: Mapping[str, Any], flavor: str, resource: str) -> Fraction:
    for f, res, quota in _quotas(_map(queue.get("spec"))):
        if f == flavor and res == resource:
            lending = parse(quota.get("lendingLimit"))
            return lending if lending is not None else parse(quota.get("nominalQuota")) or 0
    return Fraction(0)


def flavors(queue: Mapping[str, Any], cluster: ClusterView) -> list[Mapping[str, Any]]:
    """The ResourceFlavors of the ClusterQueue (their nodeLabels and tolerations are added
    to the pods Kueue admits with them: pkg/podset)."""
    names = dict.fromkeys(f for f, _, _ in _quotas(_map(queue.get("spec"))))
    return [flavor for name in names if (flavor := cluster.find("ResourceFlavor", name))]

