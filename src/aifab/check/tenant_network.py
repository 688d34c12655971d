"""Tenant network peers are address ranges a NetworkPolicy can hold and a pod may reach.

spec.tenants[].network opens the tenant's default deny for the listed peers
(aifab.expand.tenants). A NetworkPolicy ipBlock takes a CIDR
(https://kubernetes.io/docs/concepts/services-networking/network-policies/): an address with
host bits set is refused by the API server, so it is refused here at its line. A range that
overlaps special-purpose addresses (loopback, link-local where cloud and BMC metadata
services answer, multicast, "this network"; aifab.addressing.SPECIAL_BLOCKS, the blocks the
fabric rule AF337 refuses; 0.0.0.0/0 overlaps them all) opens far more than a peer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from aifab.addressing import SPECIAL_BLOCKS, SPECIAL_BLOCKS_V6
from aifab.diagnostics import Finding, finding
from aifab.model import Cluster

CODES = {
    "AF397": "tenant peer address range is not a CIDR",
    "AF398": "tenant peer address range overlaps special-purpose addresses",
}


def check(cluster: Cluster) -> Iterator[Finding]:
    for tenant in cluster.tenants:
        for rule in (*tenant.ingress, *tenant.egress):
            for i, cidr in enumerate(rule.cidrs):
                yield from _cidr(tenant.name, cidr, rule.path + ("cidrs", i))


def _cidr(tenant: str, cidr: str, path: tuple[object, ...]) -> Iterator[Finding]:
    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except ValueError as exc:
        hint = "write a network address and prefix length, e.g. 10.40.0.0/24 or 2001:db8::/48"
        if "/" in cidr:
            try:
                hint = (f"did you mean {ipaddress.ip_network(cidr, strict=False)}? A CIDR "
                        "names its network address (no host bits)")
            except ValueError:
                pass
        yield finding("AF397", f"tenant '{tenant}' lists '{cidr}', which is not a CIDR "
                      f"({exc})", path, hint=hint)
        return
    blocks = SPECIAL_BLOCKS if network.version == 4 else SPECIAL_BLOCKS_V6
    hit = [name for block, name in blocks if network.overlaps(block)]  # type: ignore[arg-type]
    if hit:
        yield finding("AF398", f"tenant '{tenant}' opens its network to {cidr}, which overlaps "
                      f"{', '.join(hit)} addresses", path,
                      hint="name the peer's own range (the object store's subnet, the "
                      "load balancer's), never 0.0.0.0/0 or a special-purpose block")
