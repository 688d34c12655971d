"""compute-domains: the DRA driver release and one ComputeDomain per rack and tenant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from aifab.expand import compute_domains
from aifab.expand.common import LABEL_POOL, NS_DRA_DRIVER
from aifab.naming import compute_domain_name
from bundled import REFERENCE, cluster_of, reference

BLUEPRINTS = Path(__file__).resolve().parents[1] / "blueprints"
CD_CRD = REFERENCE / "crds" / "resource.nvidia.com_computedomains.yaml"
MIRROR = "registry.gwangju-1.ai.example.kr"

# Key paths of NVIDIA/k8s-dra-driver-gpu deployments/helm/nvidia-dra-driver-gpu/values.yaml (R4)
# that the component sets; read from the upstream file (the 25.3 and later versions all have them).
CHART_KEYS = {
    ("nvidiaDriverRoot",),
    ("image", "repository"),
    ("resources", "gpus", "enabled"),
    ("resources", "computeDomains", "enabled"),
    ("kubeletPlugin", "affinity"),
    ("kubeletPlugin", "tolerations"),
}


@pytest.fixture(scope="module")
def gwangju():
    return cluster_of(BLUEPRINTS / "gwangju-gb200.yaml")


def outputs(cluster) -> dict[str, Any]:
    return {o.path: o for o in compute_domains.expand(cluster)}


def leaf_paths(values: dict[str, Any], path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Key paths down to the chart keys we know (stop at the ones in CHART_KEYS)."""
    if path in CHART_KEYS or not isinstance(values, dict):
        return {path}
    paths = set()
    for key, value in values.items():
        paths |= leaf_paths(value, path + (key,))
    return paths


def test_reference_counts_and_names(gwangju):
    out = outputs(gwangju)
    domains = [o for o in out.values() if o.data["kind"] == "ComputeDomain"]
    pool = gwangju.pool("gb200")
    assert pool.rack_count == 16
    assert len(domains) == 32  # 16 racks x 2 tenants with gb200 quota
    assert "compute-domains/helmrelease-nvidia-dra-driver-gpu.yaml" in out
    assert len(out) == 33
    for tenant in ("foundation-models", "public-research"):
        names = sorted(o.data["metadata"]["name"] for o in domains
                       if o.data["metadata"]["namespace"] == tenant)
        assert names == [compute_domain_name(pool, rack) for rack in range(1, 17)]
    assert "compute-domains/foundation-models/computedomain-gb200-nvl001.yaml" in out
    assert "compute-domains/public-research/computedomain-gb200-nvl016.yaml" in out


def test_compute_domain_spec(gwangju):
    data = outputs(gwangju)["compute-domains/public-research/computedomain-gb200-nvl007.yaml"].data
    assert data["apiVersion"] == "resource.nvidia.com/v1beta1"
    assert data["metadata"]["labels"][LABEL_POOL] == "gb200"
    assert data["spec"] == {
        "numNodes": 0,
        "channel": {"allocationMode": "Single",
                    "resourceClaimTemplate": {"name": "gb200-nvl007-channel"}},
    }


def test_release(gwangju):
    data = outputs(gwangju)["compute-domains/helmrelease-nvidia-dra-driver-gpu.yaml"].data
    assert data["chart"] == "nvidia-dra-driver-gpu"
    assert data["metadata"]["namespace"] == NS_DRA_DRIVER
    assert data["version"] == gwangju.catalog.charts["nvidia-dra-driver-gpu"]["version"] == "25.12.0"
    assert data["repository"] == "oci://registry.gwangju-1.ai.example.kr/charts"
    values = data["values"]
    assert values["resources"] == {"gpus": {"enabled": False}, "computeDomains": {"enabled": True}}
    assert values["image"]["repository"] == f"{MIRROR}/nvcr.io/nvidia/k8s-dra-driver-gpu"
    assert values["nvidiaDriverRoot"] == "/run/nvidia/driver"
    terms = values["kubeletPlugin"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [
        {"key": LABEL_POOL, "operator": "In", "values": ["gb200"]}]}]
    assert leaf_paths(values) <= CHART_KEYS


def test_no_compute_domains_no_output():
    assert outputs(cluster_of(BLUEPRINTS / "daejeon-b200.yaml")) == {}
    assert outputs(cluster_of(BLUEPRINTS / "seoul-rtxpro.yaml")) == {}


def test_busan_counts():
    cluster = cluster_of(BLUEPRINTS / "busan-gb300.yaml")
    domains = [o for o in compute_domains.expand(cluster) if o.data["kind"] == "ComputeDomain"]
    pool = next(p for p in cluster.node_pools if p.compute_domains)
    tenants = [t for t in cluster.tenants if t.quota.get(pool.name, 0) > 0]
    assert len(domains) == pool.rack_count * len(tenants)


def test_tenant_without_quota_gets_none(tmp_path):
    data = yaml.safe_load((BLUEPRINTS / "gwangju-gb200.yaml").read_text(encoding="utf-8"))
    data["spec"]["tenants"][1]["quota"] = {"b200-infer": 248}
    data["spec"]["nodePools"][0]["taints"] = [
        {"key": "aifab.dev/dedicated", "value": "training", "effect": "NoSchedule"}]
    path = tmp_path / "one-tenant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    cluster = cluster_of(path)
    out = outputs(cluster)
    domains = [o.data for o in out.values() if o.data["kind"] == "ComputeDomain"]
    assert len(domains) == 16
    assert {d["metadata"]["namespace"] for d in domains} == {"foundation-models"}
    values = out["compute-domains/helmrelease-nvidia-dra-driver-gpu.yaml"].data["values"]
    assert values["kubeletPlugin"]["tolerations"] == [
        {"key": "aifab.dev/dedicated", "operator": "Equal", "value": "training",
         "effect": "NoSchedule"}]
    assert leaf_paths(values) <= CHART_KEYS


def test_against_crd(gwangju):
    crd = yaml.safe_load(reference(CD_CRD).read_text(encoding="utf-8"))
    assert crd["spec"]["scope"] == "Namespaced"
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")
    schema = version["schema"]["openAPIV3Schema"]
    validator = jsonschema.Draft202012Validator(schema)
    spec_props = schema["properties"]["spec"]["properties"]
    for output in compute_domains.expand(gwangju):
        data = output.data
        if data["kind"] != "ComputeDomain":
            continue
        assert data["apiVersion"] == f"{crd['spec']['group']}/v1beta1"
        assert [e.message for e in validator.iter_errors(data)] == []
        assert set(data["spec"]) <= set(spec_props)
        assert set(data["spec"]["channel"]) <= set(spec_props["channel"]["properties"])
