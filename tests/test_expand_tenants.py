"""The tenants component: GPU quota, default requests, RBAC and NetworkPolicies per tenant."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest

from aifab.expand import monitoring, tenants
from aifab.pipeline import run

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "blueprints" / "gwangju-gb200.yaml"
RBAC = "rbac.authorization.k8s.io"


@pytest.fixture(scope="module")
def cluster():
    result = run(REFERENCE)
    assert result.cluster is not None and result.ok
    return result.cluster


def _objects(cluster):
    return {o.path: o.data for o in tenants.expand(cluster)}


def test_reference_outputs(cluster):
    paths = sorted(_objects(cluster))
    expected = []
    for ns in ("foundation-models", "public-research"):
        expected += [f"tenants/{ns}/{name}.yaml" for name in (
            "resourcequota-gpu", "limitrange-defaults", "role-tenant-admin",
            "networkpolicy-default-deny", "networkpolicy-allow-same-namespace",
            "networkpolicy-allow-dns", "networkpolicy-allow-monitoring")]
    assert paths == sorted(expected)  # no groups in the reference: no RoleBinding
    for path, data in _objects(cluster).items():
        assert data["metadata"]["namespace"] == path.split("/")[1]
        assert data["metadata"]["labels"]["aifab.dev/cluster"] == "gwangju-gb200"


def test_reference_gpu_quota(cluster):
    objects = _objects(cluster)
    foundation = objects["tenants/foundation-models/resourcequota-gpu.yaml"]["spec"]["hard"]
    research = objects["tenants/public-research/resourcequota-gpu.yaml"]["spec"]["hard"]
    # 768 nominal + borrowable through the cohort, capped at the pool's 16 x 72 GPUs
    # ... and every other GPU resource of the cluster capped at 0 (policy AF444)
    assert foundation == {"requests.nvidia.com/gpu": "1152", "requests.nvidia.com/mig-1g.23gb": "0",
                          "requests.nvidia.com/mig-2g.45gb": "0", "requests.nvidia.com/mig-3g.90gb": "0"}
    # b200-infer: 31 nodes x 8 = 248 GPUs, all-balanced (mixed) = 1g.23gb x2, 2g.45gb, 3g.90gb
    assert research == {
        "requests.nvidia.com/gpu": "1152",
        "requests.nvidia.com/mig-1g.23gb": "496",
        "requests.nvidia.com/mig-2g.45gb": "248",
        "requests.nvidia.com/mig-3g.90gb": "248",
    }
    assert all(isinstance(v, str) for v in research.values())


def _pool(cluster, name):
    return next(p for p in cluster.node_pools if p.name == name)


def test_borrowing_limit_and_no_kueue(cluster):
    tenant = dataclasses.replace(
        cluster.tenants[0], quota=MappingProxyType({"gb200": 100}),
        borrowing_limit=MappingProxyType({"gb200": 50}))
    gb200 = _pool(cluster, "gb200")
    assert tenants.admissible_gpus(cluster, tenant, gb200) == 150
    without_kueue = dataclasses.replace(cluster, kueue=None)
    assert tenants.admissible_gpus(without_kueue, tenant, gb200) == 100


def test_quota_sums_pools_per_resource(cluster):
    both = dataclasses.replace(
        cluster, kueue=None,
        node_pools=tuple(dataclasses.replace(p, mig_config=None) for p in cluster.node_pools))
    tenant = next(t for t in both.tenants if t.name == "public-research")
    assert tenants.gpu_quota(both, tenant) == {"requests.nvidia.com/gpu": str(384 + 248)}


def test_role_covers_what_kueue_admits_without_wildcards(cluster):
    role = _objects(cluster)["tenants/public-research/role-tenant-admin.yaml"]
    assert role["kind"] == "Role" and role["apiVersion"] == f"{RBAC}/v1"
    granted = {}
    for rule in role["rules"]:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field]
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted[(group, resource)] = set(rule["verbs"])
    write = {"get", "list", "watch", "create", "update", "patch", "delete"}
    for resource in ("pods", "services", "configmaps", "secrets", "persistentvolumeclaims"):
        assert granted[("", resource)] == write, resource
    assert granted[("batch", "jobs")] == granted[("jobset.x-k8s.io", "jobsets")] == write
    assert granted[("kueue.x-k8s.io", "workloads")] == {"get", "list", "watch"}
    assert granted[("kueue.x-k8s.io", "localqueues")] == {"get", "list", "watch"}
    assert granted[("resource.nvidia.com", "computedomains")] == write
    assert role["metadata"]["namespace"] == "public-research"
    for resource in ("resourceclaims", "resourceclaimtemplates"):
        assert granted[("resource.k8s.io", resource)] == write
    assert "create" in granted[("", "pods/exec")]
    assert granted[("", "pods/log")] == {"get", "list", "watch"}
    for resource in ("pods", "services", "configmaps", "persistentvolumeclaims"):
        assert "create" in granted[("", resource)]
    assert "create" in granted[("batch", "jobs")]


def test_role_binding_per_groups():
    cluster = run(ROOT / "blueprints" / "daejeon-b200.yaml").cluster
    objects = _objects(cluster)
    binding = objects["tenants/research-consortium/rolebinding-tenant-admin.yaml"]
    assert binding["roleRef"] == {"apiGroup": RBAC, "kind": "Role", "name": "tenant-admin"}
    assert binding["subjects"] == [
        {"apiGroup": RBAC, "kind": "Group", "name": "dj1:research-consortium"},
        {"apiGroup": RBAC, "kind": "Group", "name": "dj1:research-admins"},
    ]


def test_network_policies(cluster):
    objects = _objects(cluster)
    base = "tenants/foundation-models/networkpolicy-"
    deny = objects[base + "default-deny.yaml"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    same = objects[base + "allow-same-namespace.yaml"]["spec"]
    assert same["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert same["egress"] == [{"to": [{"podSelector": {}}]}]
    dns = objects[base + "allow-dns.yaml"]["spec"]
    assert dns["policyTypes"] == ["Egress"]
    (rule,) = dns["egress"]
    assert rule["to"] == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }]
    assert rule["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def test_limit_range_defaults(cluster):
    limits = _objects(cluster)["tenants/foundation-models/limitrange-defaults.yaml"]
    (entry,) = limits["spec"]["limits"]
    assert entry == {"type": "Container", "defaultRequest": {"cpu": "1", "memory": "2Gi"}}


def test_monitoring_may_scrape_named_metrics_ports_when_aifab_deploys_it(cluster):
    policies = {path: data for path, data in _objects(cluster).items()
                if data["kind"] == "NetworkPolicy"}
    scrape = policies.get("tenants/public-research/networkpolicy-allow-monitoring.yaml")
    assert monitoring.deploys_operator(cluster) and scrape is not None
    assert scrape["spec"]["policyTypes"] == ["Ingress"]
    assert scrape["spec"]["ingress"] == [{
        "from": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "monitoring"}}}],
        "ports": [{"protocol": "TCP", "port": "metrics"}]}]
    site = dataclasses.replace(cluster, gpu_operator=dataclasses.replace(
        cluster.gpu_operator, prometheus_operator="site"))
    assert not any(path.endswith("allow-monitoring.yaml") for path in _objects(site))
