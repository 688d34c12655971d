"""Examples: a ready multi-node NVLink job per tenant and ComputeDomain pool, not deployed.

Folder `examples/<namespace>/` (the Pulumi program skips `examples/`; the lock covers it). For
each pool with `computeDomains: true` and each tenant with at least one node of quota on it:

- a ComputeDomain (`resource.nvidia.com/v1beta1`) of the job's own, named like the JobSet
  (`naming.nvlink_job_name`), `channel.resourceClaimTemplate` `<name>-channel` (the template
  the DRA driver then creates in the namespace), and `numNodes: 0` where the paired driver's
  CRD requires the field (v25.12.0 `resource.nvidia.com_computedomains.yaml`: required; 0 is
  the recommended value with IMEXDaemonsWithDNSNames, on by default; 0.4.x defaults it to 0);
- a JobSet (`jobset.x-k8s.io/v1alpha2`, kubernetes-sigs/jobset v0.12.0 CRD) with one
  replicated job of `pods` Indexed completions: one pod per node (it asks for all of the node's
  GPUs), on the pool's nodes (nodeSelector `aifab.dev/pool`) with the pool's taints tolerated,
  each pod holding the ComputeDomain's IMEX channel claim. With Kueue it carries the queue
  label `kueue.x-k8s.io/queue-name: default` and requires one NVLink domain per job
  (`kueue.x-k8s.io/podset-required-topology`, Kueue topology-aware scheduling); `pods` is the
  tenant's nominal quota in nodes, at most one NVLink domain (IMEX reaches no further).

The pods meet Pod Security `restricted` (non-root, no privilege escalation, all capabilities
dropped, RuntimeDefault seccomp). The container is a placeholder (the DRA driver's own demo
specs run `nvidia-smi -L` and list `/dev/nvidia-caps-imex-channels` in an Ubuntu image):
tenants replace image and command with their training job.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aifab.expand.common import GPU_RESOURCE, Output, image_registry, metadata, obj, quantity
from aifab.expand.compute_domains import compute_domain_pools, dra_driver
from aifab.expand.kueue import LOCAL_QUEUE
from aifab.expand.node_pools import pool_topology_labels
from aifab.model import Cluster, NodePool, Tenant
from aifab.naming import (
    LABEL_NVLINK_DOMAIN,
    LABEL_POOL,
    NVLINK_JOB_WORKERS,
    compute_domain_channel,
    nvlink_job_name,
    tenant_namespace,
)

COMPONENT = "examples"
CD_API = "resource.nvidia.com/v1beta1"
JOBSET_API = "jobset.x-k8s.io/v1alpha2"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
REQUIRED_TOPOLOGY = "kueue.x-k8s.io/podset-required-topology"
CLAIM = "imex-channel"
IMAGE_UPSTREAM = "docker.io/library/ubuntu"
IMAGE_TAG = "24.04"
COMMAND = ["bash", "-c", "nvidia-smi -L && ls -la /dev/nvidia-caps-imex-channels"]
NON_ROOT_UID = 1000
GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists"}


def pods_of(tenant: Tenant, pool: NodePool) -> int:
    """Workers of the tenant's example job: its nominal quota in nodes, within one NVLink
    domain (0: less than a node of quota, no example)."""
    nodes = tenant.quota.get(pool.name, 0) // pool.system.gpus_per_node
    return min(nodes, pool.system.nodes_per_nvlink_domain)


def compute_domain(cluster: Cluster, pool: NodePool, namespace: str) -> Output:
    name = nvlink_job_name(pool)
    spec: dict[str, Any] = {"channel": {
        "allocationMode": "Single",  # one IMEX channel per claim: the CRD default, written out
        "resourceClaimTemplate": {"name": compute_domain_channel(name)},
    }}
    if dra_driver(cluster)["numNodesRequired"]:
        spec["numNodes"] = 0
    return obj(COMPONENT, {
        "apiVersion": CD_API, "kind": "ComputeDomain",
        "metadata": metadata(cluster, name, namespace, labels={LABEL_POOL: pool.name}),
        "spec": spec,
    })


def tolerations(pool: NodePool) -> list[dict[str, str]]:
    """The GPU taint every GPU pool carries (whatever its value and effect), then the pool's
    other taints."""
    found = {(t.key, t.value, t.effect) for t in pool.taints if t.key != GPU_RESOURCE}
    return [dict(GPU_TOLERATION)] + [
        {"key": key, "operator": "Equal", "value": value, "effect": effect}
        for key, value, effect in sorted(found)]


def pod_template(cluster: Cluster, pool: NodePool) -> dict[str, Any]:
    name = nvlink_job_name(pool)
    template: dict[str, Any] = {"spec": {
        "restartPolicy": "Never",
        "nodeSelector": {LABEL_POOL: pool.name},
        "tolerations": tolerations(pool),
        "securityContext": {"runAsNonRoot": True, "runAsUser": NON_ROOT_UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "resourceClaims": [{"name": CLAIM,
                            "resourceClaimTemplateName": compute_domain_channel(name)}],
        "containers": [{
            "name": "worker",
            "image": f"{image_registry(cluster, IMAGE_UPSTREAM)}:{IMAGE_TAG}",
            "command": list(COMMAND),
            "resources": {"limits": {GPU_RESOURCE: quantity(pool.system.gpus_per_node)},
                          "claims": [{"name": CLAIM}]},
            "securityContext": {"allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]}},
        }],
    }}
    if cluster.kueue is not None and LABEL_NVLINK_DOMAIN in pool_topology_labels(pool.system):
        template["metadata"] = {"annotations": {REQUIRED_TOPOLOGY: LABEL_NVLINK_DOMAIN}}
    return template


def jobset(cluster: Cluster, pool: NodePool, namespace: str, pods: int) -> Output:
    labels = {LABEL_POOL: pool.name}
    if cluster.kueue is not None:
        labels[QUEUE_LABEL] = LOCAL_QUEUE
    return obj(COMPONENT, {
        "apiVersion": JOBSET_API, "kind": "JobSet",
        "metadata": metadata(cluster, nvlink_job_name(pool), namespace, labels=labels),
        "spec": {"replicatedJobs": [{
            "name": NVLINK_JOB_WORKERS,
            "replicas": 1,
            "template": {"spec": {
                "completionMode": "Indexed",
                "completions": pods,
                "parallelism": pods,
                "backoffLimit": 0,
                "template": pod_template(cluster, pool),
            }},
        }]},
    })


def expand(cluster: Cluster) -> Iterator[Output]:
    for pool in compute_domain_pools(cluster):
        for tenant in sorted(cluster.tenants, key=lambda t: t.name):
            if (pods := pods_of(tenant, pool)) > 0:
                namespace = tenant_namespace(tenant.name)
                yield compute_domain(cluster, pool, namespace)
                yield jobset(cluster, pool, namespace, pods)
