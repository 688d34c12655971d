"""Declare a verified cluster tree as Pulumi resources, grouped per component, in order.

Resource names are stable and unique within a stack, so a re-run maps every resource to the
same one as before:
- `<Kind>/<namespace>/<name>` for namespaced objects, `<Kind>/<name>` for cluster-scoped ones;
- `release/<name>` for the Helm release of a Flux HelmRelease.
Every name is checked before anything is declared; a duplicate raises DuplicateNameError.

Decisions:
- One `pulumi.ComponentResource` (type COMPONENT_TYPE) per folder of the tree (gpu-operator,
  network-operator, kueue, jobset, monitoring, compute-domains, storage, namespaces,
  node-pools, tenants/<name>) is the parent of its resources, so `pulumi preview` reads as a
  tree. Each child carries `Alias(parent=ROOT_STACK_RESOURCE)`: a stack deployed before the
  components keeps its resources (a new parent would otherwise make a new URN and replace them,
  the GPU Operator release included).
- Objects are applied as they are: every top-level field of the file goes to the API server,
  core kinds through their typed pulumi-kubernetes class, everything else through
  `apiextensions.CustomResource` (carrying top-level fields besides `spec` too, such as a
  WorkloadPriorityClass's `value`).
- Releases: the Flux HelmRelease files (expand/flux.py) are read with their sources and
  installed by `helm.v3.Release` (no Flux controller needed; the OCIRepository and
  HelmRepository files are not declared), with the Helm release name and namespace of the
  HelmRelease (Pulumi would otherwise add a random suffix), `create_namespace=False`
  (Namespaces are generated objects with their Pod Security labels), `skip_await=False` and
  the HelmRelease's spec.timeout: Helm waits until the operator's Deployments and DaemonSets are
  ready, so its webhooks are serving before the custom resources that depend on the release
  are applied (Kueue's admission webhook rejects objects until it runs).
  A chart repository `oci://host/path` is not a Helm index: Helm takes the full
  `oci://host/path/<chart>` as the chart and no repository (the provider ignores
  `repositoryOpts.repo` for OCI charts and would try to read an index.yaml otherwise).
- depends_on: a custom resource waits for the release that installs its CRD and controller
  (OPERATOR_RELEASES); a release waits for the releases its spec.dependsOn names (the DRA
  driver for the GPU Operator, whose driver its pods need); namespaced objects and releases
  wait for their Namespace when it is in the tree; a release also waits for the core objects
  in its namespace (the MIG and device-plugin ConfigMaps its values name).
- Nodes: no resource per node. Each pool's NodeFeatureRule (node-pools/) is a custom resource
  like the others, applied after the GPU Operator release whose NFD subchart serves it;
  nfd-master labels and taints the nodes it names, including nodes that join or are replaced
  later (expand/node_pools.py). A stack deployed with an older aifab held one NodePatch per
  node: the next `pulumi up` deletes those patches, and NFD keeps the labels.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.helm.v3 import Release, RepositoryOptsArgs

from aifab.deploy.tree import ClusterTree, Entry, ReleaseEntry

# API group of a custom resource -> the release (the Helm release name) that installs its CRD
# and the controller that acts on it. NodeFeatureRules are served by the Node Feature Discovery
# the GPU Operator chart runs as its subchart (node-feature-discovery, condition nfd.enabled;
# tools/chart_sources.yaml), ServiceMonitors by the Prometheus Operator of kube-prometheus-stack.
OPERATOR_RELEASES = {
    "nvidia.com": "gpu-operator",
    "nfd.k8s-sigs.io": "gpu-operator",
    "mellanox.com": "network-operator",
    "nv-ipam.nvidia.com": "network-operator",
    "kueue.x-k8s.io": "kueue",
    "jobset.x-k8s.io": "jobset",
    "monitoring.coreos.com": "kube-prometheus-stack",
    "resource.nvidia.com": "nvidia-dra-driver-gpu",
}

# The parent of each folder's resources (Pulumi type tokens are package:module:Type).
COMPONENT_TYPE = "aifab:deploy:Component"

# (apiVersion, kind) -> the typed pulumi-kubernetes class for core kinds aifab generates.
TYPED_KINDS: dict[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "ResourceQuota"): k8s.core.v1.ResourceQuota,
    ("v1", "LimitRange"): k8s.core.v1.LimitRange,
    ("storage.k8s.io/v1", "StorageClass"): k8s.storage.v1.StorageClass,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
}


class DuplicateNameError(ValueError):
    """Two things in the tree would become Pulumi resources of the same name."""


def object_name(data: Mapping[str, Any]) -> str:
    meta = data["metadata"]
    namespace = meta.get("namespace")
    if namespace:
        return f"{data['kind']}/{namespace}/{meta['name']}"
    return f"{data['kind']}/{meta['name']}"


def release_name(entry: ReleaseEntry) -> str:
    return f"release/{entry.name}"


def api_group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def resource_names(tree: ClusterTree) -> list[str]:
    """Every resource name `declare` would use, in declaration order; raises on a duplicate."""
    names = [release_name(r) for r in tree.releases]
    names += [object_name(o.data) for o in tree.objects]
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    duplicates = sorted(n for n, count in seen.items() if count > 1)
    if duplicates:
        raise DuplicateNameError(
            f"cluster {tree.cluster}: these Pulumi resource names occur more than once: "
            f"{', '.join(duplicates)}; two files describe the same object. Fix the blueprint, "
            "regenerate and review.")
    return names


def summary(tree: ClusterTree) -> dict[str, Any]:
    """What `declare` makes of `tree`: resources per kind."""
    counts: dict[str, int] = {}
    for entry in tree.objects + tree.releases:
        counts[entry.kind] = counts.get(entry.kind, 0) + 1
    return {"resources": dict(sorted(counts.items()))}


class Component(pulumi.ComponentResource):
    """One folder of the tree (`gpu-operator`, `tenants/<name>`, ...): the parent of its
    resources, so that `pulumi preview` shows the stack as a tree."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.register_outputs({})


def declare(tree: ClusterTree, provider: k8s.Provider | None) -> dict[str, pulumi.Resource]:
    """Declare every release and object of `tree`, each under its component;
    checks every name first. Returns the resources by name (components not included).
    Nothing is declared when a name is duplicated."""
    resource_names(tree)
    out: dict[str, pulumi.Resource] = {}
    components: dict[str, Component] = {}

    def options(entry: Entry, depends_on: Sequence[pulumi.Resource]) -> pulumi.ResourceOptions:
        if entry.component not in components:
            components[entry.component] = Component(entry.component)
        return pulumi.ResourceOptions(
            provider=provider, parent=components[entry.component], depends_on=list(depends_on),
            aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)])

    def add(name: str, resource: pulumi.Resource) -> pulumi.Resource:
        out[name] = resource
        return resource

    # Namespaces first: everything namespaced depends on them.
    namespaces: dict[str, pulumi.Resource] = {}
    for entry in tree.objects:
        if (entry.api_version, entry.kind) == ("v1", "Namespace"):
            namespaces[entry.name] = add(object_name(entry.data),
                                         _object(entry.data, options(entry, [])))

    def namespace_of(entry: Entry) -> list[pulumi.Resource]:
        ns = entry.namespace
        return [namespaces[ns]] if ns in namespaces else []

    # Objects no operator of the tree serves; a release waits for the core ones in its namespace.
    core: dict[str, list[pulumi.Resource]] = {}
    for entry in tree.objects:
        key = (entry.api_version, entry.kind)
        if key == ("v1", "Namespace") or api_group(entry.api_version) in OPERATOR_RELEASES:
            continue
        resource = add(object_name(entry.data),
                       _object(entry.data, options(entry, namespace_of(entry))))
        if entry.namespace and key in TYPED_KINDS:
            core.setdefault(entry.namespace, []).append(resource)

    # Releases after the releases their HelmRelease's spec.dependsOn names.
    releases: dict[str, pulumi.Resource] = {}
    by_key = {(r.name, r.namespace): r for r in tree.releases}
    for entry in _release_order(tree.releases):
        deps = namespace_of(entry) + core.get(entry.namespace, [])
        deps += [releases[by_key[key].name] for key in entry.helm.depends_on
                 if key in by_key and by_key[key].name in releases]  # (not in a cycle)
        releases[entry.name] = add(release_name(entry), _release(entry, options(entry, deps)))

    # Custom resources of the operators, after their release.
    for entry in tree.objects:
        group = api_group(entry.api_version)
        if group not in OPERATOR_RELEASES:
            continue
        deps = namespace_of(entry)
        if OPERATOR_RELEASES[group] in releases:
            deps.append(releases[OPERATOR_RELEASES[group]])
        add(object_name(entry.data), _object(entry.data, options(entry, deps)))

    return out


def _release_order(releases: Sequence[ReleaseEntry]) -> list[ReleaseEntry]:
    """The releases in path order, each after those its spec.dependsOn names (a cycle, which
    Flux would never reconcile either, keeps path order for the rest)."""
    by_key = {(r.name, r.namespace): r for r in releases}
    done: dict[str, ReleaseEntry] = {}

    def visit(entry: ReleaseEntry, seen: frozenset[str]) -> None:
        if entry.path in done or entry.path in seen:
            return
        for key in entry.helm.depends_on:
            if key in by_key:
                visit(by_key[key], seen | {entry.path})
        done[entry.path] = entry

    for entry in releases:
        visit(entry, frozenset())
    return list(done.values())


def _object(data: Mapping[str, Any], opts: pulumi.ResourceOptions) -> pulumi.Resource:
    name = object_name(data)
    typed = TYPED_KINDS.get((data["apiVersion"], data["kind"]))
    fields = {k: v for k, v in data.items() if k not in ("apiVersion", "kind")}
    if typed is not None:
        return typed(name, opts=opts, **{_snake(k): v for k, v in fields.items()})
    return CustomObject(name, data, opts)


class CustomObject(CustomResource):
    """`apiextensions.CustomResource` with every top-level field of the object, not only spec.

    pulumi-kubernetes' Python CustomResource takes `metadata` and `spec` only; objects such as
    Kueue's WorkloadPriorityClass keep their data in top-level `value` and `description`. The
    registration is the same as CustomResource's (type `kubernetes:<apiVersion>:<kind>`), the
    properties are the object's own, passed through untranslated.
    """

    def __init__(self, resource_name: str, data: Mapping[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(version=k8s._utilities.get_version()))
        pulumi.CustomResource.__init__(
            self, f"kubernetes:{data['apiVersion']}:{data['kind']}", resource_name, dict(data),
            opts)


def oci(repository: str) -> bool:
    return repository.startswith("oci://")


def _release(entry: ReleaseEntry, opts: pulumi.ResourceOptions) -> Release:
    chart, repository = entry.helm.chart, entry.helm.repository
    if oci(repository):
        chart, repository_opts = f"{repository.rstrip('/')}/{chart}", None
    else:
        repository_opts = RepositoryOptsArgs(repo=repository)
    return Release(
        release_name(entry),
        name=entry.name,
        chart=chart,
        version=entry.helm.version,
        repository_opts=repository_opts,
        namespace=entry.namespace,
        create_namespace=False,
        values=dict(entry.helm.values),
        skip_await=False,
        timeout=entry.helm.timeout,
        opts=opts,
    )


def _snake(name: str) -> str:
    """A Kubernetes field name as the Python SDK's keyword: reclaimPolicy -> reclaim_policy."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
