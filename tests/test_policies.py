"""Policies (aifab.verify.policies): each fails on hand-built outputs that break it, with exactly
its code, passes on outputs that keep it, and the real outputs of every bundled blueprint keep
them all. A canary credential planted in a blueprint must be caught in the generated output."""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from aifab.expand import admission, expand
from aifab.expand.common import Output, obj
from aifab.pipeline import blueprint_files, flatten, run
from aifab.verify import policies
from aifab.verify.policies import CODES, pins
from aifab.verify.policies.gpu_quota import advertised_gpu_resources
from aifab.verify.policies.pod_security import PSA_ENFORCE

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINTS = ROOT / "blueprints"
REFERENCE = BLUEPRINTS / "gwangju-gb200.yaml"  # air-gapped, two tenants, MIG and NVL72 pools
DOCS = ROOT / "docs" / "policies.md"
FOLDER = "generated/gwangju-gb200"
RBAC = "rbac.authorization.k8s.io"

CANARY_TOKEN = "ghp_" + "Zq7Rk2Lm9Xw4Tb8Nc1Vd6Hs3Jf5Gp0Ya2Ue7a"  # 36 characters after ghp_
CANARY_PEM = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
              "-----END PRIVATE KEY-----\n")


@pytest.fixture(scope="module")
def cluster():
    result = run(REFERENCE)
    assert result.cluster is not None and result.ok
    # give the tenants identity-provider groups, so RBAC subjects can be theirs
    tenants = tuple(dataclasses.replace(t, groups=(f"idp:{t.name}",))
                    for t in result.cluster.tenants)
    return dataclasses.replace(result.cluster, tenants=tenants)


@pytest.fixture(scope="module")
def tenants(cluster):
    names = sorted(t.name for t in cluster.tenants)
    assert names == ["foundation-models", "public-research"]
    return names


def mirror(cluster) -> str:
    assert cluster.sovereignty.air_gapped and cluster.sovereignty.registry_mirror
    return cluster.sovereignty.registry_mirror


# -- hand-built outputs ---------------------------------------------------------------------------

def namespace(name: str, level: str | None = "restricted") -> Output:
    labels = {PSA_ENFORCE: level} if level is not None else {}
    return obj("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                              "metadata": {"name": name, "labels": labels}})


def network_policy(ns: str, name: str = "default-deny", **spec) -> Output:
    body = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], **spec}
    return obj("tenants", {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                           "metadata": {"name": name, "namespace": ns}, "spec": body})


def quota(ns: str, hard: dict[str, str]) -> Output:
    return obj("tenants", {"apiVersion": "v1", "kind": "ResourceQuota",
                           "metadata": {"name": "gpu", "namespace": ns}, "spec": {"hard": hard}})


def full_quota(cluster) -> dict[str, str]:
    return {f"requests.{r}": "8" for r in advertised_gpu_resources(cluster)}


def base(cluster) -> list[Output]:
    """What every policy asks for, and nothing else: the operator and tenant namespaces, a
    default deny and a full GPU quota per tenant, the tenant admission policy binding them."""
    outs = [namespace("gpu-operator", "privileged"), *tenant_admission(cluster)]
    for tenant in cluster.tenants:
        outs += [namespace(tenant.name), network_policy(tenant.name),
                 quota(tenant.name, full_quota(cluster))]
    return outs


def tenant_admission(cluster) -> list[Output]:
    """aifab's tenant admission policy, its binding selecting the tenants' namespaces by name."""
    policy = next(o for o in admission.expand(cluster) if o.data["metadata"]["name"]
                  == admission.TENANT_BASELINE)
    names = sorted(t.name for t in cluster.tenants)
    binding = obj("admission", {
        "apiVersion": admission.API, "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": admission.TENANT_BASELINE},
        "spec": {"policyName": admission.TENANT_BASELINE, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchExpressions": [
                     {"key": "kubernetes.io/metadata.name", "operator": "In",
                      "values": names}]}}}})
    return [policy, binding]


def deployment(cluster, ns: str, *, pod: dict | None = None, container: dict | None = None,
               kind: str = "Deployment", image: str | None = None) -> Output:
    main = {"name": "main", "image": image or f"{mirror(cluster)}/nvcr.io/nvidia/cuda:12.8.0-base",
            **(container or {})}
    return obj("apps", {"apiVersion": "apps/v1", "kind": kind,
                        "metadata": {"name": "app", "namespace": ns},
                        "spec": {"template": {"spec": {"containers": [main], **(pod or {})}}}})


def release(cluster, values: dict, *, repository: str | None = None,
            version: str = "v1.0.0") -> list[Output]:
    """A Flux HelmRelease of chart `extra` and its source (an OCIRepository or HelmRepository)."""
    repository = repository or cluster.sovereignty.chart_mirror
    meta = {"name": "extra", "namespace": "gpu-operator"}
    spec: dict = {"interval": "1h", "values": values}
    if repository.startswith("oci://"):
        source = {"kind": "OCIRepository", "spec": {"interval": "1h", "url": f"{repository}/extra",
                                                     "ref": {"tag": version}}}
        spec["chartRef"] = {"kind": "OCIRepository", "name": "extra"}
    else:
        source = {"kind": "HelmRepository", "spec": {"url": repository}}
        spec["chart"] = {"spec": {"chart": "extra", "version": version, "sourceRef": {
            "kind": "HelmRepository", "name": "extra"}}}
    return [
        Output(f"extra/{source['kind'].lower()}-extra.yaml", "object", {
            "apiVersion": "source.toolkit.fluxcd.io/v1", "metadata": meta, **source}),
        Output("extra/helmrelease-extra.yaml", "release", {
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": meta,
            "spec": spec})]


def rbac(kind: str, ns: str | None, **body) -> Output:
    meta = {"name": "x"} | ({"namespace": ns} if ns else {})
    return obj("rbac", {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": meta, **body})


def check(cluster, *extra: Output | list[Output], drop: tuple[str, ...] = ()) -> list:
    outs = [o for o in base(cluster) if o.path not in drop]
    outs += [o for e in extra for o in (e if isinstance(e, list) else [e])]
    return list(policies.check(outs, cluster, FOLDER))


def codes(findings) -> set[str]:
    return {f.code for f in findings}


def only(findings, code: str, count: int = 1):
    """Exactly `count` findings, all with `code`, in the right file shape."""
    assert [f.code for f in findings] == [code] * count, [(f.code, f.message) for f in findings]
    for f in findings:
        assert f.file.startswith(FOLDER + "/") and (f.line, f.col) == (1, 1)
        assert f.message and f.hint and f.is_error
    return findings[0]


def test_base_is_clean(cluster):
    assert check(cluster) == []


# -- 1. privileged pods ---------------------------------------------------------------------------

@pytest.mark.parametrize("container, path_end", [
    ({"securityContext": {"privileged": True}}, ("securityContext", "privileged")),
    ({"securityContext": {"allowPrivilegeEscalation": True}},
     ("securityContext", "allowPrivilegeEscalation")),
    ({"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}},
     ("securityContext", "capabilities", "add", 0)),
])
def test_privileged_container_in_tenant_namespace(cluster, tenants, container, path_end):
    found = only(check(cluster, deployment(cluster, tenants[0], container=container)), "AF430")
    assert found.path == ("spec", "template", "spec", "containers", 0) + path_end
    assert found.file == f"{FOLDER}/apps/{tenants[0]}/deployment-app.yaml"


@pytest.mark.parametrize("pod, path", [
    ({"hostNetwork": True}, ("hostNetwork",)),
    ({"hostPID": True}, ("hostPID",)),
    ({"hostIPC": True}, ("hostIPC",)),
])
def test_host_namespaces_in_tenant_namespace(cluster, tenants, pod, path):
    found = only(check(cluster, deployment(cluster, tenants[0], pod=pod)), "AF431")
    assert found.path == ("spec", "template", "spec") + path


def test_host_port_in_tenant_namespace(cluster, tenants):
    out = deployment(cluster, tenants[0], container={"ports": [{"containerPort": 80,
                                                                "hostPort": 80}]})
    assert only(check(cluster, out), "AF431").path[-1] == "hostPort"


def test_host_path_in_tenant_namespace(cluster, tenants):
    out = deployment(cluster, tenants[1], kind="DaemonSet", pod={
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}]})
    found = only(check(cluster, out), "AF432")
    assert found.path == ("spec", "template", "spec", "volumes", 0, "hostPath")


def test_pod_templates_are_found_anywhere(cluster, tenants):
    """A CronJob's job template, a bare Pod, a custom resource embedding a pod template, and an
    object without a namespace (it lands in `default`)."""
    priv = {"name": "c", "image": f"{mirror(cluster)}/x/y:1",
            "securityContext": {"privileged": True}}
    cron = obj("apps", {"apiVersion": "batch/v1", "kind": "CronJob",
                        "metadata": {"name": "c", "namespace": tenants[0]},
                        "spec": {"jobTemplate": {"spec": {"template": {"spec": {
                            "containers": [priv]}}}}}})
    pod = obj("apps", {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": "p", "namespace": tenants[0]},
                       "spec": {"containers": [priv]}})
    custom = obj("apps", {"apiVersion": "example.com/v1", "kind": "Trainer",
                          "metadata": {"name": "t", "namespace": tenants[0]},
                          "spec": {"workers": [{"template": {"spec": {"initContainers": [priv],
                                                                      "containers": []}}}]}})
    nowhere = obj("apps", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "d"},
                           "spec": {"containers": [priv]}})
    found = check(cluster, cron, pod, custom, nowhere)
    assert [f.code for f in found] == ["AF430"] * 4
    assert "namespace 'default'" in found[3].message
    assert found[2].path == ("spec", "workers", 0, "template", "spec", "initContainers", 0,
                             "securityContext", "privileged")


def test_privileged_pods_pass_in_operator_namespaces(cluster):
    out = deployment(cluster, "gpu-operator", kind="DaemonSet", pod={
        "hostNetwork": True, "hostPID": True,
        "volumes": [{"name": "dev", "hostPath": {"path": "/dev"}}]},
        container={"securityContext": {"privileged": True, "allowPrivilegeEscalation": True,
                                       "capabilities": {"add": ["SYS_ADMIN"]}}})
    assert check(cluster, out) == []


def test_safe_tenant_pod_and_release_values_pass(cluster, tenants):
    restricted = deployment(cluster, tenants[0], container={"securityContext": {
        "privileged": False, "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}})
    # Helm values are not pods: the chart renders them (and they install operators)
    values = release(cluster, {"daemonset": {"containers": [{"name": "x", "securityContext": {
        "privileged": True}}], "hostNetwork": True}})
    assert check(cluster, restricted, values) == []


# -- 2. Pod Security Admission labels -------------------------------------------------------------

def test_namespace_without_enforce_level(cluster, tenants):
    bare = namespace(tenants[0], None)
    found = only(check(cluster, bare, drop=(bare.path,)), "AF433")
    assert found.path == ("metadata", "labels", PSA_ENFORCE)


def test_namespace_with_unknown_level(cluster):
    assert only(check(cluster, namespace("gpu-operator", "permissive"),
                      drop=("namespaces/namespace-gpu-operator.yaml",)), "AF433")


def test_tenant_namespace_without_namespace_object(cluster, tenants):
    found = only(check(cluster, drop=(f"namespaces/namespace-{tenants[1]}.yaml",)), "AF433")
    assert found.file == f"{FOLDER}/namespaces/namespace-{tenants[1]}.yaml"


def test_privileged_tenant_namespace(cluster, tenants):
    """Privileged only under the tenant admission policy; unbound, both policies say so."""
    out = namespace(tenants[0], "privileged")
    assert check(cluster, out, drop=(out.path,)) == []
    binding = "admission/validatingadmissionpolicybinding-aifab-tenant-baseline.yaml"
    found = check(cluster, out, drop=(out.path, binding))
    assert sorted(f.code for f in found) == ["AF434", "AF445", "AF445"]


def test_undeclared_namespace_is_held_to_tenant_rules(cluster):
    """A namespace that is neither an operator's nor a tenant's: not privileged, and it needs
    the tenant guarantees (default deny, GPU quota, the tenant admission policy)."""
    found = check(cluster, namespace("scratch", "privileged"))
    assert sorted(f.code for f in found) == ["AF434", "AF435", "AF443", "AF445"]


def test_baseline_tenant_and_privileged_operator_pass(cluster, tenants):
    out = namespace(tenants[0], "baseline")
    assert check(cluster, out, namespace("kueue-system", "privileged"), drop=(out.path,)) == []


# -- 3. default-deny NetworkPolicy ----------------------------------------------------------------

def test_tenant_without_default_deny(cluster, tenants):
    found = only(check(cluster, drop=(f"tenants/{tenants[0]}/networkpolicy-default-deny.yaml",)),
                 "AF435")
    assert found.file == f"{FOLDER}/namespaces/namespace-{tenants[0]}.yaml"


@pytest.mark.parametrize("spec", [
    {"podSelector": {"matchLabels": {"app": "x"}}},  # not every pod
    {"policyTypes": ["Ingress"]},  # egress left open
    {"ingress": [{"from": [{"podSelector": {}}]}]},  # has rules: not a deny
])
def test_almost_default_deny(cluster, tenants, spec):
    out = network_policy(tenants[0], **spec)
    assert only(check(cluster, out, drop=(out.path,)), "AF435")


def test_allow_all_rule_undoes_default_deny(cluster, tenants):
    out = network_policy(tenants[0], "allow-all", policyTypes=["Ingress"], ingress=[{}])
    assert only(check(cluster, out), "AF435").path == ("spec", "ingress", 0)


def test_narrow_allow_rules_pass(cluster, tenants):
    same = network_policy(tenants[0], "allow-same-namespace",
                          ingress=[{"from": [{"podSelector": {}}]}],
                          egress=[{"to": [{"podSelector": {}}]}])
    dns = network_policy(tenants[0], "allow-dns", policyTypes=["Egress"],
                         egress=[{"ports": [{"protocol": "UDP", "port": 53}]}])
    assert check(cluster, same, dns) == []


# -- 4. air gap -----------------------------------------------------------------------------------

@pytest.mark.parametrize("image", [
    "nvcr.io/nvidia/cuda:12.8.0-base",
    "busybox:1.36",  # Docker Hub
    # a look-alike host that merely starts with the mirror's name
    "registry.gwangju-1.ai.example.kr.attacker.example/nvidia/cuda:12.8.0-base",
])
def test_image_outside_the_mirror(cluster, tenants, image):
    found = only(check(cluster, deployment(cluster, tenants[0], image=image)), "AF436")
    assert found.path == ("spec", "template", "spec", "containers", 0, "image")


def test_release_values_image_outside_the_mirror(cluster):
    out = release(cluster, {"operator": {"image": {"repository": "ghcr.io/acme/op", "tag": "v1"}}})
    assert only(check(cluster, out), "AF436").path == ("spec", "values", "operator", "image",
                                                       "repository")


def test_chart_outside_the_chart_mirror(cluster):
    out = release(cluster, {}, repository="https://helm.ngc.nvidia.com/nvidia")
    found = only(check(cluster, out), "AF437")
    assert found.path == ("spec", "url") and found.file.endswith("/helmrepository-extra.yaml")


def test_mirrored_images_and_charts_pass(cluster, tenants):
    split = obj("gpu-operator", {"apiVersion": "nvidia.com/v1alpha1", "kind": "NVIDIADriver",
                                 "metadata": {"name": "d"},
                                 "spec": {"repository": f"{mirror(cluster)}/nvcr.io/nvidia",
                                          "image": "driver", "version": "580.126.20"}})
    values = release(cluster, {"image": {"repository": f"{mirror(cluster)}/ghcr.io/acme/op"}})
    assert check(cluster, deployment(cluster, tenants[0]), split, values) == []


def test_no_air_gap_no_mirror_needed(cluster, tenants):
    open_cluster = dataclasses.replace(cluster, sovereignty=dataclasses.replace(
        cluster.sovereignty, air_gapped=False))
    outs = base(open_cluster) + [
        deployment(open_cluster, tenants[0], image="nvcr.io/nvidia/cuda:12.8.0-base"),
        *release(open_cluster, {}, repository="https://helm.ngc.nvidia.com/nvidia")]
    assert list(policies.check(outs, open_cluster, FOLDER)) == []


# -- 5. pinned images and charts ------------------------------------------------------------------

@pytest.mark.parametrize("image", [
    "nvcr.io/nvidia/cuda",  # no tag: latest
    "nvcr.io/nvidia/cuda:latest",
    "registry.site:5000/cuda",  # the port is not a tag
    "nvcr.io/nvidia/cuda:nightly",
])
def test_unpinned_image(cluster, tenants, image):
    out = deployment(cluster, tenants[0], image=f"{mirror(cluster)}/{image}")
    assert only(check(cluster, out), "AF438").path[-1] == "image"


def test_split_image_without_version_in_an_object(cluster):
    out = obj("network-operator", {"apiVersion": "mellanox.com/v1alpha1",
                                   "kind": "NicClusterPolicy", "metadata": {"name": "n"},
                                   "spec": {"nvIpam": {"image": "nvidia-k8s-ipam",
                                                       "repository": f"{mirror(cluster)}/x"}}})
    assert only(check(cluster, out), "AF438").path == ("spec", "nvIpam")


def test_latest_tag_in_release_values(cluster):
    out = release(cluster, {"image": {"repository": f"{mirror(cluster)}/x/y", "tag": "latest"}})
    assert only(check(cluster, out), "AF438").path == ("spec", "values", "image", "tag")


def test_unpinned_chart(cluster):
    found = only(check(cluster, release(cluster, {}, version="")), "AF438")
    assert found.path == ("spec", "ref", "tag") and found.file.endswith("/ocirepository-extra.yaml")


def test_pinned_images_pass(cluster, tenants):
    digest = "sha256:" + "0123456789abcdef" * 4
    tagged = deployment(cluster, tenants[0],
                        image=f"{mirror(cluster)}/nvcr.io/nvidia/cuda@{digest}")
    # Helm values that set only the repository keep the chart's tag (pinned by its version)
    values = release(cluster, {"driver": {"repository": f"{mirror(cluster)}/nvcr.io/nvidia"},
                               "kueue": {"image": {"repository": f"{mirror(cluster)}/k/kueue",
                                                   "tag": "v0.19.2"}}})
    assert check(cluster, tagged, values) == []


def test_split_reference():
    assert pins.split_reference("h:5000/a/b:v1@sha256:ab") == ("h:5000/a/b", "v1", "sha256:ab")
    assert pins.split_reference("h:5000/a/b") == ("h:5000/a/b", None, None)
    assert pins.split_reference("h:5000/b:1.2") == ("h:5000/b", "1.2", None)


# -- 6. no Secrets, no credentials ----------------------------------------------------------------

def configmap(data: dict[str, str]) -> Output:
    return obj("gpu-operator", {"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "c", "namespace": "gpu-operator"},
                                "data": data})


def test_secret_object(cluster):
    out = obj("gpu-operator", {"apiVersion": "v1", "kind": "Secret",
                               "metadata": {"name": "ngc", "namespace": "gpu-operator"},
                               "type": "Opaque"})
    assert only(check(cluster, out), "AF439").path == ("kind",)


@pytest.mark.parametrize("data, key", [
    ({"apiKey": "hunter2"}, "apiKey"),
    ({"db_password": "correct horse battery staple"}, "db_password"),
    ({"config.yaml": "auth:\n  key: " + CANARY_PEM}, "config.yaml"),
    ({"note": CANARY_TOKEN}, "note"),
    ({"jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZW5hbnQifQ.c2lnbmF0dXJlLXZhbHVl"}, "jwt"),
    ({"aws": "AKIAIOSFODNN7EXAMPLE"}, "aws"),
    ({"ngc": "nvapi-" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4"}, "ngc"),
    ({"x": "pull with Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MEFiQ2RFZkdoSWpLbA== please"}, "x"),
])
def test_secret_looking_values(cluster, data, key):
    assert only(check(cluster, configmap(data)), "AF440").path == ("data", key)


def test_secrets_in_documents_and_node_labels(cluster):
    doc = Output("SUMMARY.md", "document", {"text": f"# cluster\n\n{CANARY_PEM}"})
    nodes = Output("node-pools/p.yaml", "nodes", {"spec": {"nodes": [
        {"name": "n1", "labels": {"team": CANARY_TOKEN}}]}})
    found = check(cluster, doc, nodes)
    assert [f.code for f in found] == ["AF440", "AF440"]
    assert found[1].path == ("spec", "nodes", 0, "labels", "team")


@pytest.mark.parametrize("secret", [CANARY_TOKEN, CANARY_PEM, "AKIAIOSFODNN7EXAMPLE"])
def test_one_secret_among_many_node_names_is_found_at_its_place(cluster, secret):
    """Node names are checked together (the fast path): one credential among 20,000 clean
    names is still found, at its index."""
    names = [f"gb200-r{i // 18 + 1:04d}-t{i % 18 + 1:02d}" for i in range(20_000)]
    names[12_345] = secret
    nodes = Output("node-pools/p.yaml", "nodes", {"spec": {"groups": [{"nodes": names}]}})
    assert only(check(cluster, nodes), "AF440").path == ("spec", "groups", 0, "nodes", 12_345)


def test_many_clean_node_names_pass(cluster):
    names = [f"gb200-r{i // 18 + 1:04d}-t{i % 18 + 1:02d}" for i in range(20_000)]
    nodes = Output("node-pools/p.yaml", "nodes", {"spec": {"groups": [{"nodes": names}]}})
    assert check(cluster, nodes) == []


def test_secret_references_and_digests_pass(cluster):
    """Names of Secrets are not secrets; nor are digests, hostnames, paths or identifiers."""
    refs = configmap({
        "csi.storage.k8s.io/provisioner-secret-name": "csi-cephfs-secret",
        "csi.storage.k8s.io/provisioner-secret-namespace": "ceph-csi-cephfs",
        "secretName": "ngc-api-secret", "tokenPath": "/var/run/secrets/token",
        "digest": "sha256:" + "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "condition": "requiredDuringSchedulingIgnoredDuringExecution",
        "image": f"{mirror(cluster)}/nvcr.io/nvidia/cloud-native/k8s-driver-manager:v0.12.0",
        "token": "",
    })
    assert check(cluster, refs) == []


def test_catalog_storage_defaults_pass(cluster):
    """Every backend's default parameters (weka and cephfs name their Secrets) are clean."""
    backends = cluster.catalog.storage_backends
    assert any("secret" in key for b in backends.values() for key in b.parameters)
    for name, backend in sorted(backends.items()):
        out = obj("storage", {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                              "metadata": {"name": name}, "provisioner": backend.provisioner,
                              "parameters": {k: str(v) for k, v in backend.parameters.items()}})
        assert check(cluster, out) == [], name


def _planted(tmp_path: Path, plant) -> list:
    """Findings of the reference blueprint with `plant` applied, minus those it has anyway."""
    def findings(data) -> set:
        path = tmp_path / "canary.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        result = run(path)
        assert result.ok and result.cluster is not None, [f.message for f in result.findings]
        return set(policies.check(expand(result.cluster), result.cluster, FOLDER))

    data = yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))
    before = findings(copy.deepcopy(data))
    plant(data["spec"])
    return sorted(findings(data) - before)


def test_canary_token_in_a_storage_parameter_is_caught(tmp_path):
    def plant(spec):
        shared = next(s for s in spec["storage"] if s["name"] == "shared")
        shared["parameters"] = {"exaFS": CANARY_TOKEN}

    found = only(_planted(tmp_path, plant), "AF440")
    assert found.file == f"{FOLDER}/storage/storageclass-shared.yaml"
    assert found.path == ("parameters", "exaFS")


def test_canary_private_key_in_a_storage_parameter_is_caught(tmp_path):
    def plant(spec):
        spec["storage"][0]["parameters"] = {"mountpoint": CANARY_PEM}

    assert only(_planted(tmp_path, plant), "AF440").path == ("parameters", "mountpoint")


def test_canary_token_in_a_pool_label_is_caught(tmp_path):
    def plant(spec):
        spec["nodePools"][0].setdefault("labels", {})["example.com/owner"] = CANARY_TOKEN

    found = _planted(tmp_path, plant)
    assert {f.code for f in found} == {"AF440"}
    assert {f.file for f in found} == {f"{FOLDER}/node-pools/gb200.yaml"}


# -- 7. tenant RBAC -------------------------------------------------------------------------------

@pytest.mark.parametrize("rule, field", [
    ({"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}, "verbs"),
    ({"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}, "resources"),
    ({"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]}, "apiGroups"),
    ({"apiGroups": [RBAC], "resources": ["roles"], "verbs": ["escalate"]}, "verbs"),
])
def test_wildcard_in_tenant_role(cluster, tenants, rule, field):
    found = only(check(cluster, rbac("Role", tenants[0], rules=[rule])), "AF441")
    assert found.path == ("rules", 0, field, 0)


def _binding(kind: str, ns: str | None, subject: dict, role_kind: str = "ClusterRole",
             role: str = "view") -> Output:
    return rbac(kind, ns, roleRef={"apiGroup": RBAC, "kind": role_kind, "name": role},
                subjects=[subject])


@pytest.mark.parametrize("subject", [
    {"apiGroup": RBAC, "kind": "Group", "name": "idp:foundation-models"},
    {"apiGroup": RBAC, "kind": "Group", "name": "system:authenticated"},
    {"apiGroup": RBAC, "kind": "Group", "name": "system:serviceaccounts:public-research"},
    {"kind": "ServiceAccount", "name": "default", "namespace": "public-research"},
])
def test_cluster_role_binding_to_tenants(cluster, subject):
    assert only(check(cluster, _binding("ClusterRoleBinding", None, subject)), "AF442").path == (
        "subjects", 0)


def test_tenant_bound_to_a_cluster_role(cluster, tenants):
    subject = {"apiGroup": RBAC, "kind": "Group", "name": f"idp:{tenants[0]}"}
    assert only(check(cluster, _binding("RoleBinding", tenants[0], subject, role="admin")),
                "AF442")


def test_tenant_granted_in_another_namespace(cluster, tenants):
    subject = {"apiGroup": RBAC, "kind": "Group", "name": f"idp:{tenants[0]}"}
    found = only(check(cluster, _binding("RoleBinding", tenants[1], subject, "Role",
                                         "tenant-admin")), "AF442")
    assert f"namespace '{tenants[1]}'" in found.message


@pytest.mark.parametrize("name", [
    "system:serviceaccounts:public-research",  # every pod of the other tenant
    "system:serviceaccounts:foundation-models",  # every pod of its own namespace
    "system:serviceaccounts", "system:authenticated", "system:masters", "system:nodes",
])
@pytest.mark.parametrize("order", [1, -1])
def test_system_group_bound_in_a_tenant_namespace(cluster, tenants, name, order):
    """Refused whatever the blueprint's groups and order: a tenant listing the group of the
    other tenant's ServiceAccounts used to pass when it came after that tenant."""
    listing = tuple(dataclasses.replace(t, groups=t.groups + (name,))
                    if t.name == tenants[0] else t for t in cluster.tenants[::order])
    subject = {"apiGroup": RBAC, "kind": "Group", "name": name}
    found = only(check(dataclasses.replace(cluster, tenants=listing),
                       _binding("RoleBinding", tenants[0], subject, "Role", "tenant-admin")),
                 "AF442")
    assert found.path == ("subjects", 0) and name in found.message


def test_another_tenants_service_account_user_bound(cluster, tenants):
    subject = {"apiGroup": RBAC, "kind": "User",
               "name": f"system:serviceaccount:{tenants[1]}:default"}
    found = only(check(cluster, _binding("RoleBinding", tenants[0], subject, "Role", "x")),
                 "AF442")
    assert f"rights in namespace '{tenants[0]}'" in found.message


@pytest.mark.parametrize("name, refused", [
    ("system:anonymous", True), ("system:kube-scheduler", True),
    ("system:serviceaccount:foundation-models:pipeline", False),  # its own ServiceAccount
])
def test_system_user_bound_in_a_tenant_namespace(cluster, tenants, name, refused):
    subject = {"apiGroup": RBAC, "kind": "User", "name": name}
    found = check(cluster, _binding("RoleBinding", tenants[0], subject, "Role", "tenant-admin"))
    assert [f.code for f in found] == (["AF442"] if refused else [])


def test_identity_provider_group_of_two_tenants_passes(cluster, tenants):
    shared = tuple(dataclasses.replace(t, groups=t.groups + ("idp:sre",))
                   for t in cluster.tenants)
    subject = {"apiGroup": RBAC, "kind": "Group", "name": "idp:sre"}
    bindings = [_binding("RoleBinding", ns, subject, "Role", "tenant-admin") for ns in tenants]
    assert check(dataclasses.replace(cluster, tenants=shared), *bindings) == []


def test_aggregated_cluster_role(cluster):
    out = rbac("ClusterRole", None, rules=[{"apiGroups": [""], "resources": ["pods"],
                                            "verbs": ["get"]}])
    out.data["metadata"]["labels"] = {f"{RBAC}/aggregate-to-edit": "true"}
    assert only(check(cluster, out), "AF442")


def test_tenant_admin_role_and_operator_rbac_pass(cluster, tenants):
    from aifab.expand.tenants import ROLE_RULES

    role = rbac("Role", tenants[0], rules=copy.deepcopy(ROLE_RULES))
    binding = _binding("RoleBinding", tenants[0], {"apiGroup": RBAC, "kind": "Group",
                                                   "name": f"idp:{tenants[0]}"}, "Role", "x")
    operator_role = rbac("ClusterRole", None, rules=[{"apiGroups": ["*"], "resources": ["*"],
                                                      "verbs": ["*"]}])
    operator_binding = _binding("ClusterRoleBinding", None, {
        "kind": "ServiceAccount", "name": "gpu-operator", "namespace": "gpu-operator"})
    assert check(cluster, role, binding, operator_role, operator_binding) == []


# -- 8. GPU quota ---------------------------------------------------------------------------------

def test_tenant_without_gpu_quota(cluster, tenants):
    found = only(check(cluster, drop=(f"tenants/{tenants[0]}/resourcequota-gpu.yaml",)), "AF443")
    assert found.file == f"{FOLDER}/namespaces/namespace-{tenants[0]}.yaml"


def test_quota_without_gpu_resources(cluster, tenants):
    out = quota(tenants[0], {"requests.cpu": "100", "limits.memory": "1Ti"})
    assert only(check(cluster, out, drop=(out.path,)), "AF443")


def test_quota_leaving_a_gpu_resource_uncapped(cluster, tenants):
    assert "nvidia.com/mig-1g.23gb" in advertised_gpu_resources(cluster)
    out = quota(tenants[0], {"requests.nvidia.com/gpu": "8"})  # MIG slices left uncapped
    found = only(check(cluster, out, drop=(out.path,)), "AF444")
    assert "requests.nvidia.com/mig-1g.23gb" in found.message
    assert found.path == ("spec", "hard")


def test_full_gpu_quota_with_zeros_passes(cluster, tenants):
    out = quota(tenants[0], {key: "0" for key in full_quota(cluster)})
    assert check(cluster, out, drop=(out.path,)) == []


# -- 9. Admission policies ----------------------------------------------------------------------

def test_tenant_namespace_the_binding_does_not_select(cluster, tenants):
    warn_only = tenant_admission(cluster)[1]
    warn_only = obj("admission", {**warn_only.data, "spec": {
        **warn_only.data["spec"], "validationActions": ["Warn"]}})
    found = check(cluster, warn_only, drop=(warn_only.path,))
    assert [f.code for f in found] == ["AF445", "AF445"]
    assert {f.file for f in found} == {f"{FOLDER}/namespaces/namespace-{t}.yaml" for t in tenants}


def test_admission_policy_expression_that_does_not_compile(cluster):
    policy = tenant_admission(cluster)[0]
    broken = obj("admission", {**policy.data, "spec": {**policy.data["spec"], "validations": [
        {"expression": "object.spec.containers.all(c, "}]}})
    found = only(check(cluster, broken, drop=(broken.path,)), "AF446")
    assert found.path == ("spec", "validations", 0, "expression")


# -- the real outputs -----------------------------------------------------------------------------

# Violations of the generated outputs, reported and awaiting a fix in aifab.expand.tenants:
# gpu_quota caps only the GPU resources a tenant has quota on, so the others stay unlimited for
# pods that bypass Kueue. When fixed, empty this (the test then asks for no finding at all).
KNOWN_VIOLATIONS: dict[str, set[tuple[str, str]]] = {}


def bundled() -> list[Path]:
    files, problems = blueprint_files([str(BLUEPRINTS)])
    assert files and not problems
    return files


@pytest.mark.parametrize("blueprint", bundled(), ids=lambda p: p.stem)
def test_bundled_outputs_keep_every_policy(blueprint):
    """Every cluster of the blueprint (a fleet's members too) keeps every policy."""
    clusters = [r.cluster for r in flatten([run(blueprint)]) if r.cluster is not None]
    assert clusters
    for cluster in clusters:
        folder = f"generated/{cluster.name}"
        found = list(policies.check(expand(cluster), cluster, folder))
        got = {(f.code, f.file.removeprefix(folder + "/")) for f in found}
        assert got == KNOWN_VIOLATIONS.get(cluster.name, set()), [
            (f.code, f.file, f.message) for f in found]


# -- documentation --------------------------------------------------------------------------------

def test_every_code_is_documented():
    text = DOCS.read_text(encoding="utf-8")
    headings = re.findall(r"^#{2,3} .*$", text, re.MULTILINE)
    for code in CODES:
        assert any(code in h for h in headings), f"{code} has no section in docs/policies.md"
        assert text.count(code) >= 2, f"{code}: say what it checks and how to fix it"
    assert set(re.findall(r"AF4[3-4]\d", text)) == set(CODES)


def test_every_policy_has_a_negative_test():
    """A code nobody can trigger is dead weight; a policy without a failing test may not work."""
    source = Path(__file__).read_text(encoding="utf-8")
    for code in CODES:
        assert f'"{code}"' in source.split("# -- the real outputs")[0], code


def test_policies_are_deterministic(cluster):
    outs = base(cluster) + [deployment(cluster, "default", image="busybox", container={
        "securityContext": {"privileged": True}}), configmap({"apiKey": "x"})]
    first = list(policies.check(outs, cluster, FOLDER))
    assert first and first == list(policies.check(outs, cluster, FOLDER))
    assert sorted(first) == sorted(policies.check(list(reversed(outs)), cluster, FOLDER))
