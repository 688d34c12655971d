"""The kueue component: Helm release, Topologies, flavors, cohort, queues, priority classes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from aifab.expand import kueue
from aifab.expand.common import NS_KUEUE
from aifab.expand.flux import releases_by_path
from aifab.naming import HOSTNAME_LABEL, LABEL_POOL
from bundled import CLUSTER_FILES, REFERENCE, cluster_of, reference, variant

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINTS = ROOT / "blueprints"
CHANNEL = "nvidia.com/compute-domain-channel"
MIRROR = "registry.gwangju-1.ai.example.kr"


@pytest.fixture(scope="module")
def gwangju():
    return cluster_of(BLUEPRINTS / "gwangju-gb200.yaml")


def outputs(cluster) -> dict[str, Any]:
    return {o.path: o.data for o in kueue.expand(cluster)}


def by_kind(cluster, kind: str) -> dict[str, Any]:
    return {d["metadata"]["name"]: d for d in outputs(cluster).values() if d["kind"] == kind}


def test_reference_objects(gwangju):
    out = outputs(gwangju)
    kinds = sorted(d["kind"] for d in out.values())
    assert kinds == sorted(["HelmRelease", "OCIRepository", "Topology", "Topology", "ResourceFlavor",
                            "ResourceFlavor", "Cohort", "ClusterQueue", "ClusterQueue",
                            "LocalQueue", "LocalQueue", "WorkloadPriorityClass",
                            "WorkloadPriorityClass", "WorkloadPriorityClass"])
    assert "kueue/foundation-models/localqueue-default.yaml" in out
    assert all(d["apiVersion"] == "kueue.x-k8s.io/v1beta2" for d in out.values()
               if d["kind"] not in ("HelmRelease", "OCIRepository"))


def test_release(gwangju):
    rel = outputs(gwangju)["kueue/helmrelease-kueue.yaml"]
    chart = releases_by_path(kueue.expand(gwangju))["kueue/helmrelease-kueue.yaml"]
    assert chart.version == "0.19.2" and chart.namespace == NS_KUEUE
    assert chart.repository == f"oci://{MIRROR}/charts" and chart.chart == "kueue"
    image = rel["spec"]["values"]["controllerManager"]["manager"]["image"]
    assert image == {"repository": f"{MIRROR}/registry.k8s.io/kueue/kueue", "tag": "v0.19.2",
                     "pullPolicy": "IfNotPresent"}
    for part in ("backend", "frontend"):
        assert rel["spec"]["values"]["kueueViz"][part]["image"]["repository"].startswith(MIRROR + "/")
    config = yaml.safe_load(rel["spec"]["values"]["managerConfig"]["controllerManagerConfigYaml"])
    assert config["apiVersion"] == "config.kueue.x-k8s.io/v1beta2"
    assert {"cpu", "memory"} <= set(config["resources"]["excludeResourcePrefixes"])
    assert "fairSharing" not in config


def test_manager_config_admits_tenant_jobs_only_and_maps_the_channel_device_class(gwangju):
    values = outputs(gwangju)["kueue/helmrelease-kueue.yaml"]["spec"]["values"]
    config = json.loads(values["managerConfig"]["controllerManagerConfigYaml"])
    # KueueDRAIntegration (on in v0.19): an unmapped DeviceClass makes the pod inadmissible
    assert config["resources"]["deviceClassMappings"] == [
        {"name": CHANNEL, "deviceClassNames": ["compute-domain-default-channel.nvidia.com"]}]
    # operator namespaces never wait on the Kueue webhook
    assert config["managedJobsNamespaceSelector"] == {"matchExpressions": [
        {"key": "aifab.dev/tenant", "operator": "Exists"}]}
    assert config["waitForPodsReady"]["timeout"] == "5m"
    assert values["controllerManager"]["replicas"] == 2
    assert values["controllerManager"]["podDisruptionBudget"] == {"enabled": True,
                                                                  "minAvailable": 1}
    # Spectrum-X host devices and RDMA shared devices are not queued: excluded, not refused
    assert {"rdma/", "nvidia.com/hostdev"} <= set(config["resources"]["excludeResourcePrefixes"])


def test_every_tenant_namespace_carries_the_label_kueue_selects(gwangju):
    from aifab.expand import namespaces
    tenants = {o.data["metadata"]["name"]: o.data["metadata"].get("labels", {})
               for o in namespaces.expand(gwangju) if o.data["kind"] == "Namespace"}
    for tenant in gwangju.tenants:
        assert "aifab.dev/tenant" in tenants[tenant.name]
    operators = [name for name, labels in tenants.items() if "aifab.dev/tenant" not in labels]
    assert operators  # and operator namespaces do not


def test_no_compute_domains_no_device_class_mapping():
    config = json.loads(outputs(cluster_of(BLUEPRINTS / "daejeon-b200.yaml"))[
        "kueue/helmrelease-kueue.yaml"]["spec"]["values"]["managerConfig"]["controllerManagerConfigYaml"])
    assert "deviceClassMappings" not in config["resources"]


def test_no_mirror_uses_upstream():
    cluster = cluster_of(BLUEPRINTS / "busan-gb300.yaml")
    rel = outputs(cluster)["kueue/helmrelease-kueue.yaml"]
    assert rel["spec"]["values"]["controllerManager"]["manager"]["image"]["repository"] == \
        "registry.k8s.io/kueue/kueue"
    chart = releases_by_path(kueue.expand(cluster))["kueue/helmrelease-kueue.yaml"]
    assert chart.repository == "oci://registry.k8s.io/kueue/charts"


def test_topologies_and_flavors(gwangju):
    topologies = by_kind(gwangju, "Topology")
    levels = {name: [lv["nodeLabel"] for lv in t["spec"]["levels"]]
              for name, t in topologies.items()}
    assert levels == {
        "gb200-nvl72": ["aifab.dev/scalable-unit", "aifab.dev/rack", "aifab.dev/nvlink-domain",
                        HOSTNAME_LABEL],
        "dgx-b200": ["aifab.dev/scalable-unit", HOSTNAME_LABEL],
    }
    flavors = by_kind(gwangju, "ResourceFlavor")
    assert flavors["gb200"]["spec"] == {
        "nodeLabels": {LABEL_POOL: "gb200"}, "topologyName": "gb200-nvl72",
        # admitted pods tolerate the GPU taint of every pool
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}
    assert flavors["b200-infer"]["spec"]["topologyName"] == "dgx-b200"


def test_flavor_tolerations():
    cluster = cluster_of(BLUEPRINTS / "daejeon-b200.yaml")
    flavor = by_kind(cluster, "ResourceFlavor")["b200"]
    assert flavor["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}]


def test_cluster_queues_reference(gwangju):
    queues = by_kind(gwangju, "ClusterQueue")
    assert sorted(queues) == ["foundation-models", "public-research"]
    fm = queues["foundation-models"]["spec"]
    assert fm["cohortName"] == "gwangju-gb200"
    assert fm["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "foundation-models"}}
    assert fm["preemption"] == {"reclaimWithinCohort": "Any", "withinClusterQueue": "LowerPriority"}
    # gb200 runs ComputeDomains: one IMEX channel per GPU of quota beside the GPUs
    assert fm["resourceGroups"] == [{"coveredResources": [CHANNEL, "nvidia.com/gpu"], "flavors": [
        {"name": "gb200", "resources": [{"name": CHANNEL, "nominalQuota": "768"},
                                        {"name": "nvidia.com/gpu", "nominalQuota": "768"}]}]}]
    pr = queues["public-research"]["spec"]["resourceGroups"]
    assert pr[0]["flavors"][0]["resources"] == [{"name": CHANNEL, "nominalQuota": "384"},
                                                {"name": "nvidia.com/gpu", "nominalQuota": "384"}]
    # b200-infer: all-balanced (2x 1g.23gb, 1x 2g.45gb, 1x 3g.90gb per GPU), strategy mixed
    assert pr[1]["coveredResources"] == ["nvidia.com/mig-1g.23gb", "nvidia.com/mig-2g.45gb",
                                         "nvidia.com/mig-3g.90gb"]
    assert pr[1]["flavors"] == [{"name": "b200-infer", "resources": [
        {"name": "nvidia.com/mig-1g.23gb", "nominalQuota": "496"},
        {"name": "nvidia.com/mig-2g.45gb", "nominalQuota": "248"},
        {"name": "nvidia.com/mig-3g.90gb", "nominalQuota": "248"}]}]
    assert by_kind(gwangju, "Cohort")["gwangju-gb200"]["spec"] == {}
    lq = by_kind(gwangju, "LocalQueue")["default"]
    assert lq["spec"] == {"clusterQueue": lq["metadata"]["namespace"]}


def test_resource_group_invariants():
    """Every flavor lists every covered resource; a resource and a flavor are in one group."""
    for path in CLUSTER_FILES:
        for queue in by_kind(cluster_of(path), "ClusterQueue").values():
            seen_resources: list[str] = []
            seen_flavors: list[str] = []
            for group in queue["spec"]["resourceGroups"]:
                seen_resources += group["coveredResources"]
                for flavor in group["flavors"]:
                    seen_flavors.append(flavor["name"])
                    assert [r["name"] for r in flavor["resources"]] == group["coveredResources"]
            assert len(seen_resources) == len(set(seen_resources))
            assert len(seen_flavors) == len(set(seen_flavors))


def test_time_slicing_borrowing_and_fair_sharing():
    seoul = cluster_of(BLUEPRINTS / "seoul-rtxpro.yaml")
    emb = by_kind(seoul, "ClusterQueue")["embeddings"]["spec"]["resourceGroups"]
    shared = next(g for g in emb if g["coveredResources"] == ["nvidia.com/gpu"])
    # rtx-shared: time-slicing x4, quota 24 GPUs and borrowing limit 24 GPUs
    assert shared["flavors"][0]["resources"] == [
        {"name": "nvidia.com/gpu", "nominalQuota": "96", "borrowingLimit": "96"}]
    daejeon = cluster_of(BLUEPRINTS / "daejeon-b200.yaml")
    queue = by_kind(daejeon, "ClusterQueue")["research-consortium"]["spec"]
    assert queue["fairSharing"] == {"weight": "1"} and queue["cohortName"] == "daejeon"
    assert queue["resourceGroups"][0]["flavors"][0]["resources"][0]["borrowingLimit"] == "124"
    rel = outputs(daejeon)["kueue/helmrelease-kueue.yaml"]
    config = json.loads(rel["spec"]["values"]["managerConfig"]["controllerManagerConfigYaml"])
    assert config["fairSharing"]["preemptionStrategies"]
    classes = by_kind(daejeon, "WorkloadPriorityClass")
    assert classes["production-training"]["value"] == 1000
    assert classes["experiment"]["description"].startswith("Ablations")


def test_single_strategy_shares_one_group(tmp_path):
    def edit(data):
        data["spec"]["nodePools"][1]["mig"]["config"] = "all-1g.23gb"
    cluster = variant(tmp_path, edit)
    groups = by_kind(cluster, "ClusterQueue")["public-research"]["spec"]["resourceGroups"]
    assert groups == [{"coveredResources": [CHANNEL, "nvidia.com/gpu"], "flavors": [
        {"name": "gb200", "resources": [{"name": CHANNEL, "nominalQuota": "384"},
                                        {"name": "nvidia.com/gpu", "nominalQuota": "384"}]},
        {"name": "b200-infer", "resources": [  # no ComputeDomains there: no channel to borrow
            {"name": CHANNEL, "nominalQuota": "0", "borrowingLimit": "0"},
            {"name": "nvidia.com/gpu", "nominalQuota": "1736"}]},
    ]}]


def test_no_kueue_no_output(tmp_path):
    cluster = variant(tmp_path, lambda data: data["spec"].pop("kueue"))
    assert list(kueue.expand(cluster)) == []


@pytest.mark.parametrize("name", [p.name for p in CLUSTER_FILES])
def test_objects_match_reference_crds(name):
    schemas = {}
    for data in outputs(cluster_of(BLUEPRINTS / name)).values():
        if data["kind"] in ("HelmRelease", "OCIRepository"):  # Flux's, verified elsewhere
            continue
        kind = data["kind"]
        if kind not in schemas:
            plural = {"ClusterQueue": "clusterqueues", "LocalQueue": "localqueues",
                      "ResourceFlavor": "resourceflavors", "Topology": "topologies",
                      "Cohort": "cohorts", "WorkloadPriorityClass": "workloadpriorityclasses"}[kind]
            crd = yaml.safe_load(reference(REFERENCE / "crds" / f"kueue.x-k8s.io_{plural}.yaml")
                                 .read_text(encoding="utf-8"))
            version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta2")
            assert version["served"]
            schemas[kind] = version["schema"]["openAPIV3Schema"]
        jsonschema.Draft202012Validator(schemas[kind]).validate(json.loads(json.dumps(data)))
