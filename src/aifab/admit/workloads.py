"""The pods an object makes, and what each pod requests.

Pod counts are the pods running at once, as Kueue counts a workload's pod sets
(kueue v0.19.2 pkg/controller/jobs/job: parallelism, capped by completions; jobset: each
replicated job's replicas times its Job's parallelism). Requests per pod are computed as the
scheduler and Kueue do (k8s.io/component-helpers/resource/helpers.go PodRequests, v1.35.0):
a container's request is its `requests`, else its `limits`; a pod asks for the sum over its
containers, or the largest init container when that is more, plus its overhead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from aifab.admit.quantity import parse
from aifab.diagnostics import Path


@dataclass(frozen=True)
class PodSet:
    """Pods made from one template: the template's path in the object, its spec and labels."""

    path: Path  # to the pod's spec
    spec: Mapping[str, Any]
    metadata: Mapping[str, Any]
    count: int


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _count(value: Any, default: int = 1) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) \
        and value >= 0 else default


def _job(spec: Mapping[str, Any], path: Path, times: int) -> Iterator[PodSet]:
    template = _map(spec.get("template"))
    count = _count(spec.get("parallelism"))
    if "completions" in spec and spec["completions"] is not None:
        count = min(count, _count(spec.get("completions")))
    yield PodSet(path + ("template", "spec"), _map(template.get("spec")),
                 _map(template.get("metadata")), count * times)


def pod_sets(data: Mapping[str, Any]) -> list[PodSet]:
    """The pod sets of a Pod, Job, CronJob, JobSet, Deployment, StatefulSet, ReplicaSet or
    DaemonSet (one pod per node: counted once); [] for any other kind."""
    kind, spec = data.get("kind"), _map(data.get("spec"))
    if kind == "Pod":
        return [PodSet(("spec",), spec, _map(data.get("metadata")), 1)]
    if kind == "Job":
        return list(_job(spec, ("spec",), 1))
    if kind == "CronJob":
        return list(_job(_map(_map(spec.get("jobTemplate")).get("spec")),
                         ("spec", "jobTemplate", "spec"), 1))
    if kind == "JobSet":
        found = []
        jobs = spec.get("replicatedJobs")
        for index, job in enumerate(jobs if isinstance(jobs, list) else []):
            job = _map(job)
            found += _job(_map(_map(job.get("template")).get("spec")),
                          ("spec", "replicatedJobs", index, "template", "spec"),
                          _count(job.get("replicas")))
        return found
    if kind in ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet"):
        template = _map(spec.get("template"))
        replicas = 1 if kind == "DaemonSet" else _count(spec.get("replicas"))
        return [PodSet(("spec", "template", "spec"), _map(template.get("spec")),
                       _map(template.get("metadata")), replicas)]
    return []


def containers(spec: Mapping[str, Any], init: bool = False) -> Iterator[tuple[Path, Mapping]]:
    """(path under the pod spec, container) of the containers (or init containers)."""
    field = "initContainers" if init else "containers"
    listed = spec.get(field)
    for index, container in enumerate(listed if isinstance(listed, list) else []):
        if isinstance(container, Mapping):
            yield (field, index), container


def all_containers(spec: Mapping[str, Any]) -> Iterator[tuple[Path, Mapping]]:
    """Containers, init containers and ephemeral containers, as Pod Security visits them."""
    yield from containers(spec, init=True)
    yield from containers(spec)
    listed = spec.get("ephemeralContainers")
    for index, container in enumerate(listed if isinstance(listed, list) else []):
        if isinstance(container, Mapping):
            yield ("ephemeralContainers", index), container


def _container_requests(container: Mapping[str, Any],
                        defaults: Mapping[str, Fraction]) -> dict[str, Fraction]:
    resources = _map(container.get("resources"))
    requests, limits = _map(resources.get("requests")), _map(resources.get("limits"))
    found = dict(defaults)
    for name in [*limits, *requests]:
        value = parse(requests[name] if name in requests else limits[name])
        if value is not None:
            found[str(name)] = value
    return found


def pod_requests(spec: Mapping[str, Any],
                 defaults: Mapping[str, Fraction] | None = None) -> dict[str, Fraction]:
    """What one pod requests, resource by resource (`defaults`: a LimitRange's, for resources
    a container does not name)."""
    defaults = defaults or {}
    total: dict[str, Fraction] = {}
    for _, container in containers(spec):
        for name, value in _container_requests(container, defaults).items():
            total[name] = total.get(name, Fraction(0)) + value
    for _, container in containers(spec, init=True):
        for name, value in _container_requests(container, defaults).items():
            total[name] = max(total.get(name, Fraction(0)), value)
    for name, value in _map(spec.get("overhead")).items():
        if (amount := parse(value)) is not None:
            total[str(name)] = total.get(str(name), Fraction(0)) + amount
    return total
