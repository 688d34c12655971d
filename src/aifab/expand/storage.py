"""StorageClasses: one per `spec.storage` entry, backed by the backend's real CSI driver.

The backend table (provisioner, default parameters, binding mode, expansion, upstream source)
is catalog data: src/aifab/catalog/storage.yaml, documented in docs/storage.md. An entry's
`parameters` are merged over the backend's defaults (the entry wins), `reclaimPolicy` and
`mountOptions` are the entry's. The entry marked `default` carries the
`storageclass.kubernetes.io/is-default-class: "true"` annotation
(https://kubernetes.io/docs/tasks/administer-cluster/change-default-storage-class/); when none
is marked, none is invented (the rules warn, AF385).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aifab.expand.common import Output, metadata, obj
from aifab.model import Cluster, StorageClass

COMPONENT = "storage"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def storage_class(cluster: Cluster, storage: StorageClass) -> dict[str, Any]:
    backend = cluster.catalog.storage_backends[storage.backend]
    merged = {**backend.parameters, **storage.parameters}
    extra = {"annotations": {DEFAULT_CLASS_ANNOTATION: "true"}} if storage.default else {}
    data: dict[str, Any] = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": metadata(cluster, storage.name, **extra),
        "provisioner": backend.provisioner,
    }
    if merged:
        data["parameters"] = {key: str(merged[key]) for key in sorted(merged)}
    data["reclaimPolicy"] = storage.reclaim_policy
    data["volumeBindingMode"] = backend.volume_binding_mode
    data["allowVolumeExpansion"] = backend.allow_volume_expansion
    if storage.mount_options:
        data["mountOptions"] = list(storage.mount_options)
    return data


def expand(cluster: Cluster) -> Iterator[Output]:
    for storage in sorted(cluster.storage, key=lambda s: s.name):
        yield obj(COMPONENT, storage_class(cluster, storage))
