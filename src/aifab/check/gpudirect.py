"""GPUDirect RDMA: the legacy nvidia-peermem mode needs MLNX_OFED and an RDMA network.

peermem loads against the MLNX_OFED/DOCA-OFED stack, which the Network Operator deploys
(ofedDriver) or the hosts provide (facts section 4, source R1). DMA-BUF, the default, needs only
the open kernel modules (kernel_modules checks those).
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.diagnostics import Finding, warning
from aifab.model import Cluster

CODES = {
    "AF360": "peermem without a Network Operator",
    "AF361": "peermem without an RDMA network",
}

RDMA = ("spec", "gpuOperator", "gpuDirectRDMA")


def check(cluster: Cluster) -> Iterator[Finding]:
    if cluster.gpu_operator.gpu_direct_rdma != "peermem" or cluster.network_operator:
        return
    if cluster.fabric is None:
        yield warning(
            "AF361",
            "gpuDirectRDMA is peermem, but there is no fabric and no networkOperator: "
            "GPUDirect RDMA has nothing to run on",
            RDMA,
            hint="set gpuDirectRDMA: disabled, or declare spec.fabric and spec.networkOperator",
        )
    else:
        yield warning(
            "AF360",
            "gpuDirectRDMA is peermem, which needs MLNX_OFED/DOCA-OFED, but there is no "
            "networkOperator to deploy it; aifab cannot see whether the hosts have it",
            RDMA,
            hint="add spec.networkOperator (ofedDriver.deploy: false if the hosts run OFED), "
                 "or use dma-buf (recommended)",
        )
