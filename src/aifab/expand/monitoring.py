"""Monitoring: the Prometheus Operator that the DCGM exporter's ServiceMonitor needs.

`gpuOperator.dcgmExporter.serviceMonitor` makes the GPU Operator create a ServiceMonitor
(monitoring.coreos.com/v1). Without the Prometheus Operator's CRDs that kind does not exist,
the DCGM exporter's state fails and the ClusterPolicy never becomes ready. So with a
ServiceMonitor, unless the blueprint says the site runs its own Prometheus Operator
(`dcgmExporter.prometheusOperator: site`), this component deploys one (folder `monitoring/`):
the `kube-prometheus-stack` HelmRelease in NS_MONITORING (catalog `charts.kube-prometheus-stack`,
R8), its CRDs, the operator and one Prometheus that selects every ServiceMonitor
(`serviceMonitorSelectorNilUsesHelmValues: false`: the chart otherwise selects only its own
release's), without Grafana, Alertmanager, node exporter and kube-state-metrics (the GPU
metrics come from the DCGM exporter; a site adds the rest deliberately). Every image registry of
the components left on goes through the registry mirror (the chart splits an image into
`registry` and `repository`; the mirror keeps the upstream host, so the registry becomes
`<mirror>/<host>`). Value keys: prometheus-community/helm-charts tag kube-prometheus-stack-88.5.3
`charts/kube-prometheus-stack/values.yaml` (checked against the shipped data of that
version, tools/chart_data.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aifab.expand.common import NS_MONITORING, Output, image_registry
from aifab.expand.flux import release
from aifab.model import Cluster

COMPONENT = "monitoring"
CHART_KEY = "kube-prometheus-stack"
DISABLED = ("alertmanager", "grafana", "kubeStateMetrics", "nodeExporter")
# The image sections of the components left on, with their upstream registry (values.yaml at
# kube-prometheus-stack-88.5.3; alertmanager and thanosRuler are off).
IMAGES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("crds", "upgradeJob", "image", "busybox"), "docker.io"),
    (("crds", "upgradeJob", "image", "kubectl"), "registry.k8s.io"),
    (("prometheus", "prometheusSpec", "image"), "quay.io"),
    (("prometheusOperator", "admissionWebhooks", "deployment", "image"), "quay.io"),
    (("prometheusOperator", "admissionWebhooks", "patch", "image"), "ghcr.io"),
    (("prometheusOperator", "image"), "quay.io"),
    (("prometheusOperator", "prometheusConfigReloader", "image"), "quay.io"),
    (("prometheusOperator", "thanosImage"), "quay.io"),
)


def deploys_operator(cluster: Cluster) -> bool:
    go = cluster.gpu_operator
    return go.dcgm_exporter and go.service_monitor and go.prometheus_operator == "deploy"


def values(cluster: Cluster) -> dict[str, Any]:
    out: dict[str, Any] = {name: {"enabled": False} for name in DISABLED}
    out["prometheus"] = {"prometheusSpec": {"serviceMonitorSelectorNilUsesHelmValues": False}}
    if cluster.sovereignty.registry_mirror:
        for path, upstream in IMAGES:
            node = out
            for key in path:
                node = node.setdefault(key, {})
            node["registry"] = image_registry(cluster, upstream)
    return out


def expand(cluster: Cluster) -> Iterator[Output]:
    if not deploys_operator(cluster):
        return
    yield from release(COMPONENT, cluster, chart_key=CHART_KEY,
                       version=cluster.catalog.charts[CHART_KEY]["version"],
                       namespace=NS_MONITORING, values=values(cluster))
