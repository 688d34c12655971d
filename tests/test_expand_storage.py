"""The storage component: a StorageClass per storage entry, with the backend's CSI driver."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import kubernetes_validate
import pytest

from aifab.catalog import load_catalog
from aifab.expand import storage
from aifab.pipeline import run

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "blueprints" / "gwangju-gb200.yaml"
DEFAULT = "storageclass.kubernetes.io/is-default-class"
BACKENDS = ("local-nvme", "lustre", "nfs", "weka", "vast", "cephfs")


@pytest.fixture(scope="module")
def cluster():
    result = run(REFERENCE)
    assert result.cluster is not None and result.ok
    return result.cluster


def _by_name(cluster):
    return {o.data["metadata"]["name"]: o.data for o in storage.expand(cluster)}


def test_backend_table_covers_every_blueprint_backend():
    table = load_catalog().storage_backends
    assert set(table) == set(BACKENDS)
    assert table["local-nvme"].provisioner == "topolvm.io"
    assert table["lustre"].provisioner == "exa.csi.ddn.com"
    assert table["nfs"].provisioner == "nfs.csi.k8s.io"
    assert table["weka"].provisioner == "csi.weka.io"
    assert table["vast"].provisioner == "csi.vastdata.com"
    assert table["cephfs"].provisioner == "cephfs.csi.ceph.com"
    for backend in table.values():
        assert backend.source.startswith("https://")
    assert table["nfs"].required == ("server", "share")


def test_backend_table_matches_the_schema_enum():
    import json

    schema = json.loads((ROOT / "schemas" / "blueprint.schema.json").read_text(encoding="utf-8"))
    enums = []

    def walk(node):
        if isinstance(node, dict):
            if "backend" in node.get("properties", {}):
                enums.append(node["properties"]["backend"].get("enum"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert enums and all(set(e) == set(BACKENDS) for e in enums if e)


def test_reference_storage_classes(cluster):
    classes = _by_name(cluster)
    assert sorted(classes) == ["scratch", "shared"]
    scratch, shared = classes["scratch"], classes["shared"]
    assert scratch["provisioner"] == "topolvm.io"
    assert scratch["volumeBindingMode"] == "WaitForFirstConsumer"
    assert scratch["parameters"] == {"csi.storage.k8s.io/fstype": "xfs"}
    assert "annotations" not in scratch["metadata"]
    assert shared["provisioner"] == "exa.csi.ddn.com"
    assert shared["metadata"]["annotations"] == {DEFAULT: "true"}
    assert shared["reclaimPolicy"] == "Retain"  # the blueprint default
    defaults = [c for c in classes.values() if "annotations" in c["metadata"]]
    assert len(defaults) == 1


def test_paths(cluster):
    assert sorted(o.path for o in storage.expand(cluster)) == [
        "storage/storageclass-scratch.yaml", "storage/storageclass-shared.yaml"]


def test_parameters_merge_over_defaults_and_mount_options(cluster):
    entry = dataclasses.replace(
        cluster.storage[0], backend="weka", default=False, reclaim_policy="Delete",
        parameters=MappingProxyType({"filesystemName": "ai", "ownerUid": "1000"}),
        mount_options=("readcache",))
    data = storage.storage_class(cluster, entry)
    assert data["provisioner"] == "csi.weka.io"
    assert data["parameters"]["filesystemName"] == "ai"  # the entry wins
    assert data["parameters"]["ownerUid"] == "1000"
    assert data["parameters"]["volumeType"] == "dir/v1"  # backend default kept
    assert list(data["parameters"]) == sorted(data["parameters"])
    assert data["reclaimPolicy"] == "Delete"
    assert data["mountOptions"] == ["readcache"]


def test_no_default_is_invented(cluster):
    plain = dataclasses.replace(
        cluster, storage=tuple(dataclasses.replace(s, default=False) for s in cluster.storage))
    assert all("annotations" not in c["metadata"] for c in _by_name(plain).values())


def test_nfs_blueprint():
    classes = _by_name(run(ROOT / "blueprints" / "seoul-rtxpro.yaml").cluster)
    models = classes["models"]
    assert models["provisioner"] == "nfs.csi.k8s.io"
    assert models["parameters"] == {"server": "nfs.se2.ai.example.kr", "share": "/export/models"}
    assert models["mountOptions"] == ["nfsvers=4.1", "hard"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_gives_a_valid_storage_class(cluster, backend):
    entry = dataclasses.replace(cluster.storage[0], backend=backend)
    kubernetes_validate.validate(storage.storage_class(cluster, entry), "1.34", strict=True)


def test_docs_list_every_backend_and_provisioner():
    docs = (ROOT / "docs" / "storage.md").read_text(encoding="utf-8")
    for name, backend in load_catalog().storage_backends.items():
        assert f"`{name}`" in docs and f"`{backend.provisioner}`" in docs
        assert backend.source in docs, f"docs/storage.md does not cite {backend.source}"
