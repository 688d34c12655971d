"""Pods through the generated ValidatingAdmissionPolicies of the bundled clusters, judged by
aifab.verify.vap as the API server would on CREATE (docs/policies.md, policy 9)."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from aifab.expand import expand
from aifab.expand.namespaces import PSA
from aifab.verify.vap import Refusal, compile_problems, refusals
from bundled import BLUEPRINTS, cluster_of

AIR_GAPPED = "gwangju-gb200.yaml"  # air-gapped, two tenants, MIG pools
CONNECTED = "seoul-rtxpro.yaml"


@cache
def _generated(blueprint: str) -> tuple[Any, list, list, dict[str, Any]]:
    cluster = cluster_of(BLUEPRINTS / blueprint)
    data = [out.data for out in expand(cluster) if out.kind == "object"]
    policies = [d for d in data if d["kind"] == "ValidatingAdmissionPolicy"]
    bindings = [d for d in data if d["kind"] == "ValidatingAdmissionPolicyBinding"]
    namespaces = {d["metadata"]["name"]: d for d in data if d["kind"] == "Namespace"}
    return cluster, policies, bindings, namespaces


def _tenant(blueprint: str) -> str:
    cluster = _generated(blueprint)[0]
    return min(t.name for t in cluster.tenants)


def _image(blueprint: str, name: str = "nvcr.io/nvidia/pytorch:25.01-py3") -> str:
    mirror = _generated(blueprint)[0].sovereignty.registry_mirror
    return f"{mirror}/{name}" if mirror else name


def _pod(namespace: str, image: str, container: dict[str, Any] | None = None,
         **spec: Any) -> dict[str, Any]:
    main = {"name": "main", "image": image, **(container or {})}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "job-0", "namespace": namespace},
            "spec": {"containers": [main], **spec}}


def _judge(blueprint: str, obj: dict[str, Any]) -> list[Refusal]:
    _, policies, bindings, namespaces = _generated(blueprint)
    namespace = obj["metadata"].get("namespace")
    ns = namespaces.get(namespace) or {"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": namespace}}
    return refusals(policies, bindings, obj, ns)


NCCL = {"securityContext": {"runAsUser": 0, "capabilities": {"add": ["IPC_LOCK"]}},
        "resources": {"limits": {"nvidia.com/gpu": 4}}}

# (case, container fields, pod spec fields, policy that refuses, words of its message)
TENANT_REFUSED = [
    ("privileged", {"securityContext": {"privileged": True}}, {},
     "aifab-tenant-baseline", "privileged"),
    ("hostPath", {}, {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]},
     "aifab-tenant-baseline", "hostPath"),
    ("hostNetwork", {}, {"hostNetwork": True}, "aifab-tenant-baseline", "hostNetwork"),
    ("hostPID", {}, {"hostPID": True}, "aifab-tenant-baseline", "hostPID"),
    ("SYS_ADMIN", {"securityContext": {"capabilities": {"add": ["IPC_LOCK", "SYS_ADMIN"]}}},
     {}, "aifab-tenant-baseline", "IPC_LOCK may be added (main)"),
    ("hostPort", {"ports": [{"containerPort": 8080, "hostPort": 8080}]}, {},
     "aifab-tenant-baseline", "host ports"),
    ("unsafe sysctl", {}, {"securityContext": {"sysctls": [{"name": "kernel.msgmax",
                                                            "value": "1"}]}},
     "aifab-tenant-baseline", "sysctls"),
    ("seccomp Unconfined", {"securityContext": {"seccompProfile": {"type": "Unconfined"}}},
     {}, "aifab-tenant-baseline", "seccomp"),
    ("procMount", {"securityContext": {"procMount": "Unmasked"}}, {},
     "aifab-tenant-baseline", "procMount"),
    ("SELinux role", {"securityContext": {"seLinuxOptions": {"role": "sysadm_r"}}}, {},
     "aifab-tenant-baseline", "SELinux"),
    ("probe host", {"livenessProbe": {"httpGet": {"host": "10.0.0.1", "port": 80}}}, {},
     "aifab-tenant-baseline", "host"),
]


@pytest.mark.parametrize("blueprint", [AIR_GAPPED, CONNECTED])
def test_an_nccl_pod_running_as_root_with_ipc_lock_is_admitted_in_a_tenant_namespace(
        blueprint: str) -> None:
    tenant = _tenant(blueprint)
    assert _judge(blueprint, _pod(tenant, _image(blueprint), NCCL)) == []
    labels = _generated(blueprint)[3][tenant]["metadata"]["labels"]
    # Pod Security enforces nothing the policy allows away (Baseline refuses IPC_LOCK)
    assert labels[f"{PSA}/enforce"] == "privileged"
    assert labels[f"{PSA}/warn"] == labels[f"{PSA}/audit"] == "baseline"


@pytest.mark.parametrize(("case", "container", "spec", "policy", "words"), TENANT_REFUSED,
                         ids=[case[0] for case in TENANT_REFUSED])
def test_what_baseline_refuses_is_refused_in_a_tenant_namespace(
        case: str, container: dict, spec: dict, policy: str, words: str) -> None:
    tenant = _tenant(AIR_GAPPED)
    found = _judge(AIR_GAPPED, _pod(tenant, _image(AIR_GAPPED), container, **spec))
    assert [r.policy for r in found] == [policy], found
    assert words in found[0].message


def test_init_and_ephemeral_containers_are_judged_too() -> None:
    tenant = _tenant(AIR_GAPPED)
    bad = {"name": "debug", "image": _image(AIR_GAPPED),
           "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}
    for field in ("initContainers", "ephemeralContainers"):
        found = _judge(AIR_GAPPED, _pod(tenant, _image(AIR_GAPPED), **{field: [bad]}))
        assert [r.policy for r in found] == ["aifab-tenant-baseline"], field
        assert "(debug)" in found[0].message


@pytest.mark.parametrize("blueprint", [AIR_GAPPED, CONNECTED])
def test_gpus_outside_tenant_and_operator_namespaces_are_refused(blueprint: str) -> None:
    gpu = {"resources": {"limits": {"nvidia.com/gpu": 1}}}
    found = _judge(blueprint, _pod("default", _image(blueprint), gpu))
    assert [r.policy for r in found] == ["aifab-gpu-pods"]
    assert "tenant" in found[0].message
    mig = {"resources": {"requests": {"nvidia.com/mig-1g.23gb": 1}}}
    assert [r.policy for r in _judge(blueprint, _pod("team-x", _image(blueprint), mig))] \
        == ["aifab-gpu-pods"]
    assert _judge(blueprint, _pod("gpu-operator", _image(blueprint), gpu)) == []
    assert _judge(blueprint, _pod(_tenant(blueprint), _image(blueprint), gpu)) == []
    cpu = {"resources": {"limits": {"cpu": 2}}}
    assert _judge(blueprint, _pod("default", _image(blueprint), cpu)) == []


def test_claims_of_nvidia_gpu_device_classes_are_refused_outside_tenants() -> None:
    def claim(namespace: str, device_class: str) -> dict[str, Any]:
        return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
                "metadata": {"name": "gpus", "namespace": namespace},
                "spec": {"spec": {"devices": {"requests": [
                    {"name": "gpu", "exactly": {"deviceClassName": device_class}}]}}}}

    found = _judge(AIR_GAPPED, claim("default", "mig.nvidia.com"))
    assert [r.policy for r in found] == ["aifab-gpu-claim-templates"]
    assert _judge(AIR_GAPPED, claim(_tenant(AIR_GAPPED), "gpu.nvidia.com")) == []
    assert _judge(AIR_GAPPED, claim("default", "compute-domain-default-channel.nvidia.com")) == []


def test_an_image_outside_the_mirror_is_refused_in_an_air_gapped_cluster_only() -> None:
    tenant = _tenant(AIR_GAPPED)
    outside = _pod(tenant, "docker.io/library/ubuntu:24.04")
    found = _judge(AIR_GAPPED, outside)
    assert [r.policy for r in found] == ["aifab-image-mirror"]
    assert "main" in found[0].message and "mirror" in found[0].message
    assert _judge(AIR_GAPPED, _pod(tenant, _image(AIR_GAPPED))) == []
    # the distribution's own namespaces keep the images its installer provides
    assert _judge(AIR_GAPPED, _pod("kube-system", "registry.k8s.io/kube-proxy:v1.34.0")) == []
    connected = _pod(_tenant(CONNECTED), "docker.io/library/ubuntu:24.04")
    assert _judge(CONNECTED, connected) == []


def test_every_generated_expression_compiles() -> None:
    for blueprint in (AIR_GAPPED, CONNECTED):
        policies = _generated(blueprint)[1]
        assert {p["metadata"]["name"] for p in policies} >= {
            "aifab-tenant-baseline", "aifab-gpu-pods"}
        assert [problem for p in policies for problem in compile_problems(p)] == []


def test_a_namespace_cannot_borrow_an_operators_name_by_label() -> None:
    """The API server sets kubernetes.io/metadata.name to the namespace's own name over any
    label, so a namespace labelled as the GPU Operator's is still outside the operators."""
    _, policies, bindings, _ = _generated(AIR_GAPPED)
    forged = {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "evil", "labels": {"kubernetes.io/metadata.name": "gpu-operator"}}}
    pod = _pod("evil", _image(AIR_GAPPED), {"resources": {"limits": {"nvidia.com/gpu": 1}}})
    assert [r.policy for r in refusals(policies, bindings, pod, forged)] == ["aifab-gpu-pods"]


@pytest.mark.parametrize(("operation", "sub", "changed", "judged"), [
    ("CREATE", "", False, True),
    ("UPDATE", "", False, False),  # labels, finalizers, scheduling gates: never refused
    ("UPDATE", "", True, True),  # a new image
    ("UPDATE", "ephemeralcontainers", False, True),
])
def test_pod_policies_judge_creation_and_spec_changes_only(operation: str, sub: str,
                                                            changed: bool, judged: bool) -> None:
    """Pods created before a policy or a binding keep their metadata updates (the Job
    controller's finalizer, Kueue's scheduling gate), as Pod Security lets them."""
    import celpy

    from aifab.verify.cel import environment

    _, policies, _, _ = _generated(AIR_GAPPED)
    pod_policies = [p for p in policies if "pods" in
                    p["spec"]["matchConstraints"]["resourceRules"][0]["resources"]]
    assert len(pod_policies) == 3
    old = _pod("t", "registry/a:1")
    new = _pod("t", "registry/b:2" if changed else "registry/a:1")
    new["metadata"]["labels"] = {"kueue.x-k8s.io/admitted": "true"}
    activation = {"request": celpy.json_to_cel({"operation": operation, "subResource": sub}),
                  "object": celpy.json_to_cel(new), "oldObject": celpy.json_to_cel(old)}
    env = environment()
    for policy in pod_policies:
        [condition] = policy["spec"]["matchConditions"]
        result = env.program(env.compile(condition["expression"])).evaluate(activation)
        assert bool(result) is judged, policy["metadata"]["name"]


def test_prepare_compiles_what_the_policy_check_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    """aifab generate prepares the admission policies' programs before its workers fork; the
    check then compiles nothing the workers would each compile again."""
    from aifab.verify import cel, policies, vap
    from aifab.verify.policies import admission_policies

    cluster = cluster_of(BLUEPRINTS / "daejeon-b200.yaml")  # air-gapped: the mirror policy too
    outputs = list(expand(cluster))
    compiled: list[str] = []

    def counted(text: str, library: str = cel.CRD) -> Any:
        compiled.append(text)
        return cel.compiled.__wrapped__(text, library)

    monkeypatch.setattr(vap, "compiled", counted)
    admission_policies.prepare([cluster])
    prepared = set(compiled)
    assert len(prepared) > 30
    compiled.clear()
    assert list(policies.check(outputs, cluster, "out")) == []
    assert set(compiled) <= prepared and compiled
