"""GPU quota in every tenant namespace, on every GPU resource.

Why: Kueue admits queued workloads within each tenant's quota, but a pod that names no queue
is not Kueue's business: only a ResourceQuota stops it from taking every GPU of the cluster,
and a quota caps only the resources it lists (nvidia.com/gpu but not a MIG pool's
nvidia.com/mig-* resources leaves every MIG slice free, and the other way round).

Fix: aifab generates the gpu ResourceQuota of every tenant (aifab.expand.tenants); every GPU
resource the cluster advertises must be in its spec.hard, at "0" where the tenant has no quota.
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.diagnostics import Finding
from aifab.expand.common import GPU_RESOURCE, gpu_resources
from aifab.model import Cluster
from aifab.verify.policies._context import Context, namespace_of

CODES = {
    "AF443": "tenant namespace without a GPU ResourceQuota",
    "AF444": "tenant GPU ResourceQuota leaves a GPU resource of the cluster uncapped",
}

MIG_QUOTA_PREFIX = "requests.nvidia.com/mig-"


def advertised_gpu_resources(cluster: Cluster) -> list[str]:
    """Every GPU extended resource the cluster's nodes may advertise: what each pool advertises
    (aifab.expand.common.gpu_resources, which also sizes the quotas), and nvidia.com/gpu always
    (a cap of "0" costs nothing, and a pool re-partitioned later would advertise it)."""
    strategy = cluster.mig_strategy
    names = {GPU_RESOURCE}
    for pool in cluster.node_pools:
        names |= set(gpu_resources(pool, strategy))
    return sorted(names)


def check(ctx: Context) -> Iterator[Finding]:
    quotas = ctx.of_kind("ResourceQuota")
    advertised = [f"requests.{name}" for name in advertised_gpu_resources(ctx.cluster)]
    for namespace in ctx.tenant_namespaces:
        mine = [out for out in quotas if namespace_of(out.data) == namespace]
        hard = {key: out for out in mine
                for key in ((out.data.get("spec") or {}).get("hard") or {})}
        gpu = [key for key in hard if key == f"requests.{GPU_RESOURCE}"
               or key.startswith(MIG_QUOTA_PREFIX)]
        if not gpu:
            yield ctx.finding(ctx.namespace_output(namespace), "AF443",
                              f"tenant namespace '{namespace}' has no GPU ResourceQuota: pods "
                              "that bypass Kueue may take every GPU of the cluster",
                              ("metadata", "name"),
                              f"add a ResourceQuota with spec.hard requests.{GPU_RESOURCE} (and "
                              "requests.nvidia.com/mig-<profile> on MIG pools), \"0\" where the "
                              "tenant has no quota")
            continue
        quota = hard[gpu[0]]
        missing = [name for name in advertised if name not in hard]
        if missing:
            yield ctx.finding(quota, "AF444", f"the GPU quota of tenant namespace '{namespace}' "
                              f"does not cap {', '.join(missing)}, which the cluster's nodes "
                              "advertise: pods that bypass Kueue may take all of them",
                              ("spec", "hard"),
                              "cap every GPU resource of the cluster in spec.hard, with \"0\" "
                              "for those the tenant has no quota on")
