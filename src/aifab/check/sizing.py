"""Pool sizes: NVL72 pools give whole racks, every other pool gives nodes, never both.

An NVL72 rack is one NVLink domain of 18 compute trays and is bought, cabled and scheduled
whole (facts rule 1; catalog nodesPerRack, source D3/D4); servers are counted one by one.
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.diagnostics import Finding, finding
from aifab.model import Cluster, NodePool

CODES = {
    "AF310": "NVL72 pool sized in nodes",
    "AF311": "server pool sized in racks",
    "AF312": "pool size missing",
}


def _racks_hint(pool: NodePool, racks: int | str) -> str:
    system = pool.system
    return (f"{system.id} comes in racks of {system.nodes_per_rack} trays "
            f"({system.gpus_per_rack} GPUs): racks: {racks}")


def check(cluster: Cluster) -> Iterator[Finding]:
    for pool in cluster.node_pools:
        system = pool.system
        if system.is_nvl_rack and pool.nodes is not None:
            if pool.racks is not None:
                message = (f"pool '{pool.name}' gives both racks: {pool.racks} and nodes: "
                           f"{pool.nodes}; {system.id} is sized in racks only")
                hint = f"remove nodes ({_racks_hint(pool, pool.racks)})"
            else:
                racks = -(-pool.nodes // system.nodes_per_rack)
                message = (f"pool '{pool.name}' gives nodes: {pool.nodes}, but {system.id} "
                           "is sized in whole racks")
                hint = f"replace nodes with racks; {_racks_hint(pool, racks)}"
            yield finding("AF310", message, pool.path + ("nodes",), hint=hint)
        elif not system.is_nvl_rack and pool.racks is not None:
            if pool.nodes is not None:
                message = (f"pool '{pool.name}' gives both nodes: {pool.nodes} and racks: "
                           f"{pool.racks}; {system.id} is sized in nodes only")
                hint = "remove racks"
            else:
                message = (f"pool '{pool.name}' gives racks: {pool.racks}, but {system.id} "
                           "servers are sized in nodes")
                hint = "replace racks with the number of servers"
                if system.nodes_per_rack:
                    hint += (f"; the catalog puts {system.nodes_per_rack} {system.id} in a "
                             f"rack: nodes: {pool.racks * system.nodes_per_rack}")
            yield finding("AF311", message, pool.path + ("racks",), hint=hint)
        elif pool.racks is None and pool.nodes is None:
            if system.is_nvl_rack:
                hint = f"add the number of racks; {_racks_hint(pool, '<count>')}"
            else:
                hint = ("add nodes: the number of servers (with nodeSelector, how many "
                        "nodes you expect to match)")
            yield finding("AF312", f"pool '{pool.name}' gives neither racks nor nodes",
                          pool.path, hint=hint)
