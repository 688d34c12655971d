"""monitoring: a ServiceMonitor gets a Prometheus Operator, unless the site runs its own."""

from __future__ import annotations

import yaml
from test_expand_jobset import unknown_values_keys

from aifab.expand import expand, monitoring, namespaces
from aifab.expand.common import NS_MONITORING
from aifab.expand.flux import releases_by_path
from bundled import CLUSTER_FILES, ROOT, cluster_of

BLUEPRINTS = ROOT / "blueprints"
RELEASE = "monitoring/helmrelease-kube-prometheus-stack.yaml"


def variant(tmp_path, name: str, dcgm: dict, mirror: str | None = None):
    data = yaml.safe_load((BLUEPRINTS / "busan-gb300.yaml").read_text(encoding="utf-8"))
    data["spec"]["gpuOperator"]["dcgmExporter"] = dcgm
    if mirror:
        data["spec"]["sovereignty"]["registryMirror"] = mirror
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return cluster_of(path)


def outputs(cluster) -> dict[str, dict]:
    return {o.path: o.data for o in expand(cluster)}


def test_a_service_monitor_gets_a_prometheus_operator():
    """busan asks for a ServiceMonitor: without the operator's CRDs the ClusterPolicy never
    becomes ready."""
    cluster = cluster_of(BLUEPRINTS / "busan-gb300.yaml")
    assert cluster.gpu_operator.service_monitor
    out = outputs(cluster)
    release = releases_by_path(expand(cluster))[RELEASE]
    assert (release.chart, release.version) == ("kube-prometheus-stack", "88.5.3")
    assert release.repository == "https://prometheus-community.github.io/helm-charts"
    assert release.source["kind"] == "HelmRepository"  # an https repository, not OCI
    assert release.namespace == release.release["metadata"]["namespace"] == NS_MONITORING
    values = release.values
    assert values["prometheus"]["prometheusSpec"]["serviceMonitorSelectorNilUsesHelmValues"] \
        is False
    assert NS_MONITORING in namespaces.operator_namespaces(cluster)
    assert f"namespaces/namespace-{NS_MONITORING}.yaml" in out


def test_site_operator_or_no_service_monitor_deploys_none(tmp_path):
    site = variant(tmp_path, "site", {"serviceMonitor": True, "prometheusOperator": "site"})
    off = variant(tmp_path, "off", {"serviceMonitor": False})
    for cluster in (site, off):
        assert RELEASE not in outputs(cluster)
        assert NS_MONITORING not in namespaces.operator_namespaces(cluster)


def test_images_through_the_mirror(tmp_path):
    cluster = variant(tmp_path, "mirrored", {"serviceMonitor": True},
                      mirror="registry.busan-1.example.kr")
    values = outputs(cluster)[RELEASE]["spec"]["values"]
    assert values["prometheusOperator"]["image"]["registry"] == \
        "registry.busan-1.example.kr/quay.io"
    assert values["prometheusOperator"]["admissionWebhooks"]["patch"]["image"]["registry"] == \
        "registry.busan-1.example.kr/ghcr.io"
    assert values["prometheus"]["prometheusSpec"]["image"]["registry"] == \
        "registry.busan-1.example.kr/quay.io"


def test_every_values_key_exists_in_the_chart(tmp_path):
    clusters = [cluster_of(p) for p in CLUSTER_FILES]
    clusters.append(variant(tmp_path, "mirrored", {"serviceMonitor": True}, mirror="r.example"))
    checked = 0
    for cluster in clusters:
        for release in releases_by_path(monitoring.expand(cluster)).values():
            assert unknown_values_keys(release) == [], cluster.name
            checked += 1
    assert checked >= 2
