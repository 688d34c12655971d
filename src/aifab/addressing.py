"""The compute fabric's IP plan: one rail per compute NIC, `fabric.subnet` split between rails,
and per rail a block of addresses for every node (nv-ipam's perNodeBlockSize).

The fabric rule checks the plan fits and the network component emits it, from this one place.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from aifab.model import Cluster, NodePool

# IPv4 special-purpose blocks no host address may come from: "this network" (RFC 1122
# 3.2.1.3), loopback (RFC 1122), link-local (RFC 3927), multicast (RFC 5771), reserved and
# broadcast (RFC 1112, RFC 919). The fabric rule and the tenant peers rule refuse them.
SPECIAL_BLOCKS = (
    (ipaddress.ip_network("0.0.0.0/8"), "'this network' (0.0.0.0/8)"),
    (ipaddress.ip_network("127.0.0.0/8"), "loopback (127.0.0.0/8)"),
    (ipaddress.ip_network("169.254.0.0/16"), "link-local (169.254.0.0/16)"),
    (ipaddress.ip_network("224.0.0.0/4"), "multicast (224.0.0.0/4)"),
    (ipaddress.ip_network("240.0.0.0/4"), "reserved and broadcast (240.0.0.0/4)"),
)
# The IPv6 ones (RFC 4291 2.5.2, 2.5.3, 2.5.6, 2.7)
SPECIAL_BLOCKS_V6 = (
    (ipaddress.ip_network("::/128"), "unspecified (::/128)"),
    (ipaddress.ip_network("::1/128"), "loopback (::1/128)"),
    (ipaddress.ip_network("fe80::/10"), "link-local (fe80::/10)"),
    (ipaddress.ip_network("ff00::/8"), "multicast (ff00::/8)"),
)

MAX_BLOCK = 64  # addresses per node and rail: one per pod using the rail (rdmaHcaMax is 63)
MIN_BLOCK = 2  # nv-ipam's smallest perNodeBlockSize


@dataclass(frozen=True, slots=True)
class Rail:
    index: int
    subnet: ipaddress.IPv4Network | ipaddress.IPv6Network
    pools: tuple[NodePool, ...]  # the pools whose nodes have this rail's NIC
    block: int  # addresses each node gets; 0 when the subnet is too small

    @property
    def nodes(self) -> int:
        return sum(pool.node_count for pool in self.pools)


def nic_pools(cluster: Cluster) -> list[NodePool]:
    return [pool for pool in cluster.node_pools if pool.system.compute_nics > 0]


def rail_count(cluster: Cluster) -> int:
    return max((pool.system.compute_nics for pool in nic_pools(cluster)), default=0)


def rails(cluster: Cluster) -> list[Rail]:
    """The rails of the cluster's compute fabric ([] without a fabric, or when the subnet
    cannot even be split into one subnet per rail)."""
    if cluster.fabric is None or not (count := rail_count(cluster)):
        return []
    network = ipaddress.ip_network(cluster.fabric.subnet, strict=False)
    bits = (count - 1).bit_length()
    if network.prefixlen + bits > network.max_prefixlen:
        return []
    subnets = list(network.subnets(prefixlen_diff=bits))[:count]
    plan = []
    for index, subnet in enumerate(subnets):
        pools = tuple(p for p in nic_pools(cluster) if p.system.compute_nics > index)
        plan.append(Rail(index, subnet, pools, _block(subnet, sum(p.node_count for p in pools))))
    return plan


def _block(subnet: ipaddress.IPv4Network | ipaddress.IPv6Network, nodes: int) -> int:
    """The largest power-of-two block (2..64) of which every node gets one, else 0."""
    usable = subnet.num_addresses - 2  # nv-ipam leaves out the network and broadcast addresses
    block = MAX_BLOCK
    while block >= MIN_BLOCK and block * max(nodes, 1) > usable:
        block //= 2
    return block if block >= MIN_BLOCK else 0

