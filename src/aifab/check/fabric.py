"""Compute fabric: link speed matches the NICs, P_Keys only on InfiniBand, whole SUs.

Rails per node are the system's compute NICs (catalog computeNics/computeNicGbps, D1/D2/D4/D7;
facts rule 9). A DGX SuperPOD fabric is built per scalable unit, and a partial SU is cabled as
a full SU (catalog suNodes/suRacks, D5/D6/D7; facts section 2). The compute subnet must be
addresses hosts can hold: not "this network" (0.0.0.0/8, RFC 1122 3.2.1.3), loopback
(127.0.0.0/8, RFC 1122), link-local (169.254.0.0/16, RFC 3927), multicast (224.0.0.0/4,
RFC 5771) or reserved and broadcast (240.0.0.0/4, RFC 1112; 255.255.255.255, RFC 919); a range
that overlaps any of them (0.0.0.0/0 overlaps them all) would hand those addresses to RDMA NICs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from aifab.addressing import MIN_BLOCK, SPECIAL_BLOCKS, nic_pools, rail_count, rails
from aifab.catalog import System
from aifab.diagnostics import Finding, finding, warning
from aifab.model import Cluster, Fabric, NodePool

CODES = {
    "AF330": "partition key without InfiniBand",
    "AF331": "link faster than the compute NICs",
    "AF332": "link slower than the compute NICs",
    "AF333": "fabric pool without compute NICs",
    "AF334": "partial scalable unit",
    "AF335": "compute NICs without a fabric",
    "AF336": "compute subnet too small for the nodes",
    "AF337": "compute subnet overlaps special-purpose addresses",
}


COMPUTE = ("spec", "fabric", "compute")


def _unverified(system: System, key: str, what: str) -> str:
    fact = system.facts[key]
    return "" if fact.verified else f". The catalog's {what} is unverified: {fact.note.rstrip('.')}"


def _nics(system: System) -> str:
    return f"{system.compute_nics} x {system.compute_nic_gbps} Gb/s {system.compute_nic_model}"


def _speed(fabric: Fabric, pool: NodePool) -> Iterator[Finding]:
    system = pool.system
    nic = system.compute_nic_gbps
    where = (f"the {nic} Gb/s {system.compute_nic_model} compute NICs of {system.id} "
             f"(pool '{pool.name}')")
    unverified = _unverified(system, "computeNicGbps", "NIC speed")
    if fabric.link_gbps > nic:
        yield finding("AF331", f"linkGbps {fabric.link_gbps} is faster than {where}; a NIC cannot "
                      f"run faster than its speed{unverified}", COMPUTE + ("linkGbps",),
                      hint=f"set linkGbps: {nic}")
    elif fabric.link_gbps < nic:
        yield warning("AF332", f"linkGbps {fabric.link_gbps} is slower than {where}; the NICs "
                      f"would run below their speed{unverified}", COMPUTE + ("linkGbps",),
                      hint=f"set linkGbps: {nic} if the switches and cables support it")


def _scalable_unit(fabric: Fabric, pool: NodePool) -> Iterator[Finding]:
    system = pool.system
    if system.su_racks:
        size, per_su, unit = pool.rack_count, system.su_racks, "racks"
    elif system.su_nodes:
        # DGX B300: the catalog's suNodes is the Spectrum-X SU; InfiniBand (XDR) SUs differ.
        xdr = system.facts.get("suNodesXdr")
        per_su = int(xdr.value) if xdr and fabric.technology == "infiniband" else system.su_nodes
        size, unit = pool.node_count, "nodes"
    else:
        return
    if size and size % per_su:
        units = -(-size // per_su)
        yield warning("AF334", f"pool '{pool.name}' has {size} {system.id} {unit}, "
                      f"{size / per_su:.2f} scalable units of {per_su} {unit}; a partial SU is "
                      f"cabled as a full SU, so the fabric is built for {units} SU "
                      f"({units * per_su} {unit})", pool.path + (unit,),
                      hint=f"size the pool in whole SUs (multiples of {per_su} {unit}), or plan "
                           f"the fabric for {units} SU")


def check(cluster: Cluster) -> Iterator[Finding]:
    fabric = cluster.fabric
    if fabric is None:
        rails = [pool for pool in cluster.node_pools if pool.system.compute_nics]
        if rails:
            listed = "; ".join(f"{p.name} ({_nics(p.system)} per node)" for p in rails)
            yield warning("AF335", f"no compute fabric, but pools have compute NICs that stay "
                          f"unconfigured: {listed}", rails[0].path + ("system",),
                          hint="add fabric: {compute: {technology: infiniband, linkGbps: "
                               f"{rails[0].system.compute_nic_gbps}}}}} (or spectrum-x)")
        return
    if fabric.partition_key is not None and fabric.technology != "infiniband":
        yield finding("AF330", f"partitionKey {fabric.partition_key} is an InfiniBand P_Key, but "
                      f"the compute fabric is {fabric.technology}", COMPUTE + ("partitionKey",),
                      hint="remove partitionKey, or set technology: infiniband if the fabric "
                           "is InfiniBand")
    for pool in cluster.node_pools:
        if not pool.system.compute_nics:
            yield warning("AF333", f"pool '{pool.name}': {pool.system.id} has no compute NICs, so "
                          f"its nodes cannot join the {fabric.technology} fabric"
                          f"{_unverified(pool.system, 'computeNics', 'NIC count')}",
                          pool.path + ("system",),
                          hint="its GPUs reach other nodes over the host network only; check "
                               "the servers' NICs, or run the pool in a cluster without a fabric")
            continue
        yield from _speed(fabric, pool)
        yield from _scalable_unit(fabric, pool)
    yield from _addresses(cluster, fabric)


def _special(fabric: Fabric) -> Iterator[Finding]:
    network = ipaddress.ip_network(fabric.subnet, strict=False)  # the schema's IPv4 CIDR form
    hit = [name for block, name in SPECIAL_BLOCKS if network.overlaps(block)]
    if hit:
        yield finding("AF337", f"subnet {fabric.subnet} overlaps {', '.join(hit)} addresses, "
                      "which no NIC may be given", COMPUTE + ("subnet",),
                      hint="use a private range of your own (RFC 1918), such as 10.200.0.0/16")


def _addresses(cluster: Cluster, fabric: Fabric) -> Iterator[Finding]:
    """Each rail gets an equal share of `subnet`; every node needs a block of it (nv-ipam)."""
    special = list(_special(fabric))
    if special:
        yield from special
        return
    count = rail_count(cluster)
    plan = rails(cluster)
    short = [rail for rail in plan if not rail.block]
    if count and (not plan or short):
        nodes = max((rail.nodes for rail in plan), default=sum(p.node_count for p in nic_pools(cluster)))
        share = f"a /{plan[0].subnet.prefixlen} per rail" if plan else "not even one subnet per rail"
        yield finding("AF336", f"subnet {fabric.subnet} is split into {count} rails ({share}), "
                      f"too small for {nodes:,} nodes with at least {MIN_BLOCK} addresses each",
                      COMPUTE + ("subnet",),
                      hint=f"give fabric.compute.subnet a larger range: a /{_prefix_for(count, nodes)} "
                      "or larger fits")


def _prefix_for(rails_wanted: int, nodes: int) -> int:
    """The longest IPv4 prefix whose per-rail share holds `nodes` blocks of MIN_BLOCK."""
    prefix = 32
    while prefix > 0 and ((2 ** (32 - prefix)) // max(rails_wanted, 1)) - 2 < nodes * MIN_BLOCK:
        prefix -= 1
    return prefix
