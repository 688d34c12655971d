"""Lustre over InfiniBand and the containerized DOCA-OFED driver do not go together.

The Network Operator's DOCA-OFED driver container (`networkOperator.ofedDriver.deploy`, the
default) unloads the host's InfiniBand modules and loads its own. Its documented switches for
storage modules are UNLOAD_STORAGE_MODULES (ib_isert, nvme_rdma, nvmet_rdma, rpcrdma, xprtrdma,
ib_srpt) and ENABLE_NFSRDMA (NFS over RDMA): Network Operator docs, "NVIDIA DOCA-OFED Driver
Container" (v25.10.0 and later; R5). The Lustre client's o2ib network driver (lnet, ko2iblnd) is
none of them: it holds the host's ib_core while the file system is mounted, and a module built
against the host's stack cannot load against the container's ("It is not possible to load inbox
modules since they depend on ib_core which does not match (symbol error)", same page). So the
driver container cannot start under a mounted Lustre file system, or Lustre cannot mount after
it. A warning, as for AF382: the blueprint stays valid, the operator is told what will not run.
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.diagnostics import Finding, warning
from aifab.model import Cluster

CODES = {"AF389": "Lustre over InfiniBand with the containerized DOCA-OFED driver"}


def check(cluster: Cluster) -> Iterator[Finding]:
    network, fabric = cluster.network_operator, cluster.fabric
    if network is None or not network.deploy_ofed or fabric is None:
        return
    if fabric.technology != "infiniband":
        return
    for storage in cluster.storage:
        if storage.backend == "lustre":
            yield warning(
                "AF389", f"storage class '{storage.name}' mounts Lustre over InfiniBand, but "
                "the Network Operator deploys the DOCA-OFED driver container, which replaces the "
                "host's InfiniBand modules that the Lustre client (lnet, ko2iblnd) is built "
                "against and holds; its storage-module switches (UNLOAD_STORAGE_MODULES, "
                "ENABLE_NFSRDMA) do not cover Lustre, so the driver or the mount will fail",
                storage.path + ("backend",),
                hint="install DOCA-OFED and a Lustre client built against it on the hosts and set "
                "networkOperator.ofedDriver.deploy: false (the operator then only runs the "
                "device plugins and networks)")
