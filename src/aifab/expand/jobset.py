"""JobSet: the controller of the jobs that span nodes (kubernetes-sigs/jobset).

With Kueue (folder `jobset/`): the `jobset` HelmRelease in NS_JOBSET, the OCI chart of the
catalog (`charts.jobset`, R7), the controller image through the registry mirror, two replicas
(leader election is the chart's default) and a PodDisruptionBudget keeping one: the JobSet
webhook is in the admission path of every tenant JobSet, as Kueue's is. Kueue's manager
Configuration already lists the `jobset.x-k8s.io/jobset` integration (kueue.py); the
multi-node NVLink templates of `examples/` are JobSets (nvlink_jobs.py). Value keys:
kubernetes-sigs/jobset v0.12.0 `charts/jobset/values.yaml`
(checked against the shipped data of that version, tools/chart_data.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aifab.expand.common import NS_JOBSET, Output, image_registry
from aifab.expand.flux import release
from aifab.model import Cluster

COMPONENT = "jobset"
CHART_KEY = "jobset"
CONTROLLER_REPLICAS = 2


def values(cluster: Cluster) -> dict[str, Any]:
    chart = cluster.catalog.charts[CHART_KEY]
    return {
        "image": {"repository": image_registry(cluster, chart["image"]),
                  "tag": f"v{chart['version']}", "pullPolicy": "IfNotPresent"},
        "controller": {"replicas": CONTROLLER_REPLICAS,
                       "podDisruptionBudget": {"enabled": True, "minAvailable": 1}},
    }


def expand(cluster: Cluster) -> Iterator[Output]:
    if cluster.kueue is None:
        return
    yield from release(COMPONENT, cluster, chart_key=CHART_KEY,
                       version=cluster.catalog.charts[CHART_KEY]["version"],
                       namespace=NS_JOBSET, values=values(cluster))
