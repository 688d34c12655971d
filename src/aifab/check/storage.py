"""Storage classes: one default, and the parameters the backend cannot work without.

Kubernetes gives claims without a storageClassName the default class; with none they stay
Pending, with several the choice is ambiguous (docs/blueprint.md, spec.storage[].default).
Each backend's CSI driver needs some parameters with no sensible default (the NFS server and
share, a CephFS cluster and file system): catalog storage.yaml `required`, with sources.
"""

from collections.abc import Iterator

from aifab.diagnostics import Finding, finding, format_path, warning
from aifab.model import Cluster

CODES = {
    "AF384": "more than one default storage class",
    "AF385": "no default storage class",
    "AF386": "storage parameter missing",
    "AF387": "node-local volumes retained",
}



def check(cluster: Cluster) -> Iterator[Finding]:
    defaults = [s for s in cluster.storage if s.default]
    for extra in defaults[1:]:
        yield finding("AF384", f"storage class '{extra.name}' is marked default, but "
                      f"'{defaults[0].name}' ({format_path(defaults[0].path)}) already is",
                      extra.path + ("default",),
                      hint="keep default: true on one class; with several defaults Kubernetes "
                      "gives new claims whichever was created last")
    if cluster.storage and not defaults:
        yield warning("AF385", f"none of the {len(cluster.storage)} storage classes is the "
                      "default: claims that name no storageClassName would stay Pending",
                      ("spec", "storage"),
                      hint="set default: true on the class most claims should use")
    for storage in cluster.storage:
        backend = cluster.catalog.storage_backends[storage.backend]
        if missing := [key for key in backend.required if key not in storage.parameters]:
            yield finding("AF386", f"{storage.backend} storage class '{storage.name}' has no "
                          f"{' or '.join(missing)} parameter; the {storage.backend} driver "
                          "cannot provision volumes without it", storage.path + ("backend",),
                          hint=f"add {', '.join(missing)} under parameters ({backend.driver}: "
                          f"{backend.source})")
        if storage.backend == "local-nvme" and storage.reclaim_policy == "Retain":
            yield warning("AF387", f"local-nvme storage class '{storage.name}' retains volumes: "
                          "a retained local volume stays bound to its node and its disk space "
                          "is not reused until an administrator deletes it by hand",
                          storage.path + ("reclaimPolicy",),
                          hint="use reclaimPolicy: Delete (the default for local-nvme)")
