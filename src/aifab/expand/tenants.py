"""Per tenant namespace: a GPU ResourceQuota, default requests, an admin Role and NetworkPolicies.

Objects land in tenants/<namespace>/ (the namespaces themselves come from `namespaces`).

ResourceQuota `gpu`
  A backstop behind Kueue: pods that bypass the queue still cannot take more devices than the
  tenant could be admitted. Extended resources are quota'd as `requests.<resource>` only
  (https://kubernetes.io/docs/concepts/policy/resource-quotas/, "Resource quota for extended
  resources").
  A tenant's whole GPUs on a pool become the resources that pool's nodes advertise
  (k8s-device-plugin README, MIG strategies and GPU sharing; blackwell-facts.md section 3):
  - whole GPUs: `nvidia.com/gpu`;
  - MIG, strategy `mixed`: `nvidia.com/mig-<profile>` x instances per GPU of the pool's
    mig-parted config (a profile's `+` is advertised as `.`: `1g.23gb+me` -> `mig-1g.23gb.me`);
  - MIG, strategy `single`: the instances are advertised as `nvidia.com/gpu`;
  - time-slicing / MPS: each device is advertised `replicas` times (`renameByDefault` off).
  Pools add up per resource. With Kueue, the ceiling per pool is what Kueue may admit: the
  nominal quota plus what the tenant may borrow from the cohort (its `borrowingLimit`, or the
  rest of the pool without one), never more than the pool; a ResourceQuota at the nominal
  quota alone would reject the pods of every workload admitted on borrowed quota.

LimitRange `defaults`
  Default container requests (cpu "1", memory "2Gi") so the scheduler accounts for pods that
  set none. It deliberately sets no default *limits*: a default limit is also applied to a
  container that requests more than it without a limit, and such a pod is rejected
  (request > limit; https://kubernetes.io/docs/concepts/policy/limit-range/), which would break
  the common training pod that requests 64 CPUs and sets no CPU limit.

Role / RoleBinding `tenant-admin`
  Explicit resources and verbs, no wildcards, in the tenant's namespace only: what Kueue is set
  up to admit and what those jobs need: workloads, jobs, pods (+log, +exec), services,
  configmaps, Secrets (a job's registry pull secret, object-storage keys: the tenant's own, in
  its own namespace), PVCs, events (read); JobSets; Kueue Workloads and LocalQueues (read:
  admission is Kueue's); ComputeDomains (resource.nvidia.com; update and patch reach labels and
  annotations, the spec is immutable by its CRD's CEL rule); ResourceClaims and
  ResourceClaimTemplates (resource.k8s.io). Bound to the tenant's identity-provider groups; no
  binding without groups.

NetworkPolicies
  `default-deny` (all ingress and egress), `allow-same-namespace` (pod to pod inside the
  namespace, e.g. NCCL bootstrap and distributed-training rendezvous) and `allow-dns` (UDP and
  TCP 53 to the cluster DNS pods). Where aifab deploys the Prometheus Operator,
  `allow-monitoring` lets the `monitoring` namespace reach the container ports named `metrics`
  (a ServiceMonitor or PodMonitor of the tenant's then scrapes them). The peers a tenant
  declares (spec.tenants[].network) become `allow-ingress` (from namespaces and ipBlocks, to
  the listed ports: serving tenants) and `allow-egress` (to ipBlocks on the listed ports:
  object storage, a model registry); their CIDRs are checked by the rule AF397/AF398. RDMA
  traffic on secondary (Multus) networks is not subject to NetworkPolicy.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from aifab.expand.common import (
    GPU_RESOURCE,
    NS_MONITORING,
    Output,
    gpu_resources,
    metadata,
    obj,
    quantity,
)
from aifab.expand.monitoring import deploys_operator
from aifab.model import Cluster, NodePool, PeerRule, Tenant
from aifab.naming import tenant_namespace

COMPONENT = "tenants"
ROLE = "tenant-admin"
RBAC_API = "rbac.authorization.k8s.io"

DEFAULT_REQUESTS = {"cpu": "1", "memory": "2Gi"}
METRICS_PORT = "metrics"  # the container port name Prometheus may reach in tenant pods

READ = ["get", "list", "watch"]
WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"]

ROLE_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""],
     "resources": ["configmaps", "persistentvolumeclaims", "pods", "secrets", "services"],
     "verbs": WRITE},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": READ},
    # kubectl exec: SPDY is a POST (create); a websocket upgrade is a GET, which recent
    # releases also check for create (AuthorizePodWebsocketUpgradeCreatePermission).
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": READ},
    {"apiGroups": ["apps"], "resources": ["deployments", "replicasets", "statefulsets"],
     "verbs": WRITE},
    {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": WRITE},
    # multi-node jobs (the JobSet controller runs with Kueue; examples/ holds templates)
    {"apiGroups": ["jobset.x-k8s.io"], "resources": ["jobsets"], "verbs": WRITE},
    {"apiGroups": ["kueue.x-k8s.io"], "resources": ["localqueues", "workloads"], "verbs": READ},
    {"apiGroups": ["resource.nvidia.com"], "resources": ["computedomains"], "verbs": WRITE},
    {"apiGroups": ["resource.k8s.io"], "resources": ["resourceclaims", "resourceclaimtemplates"],
     "verbs": WRITE},
]


def admissible_gpus(cluster: Cluster, tenant: Tenant, pool: NodePool) -> int:
    """Whole GPUs of `pool` Kueue may admit for `tenant`: quota + borrowable, within the pool."""
    nominal = tenant.quota.get(pool.name, 0)
    if cluster.kueue is None:
        return min(nominal, pool.gpus)
    borrow = tenant.borrowing_limit.get(pool.name, pool.gpus)
    return min(nominal + borrow, pool.gpus)


def gpu_quota(cluster: Cluster, tenant: Tenant) -> dict[str, str]:
    """`spec.hard` of the tenant's ResourceQuota: requests.<resource> summed over its pools.

    A ResourceQuota limits only the resources it lists, so every GPU resource the cluster
    advertises is listed, at 0 where the tenant has no quota (policy AF444)."""
    strategy = cluster.mig_strategy
    totals: dict[str, int] = defaultdict(int)
    totals[GPU_RESOURCE] = 0  # the device plugin may advertise it on any GPU node
    for pool in cluster.node_pools:
        for resource in gpu_resources(pool, strategy):
            totals[resource] = 0
    for name in sorted(set(tenant.quota) | set(tenant.borrowing_limit)):
        pool = cluster.pool(name)
        if pool is None:  # reported by the rules (AF376)
            continue
        gpus = admissible_gpus(cluster, tenant, pool)
        for resource, per_gpu in gpu_resources(pool, strategy).items():
            totals[resource] += gpus * per_gpu
    return {f"requests.{resource}": quantity(totals[resource]) for resource in sorted(totals)}


def _object(cluster: Cluster, namespace: str, api: str, kind: str, name: str,
            **body: Any) -> Output:
    return obj(COMPONENT, {"apiVersion": api, "kind": kind,
                           "metadata": metadata(cluster, name, namespace), **body})


def _network_policies(cluster: Cluster, namespace: str) -> Iterator[Output]:
    api = "networking.k8s.io/v1"
    yield _object(cluster, namespace, api, "NetworkPolicy", "default-deny", spec={
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
    })
    yield _object(cluster, namespace, api, "NetworkPolicy", "allow-same-namespace", spec={
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"podSelector": {}}]}],
        "egress": [{"to": [{"podSelector": {}}]}],
    })
    dns = cluster.kubernetes
    yield _object(cluster, namespace, api, "NetworkPolicy", "allow-dns", spec={
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{
            "to": [{
                "namespaceSelector": {"matchLabels": {
                    "kubernetes.io/metadata.name": dns.dns_namespace}},
                "podSelector": {"matchLabels": _sorted(dns.dns_pod_labels)},
            }],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }],
    })
    if deploys_operator(cluster):
        yield _object(cluster, namespace, api, "NetworkPolicy", "allow-monitoring", spec={
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{
                "from": [{"namespaceSelector": {"matchLabels": {
                    "kubernetes.io/metadata.name": NS_MONITORING}}}],
                "ports": [{"protocol": "TCP", "port": METRICS_PORT}],
            }],
        })


def _peer_policies(cluster: Cluster, tenant: Tenant, namespace: str) -> Iterator[Output]:
    """allow-ingress and allow-egress from the tenant's declared peers, in blueprint order."""
    api = "networking.k8s.io/v1"
    if tenant.ingress:
        yield _object(cluster, namespace, api, "NetworkPolicy", "allow-ingress", spec={
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": _peers(rule), "ports": _ports(rule)} for rule in tenant.ingress],
        })
    if tenant.egress:
        yield _object(cluster, namespace, api, "NetworkPolicy", "allow-egress", spec={
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": _peers(rule), "ports": _ports(rule)} for rule in tenant.egress],
        })


def _peers(rule: PeerRule) -> list[dict[str, Any]]:
    return ([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}
             for name in rule.namespaces]
            + [{"ipBlock": {"cidr": cidr}} for cidr in rule.cidrs])


def _ports(rule: PeerRule) -> list[dict[str, Any]]:
    return [{"protocol": rule.protocol, "port": port} for port in rule.ports]


def _sorted(mapping: Mapping[str, str]) -> dict[str, str]:
    return {key: mapping[key] for key in sorted(mapping)}


def expand(cluster: Cluster) -> Iterator[Output]:
    for tenant in sorted(cluster.tenants, key=lambda t: t.name):
        ns = tenant_namespace(tenant.name)
        yield _object(cluster, ns, "v1", "ResourceQuota", "gpu",
                      spec={"hard": gpu_quota(cluster, tenant)})
        yield _object(cluster, ns, "v1", "LimitRange", "defaults", spec={
            "limits": [{"type": "Container", "defaultRequest": dict(DEFAULT_REQUESTS)}],
        })
        yield _object(cluster, ns, f"{RBAC_API}/v1", "Role", ROLE,
                      rules=copy.deepcopy(ROLE_RULES))
        if tenant.groups:
            yield _object(cluster, ns, f"{RBAC_API}/v1", "RoleBinding", ROLE,
                          roleRef={"apiGroup": RBAC_API, "kind": "Role", "name": ROLE},
                          subjects=[{"apiGroup": RBAC_API, "kind": "Group", "name": group}
                                    for group in tenant.groups])
        yield from _network_policies(cluster, ns)
        yield from _peer_policies(cluster, tenant, ns)
