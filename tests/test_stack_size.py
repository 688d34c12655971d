"""Small, ordered stacks: under Pulumi's mocks a cluster's stack declares at most 1,000
resources, each under the ComponentResource of its component, releases before the objects
their CRDs serve, the DRA driver after the GPU Operator.

Runs the stack program of test_deploy (its mocks record every registration, its dependencies
and its parent)."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import pytest
import yaml
from test_deploy import (
    GENERATED,
    PROVIDER_TYPE,
    Run,
    by_kind,
    deploy,
    helm_releases,
)

from aifab.deploy.resources import (
    COMPONENT_TYPE,
    OPERATOR_RELEASES,
    _release_order,
    object_name,
)
from aifab.deploy.tree import load_cluster_tree
from aifab.pipeline import flatten, run
from bundled import BLUEPRINTS

REFERENCE_CLUSTER = "gwangju-gb200"
MAX_RESOURCES = 1_000


@cache
def largest_national_cluster() -> str:
    """The cluster of the national fleet with the most nodes."""
    clusters = [r.cluster for r in flatten([run(BLUEPRINTS / "korea-national.yaml")])
                if r.cluster is not None]
    assert len(clusters) > 1
    return max(clusters, key=lambda c: sum(p.node_count for p in c.node_pools)).name


@cache
def stack(cluster: str) -> Run:
    outcome = deploy(cluster)
    assert outcome.error is None, outcome.error
    return outcome


@pytest.mark.parametrize("cluster", ["reference", "largest national"])
def test_a_stack_declares_at_most_1000_resources(cluster: str) -> None:
    name = REFERENCE_CLUSTER if cluster == "reference" else largest_national_cluster()
    outcome = stack(name)
    assert not [n for n in outcome.resources if n.startswith("node/")]
    assert 0 < outcome.count <= MAX_RESOURCES, (name, outcome.count)


def test_every_resource_has_a_component_parent() -> None:
    outcome = stack(REFERENCE_CLUSTER)
    components = {n for n, r in outcome.resources.items() if r.typ == COMPONENT_TYPE}
    assert {"namespaces", "gpu-operator", "network-operator", "kueue", "jobset", "monitoring",
            "compute-domains", "storage", "tenants/foundation-models",
            "tenants/public-research"} <= components
    for name, recorded in outcome.resources.items():
        if recorded.typ in (PROVIDER_TYPE, COMPONENT_TYPE):
            assert outcome.parents[name][0] == "pulumi:pulumi:Stack", name
        else:
            assert outcome.parents.get(name, ("", ""))[0] == COMPONENT_TYPE, name
    # a file's resource is under the component of its folder
    assert outcome.parents["release/gpu-operator"] == (COMPONENT_TYPE, "gpu-operator")
    assert outcome.parents["Namespace/gpu-operator"] == (COMPONENT_TYPE, "namespaces")
    assert outcome.parents["LimitRange/foundation-models/defaults"] == (
        COMPONENT_TYPE, "tenants/foundation-models")


def test_the_dra_driver_release_waits_for_the_gpu_operator() -> None:
    outcome = stack(REFERENCE_CLUSTER)
    assert "release/gpu-operator" in outcome.dependencies["release/nvidia-dra-driver-gpu"]
    assert outcome.resources["release/nvidia-dra-driver-gpu"].inputs["timeout"] == 1800


def test_the_network_operator_release_waits_for_the_gpu_operator() -> None:
    """Its chart creates NodeFeatureRules (Mellanox/network-operator v26.4.0
    deployment/network-operator/templates/nodefeaturerules.yaml) while its own NFD subchart is
    off: their CRD comes with the GPU Operator's NFD, so Helm would refuse it before."""
    outcome = stack(REFERENCE_CLUSTER)
    assert "release/gpu-operator" in outcome.dependencies["release/network-operator"]
    release = yaml.safe_load((GENERATED / REFERENCE_CLUSTER / "network-operator"
                              / "helmrelease-network-operator.yaml").read_text())
    assert {"name": "gpu-operator", "namespace": "gpu-operator"} in release["spec"]["dependsOn"]


def test_custom_resources_wait_for_the_release_that_serves_their_crd() -> None:
    outcome = stack(REFERENCE_CLUSTER)
    objects, _, _ = by_kind(REFERENCE_CLUSTER)
    served = 0
    for data in objects:
        group = data["apiVersion"].rpartition("/")[0]
        if group in OPERATOR_RELEASES:
            served += 1
            release = f"release/{OPERATOR_RELEASES[group]}"
            assert release in outcome.dependencies[object_name(data)], object_name(data)
    assert served > 10


def test_flux_objects_are_read_into_releases_not_applied() -> None:
    outcome = stack(REFERENCE_CLUSTER)
    releases = helm_releases(REFERENCE_CLUSTER)
    assert {f"release/{r.name}" for r in releases} == {
        n for n, r in outcome.resources.items() if r.typ == "kubernetes:helm.sh/v3:Release"}
    assert not [n for n, r in outcome.resources.items()
                if "fluxcd.io" in r.typ]  # no HelmRelease, OCIRepository or HelmRepository


def test_node_feature_rules_wait_for_the_gpu_operator() -> None:
    """A pool's NodeFeatureRule (nfd.k8s-sigs.io) is served by the NFD subchart of the GPU
    Operator; no node is a resource of its own."""
    outcome = stack(REFERENCE_CLUSTER)
    rules = [n for n, r in outcome.resources.items()
             if r.typ == "kubernetes:nfd.k8s-sigs.io/v1alpha1:NodeFeatureRule"]
    assert rules == ["NodeFeatureRule/aifab-pool-b200-infer", "NodeFeatureRule/aifab-pool-gb200"]
    for name in rules:
        assert "release/gpu-operator" in outcome.dependencies[name]
        assert outcome.parents[name] == (COMPONENT_TYPE, "node-pools")
    assert not [r for r in outcome.resources.values() if r.typ.endswith(":NodePatch")]

def test_release_order_follows_depends_on_and_survives_a_cycle() -> None:
    entries = load_cluster_tree(GENERATED, REFERENCE_CLUSTER).releases
    order = [e.name for e in _release_order(entries)]
    assert order.index("gpu-operator") < order.index("nvidia-dra-driver-gpu")
    assert sorted(order) == sorted(e.name for e in entries)
    gpu = next(e for e in entries if e.name == "gpu-operator")
    dra = next(e for e in entries if e.name == "nvidia-dra-driver-gpu")
    looped = replace(gpu, helm=replace(gpu.helm, depends_on=((dra.name, dra.namespace),)))
    assert sorted(e.name for e in _release_order([looped, dra])) == sorted([gpu.name, dra.name])
