"""Air gaps: driver containers that build kernel modules get the site's package repositories.

Without them the GPU driver container (and the DOCA-OFED driver container) tries to download
kernel headers and OS packages from the Internet and never becomes ready (GPU Operator docs,
"Install NVIDIA GPU Operator in Air-Gapped Environments"). `sovereignty.packageRepositories`
becomes one ConfigMap per operator namespace that `driver.repoConfig`, every NVIDIADriver's
`spec.repoConfig` and the NicClusterPolicy's `ofedDriver.repoConfig` name.
"""

from __future__ import annotations

import json

import jsonschema
import yaml

from aifab.expand import gpu_operator, network_operator
from aifab.expand.common import NS_GPU_OPERATOR, NS_NETWORK_OPERATOR, REPO_CONFIGMAP
from aifab.pipeline import run
from bundled import BLUEPRINTS, REFERENCE, cluster_of, reference, variant

REPOS = {"local.list": "deb [trusted=yes] http://packages.gj1.example.kr/ubuntu noble main\n"}


def with_packages(data):
    data["spec"]["sovereignty"]["packageRepositories"] = dict(REPOS)
    data["spec"]["nodePools"][1]["driver"] = {"version": "580.95.05"}  # NVIDIADrivers too


def objects(expand, cluster) -> dict[tuple[str, str], dict]:
    return {(o.data.get("kind", ""), o.data.get("metadata", {}).get("name", "")): o.data
            for o in expand(cluster) if o.kind == "object"}


def release(expand, cluster) -> dict:
    return next(o.data["spec"] for o in expand(cluster) if o.kind == "release")


def test_gpu_driver_containers_use_the_site_repositories(tmp_path):
    cluster = variant(tmp_path, with_packages)
    values = release(gpu_operator.expand, cluster)["values"]
    assert values["driver"]["repoConfig"] == {"configMapName": REPO_CONFIGMAP}
    found = objects(gpu_operator.expand, cluster)
    configmap = found[("ConfigMap", REPO_CONFIGMAP)]
    assert configmap["metadata"]["namespace"] == NS_GPU_OPERATOR
    assert configmap["data"] == REPOS
    drivers = [data for (kind, _), data in found.items() if kind == "NVIDIADriver"]
    assert drivers and all(d["spec"]["repoConfig"] == {"name": REPO_CONFIGMAP} for d in drivers)


def test_doca_driver_uses_the_site_repositories(tmp_path):
    cluster = variant(tmp_path, with_packages)
    found = objects(network_operator.expand, cluster)
    assert found[("ConfigMap", REPO_CONFIGMAP)]["metadata"]["namespace"] == NS_NETWORK_OPERATOR
    policy = found[("NicClusterPolicy", network_operator.POLICY_NAME)]
    assert policy["spec"]["ofedDriver"]["repoConfig"] == {"name": REPO_CONFIGMAP}
    crd = yaml.safe_load(reference(REFERENCE / "crds" / "mellanox.com_nicclusterpolicies.yaml")
                         .read_text(encoding="utf-8"))
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    jsonschema.Draft202012Validator(schema).validate(json.loads(json.dumps(policy)))


def test_without_repositories_nothing_is_mounted():
    cluster = cluster_of(BLUEPRINTS / "gwangju-gb200.yaml")
    values = release(gpu_operator.expand, cluster)["values"]
    assert "repoConfig" not in values["driver"]
    assert ("ConfigMap", REPO_CONFIGMAP) not in objects(gpu_operator.expand, cluster)


def test_an_air_gap_without_repositories_is_a_warning_not_an_error():
    # the reference blueprint (../shared/design) has none and stays valid; the operator is told
    # what will not start
    result = run(BLUEPRINTS / "gwangju-gb200.yaml")
    found = [f for f in result.findings if f.code == "AF382"]
    assert result.ok and len(found) == 1 and not found[0].is_error
    assert found[0].path == ("spec", "sovereignty", "airGapped")
    assert "packageRepositories" in found[0].hint


def test_repository_file_names_are_refused_when_not_package_files(tmp_path):
    def bad(data):
        data["spec"]["sovereignty"]["packageRepositories"] = {"../../etc/passwd": "x"}

    path = tmp_path / "bad.yaml"
    data = yaml.safe_load((BLUEPRINTS / "gwangju-gb200.yaml").read_text(encoding="utf-8"))
    bad(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = run(path)
    assert not result.ok
    assert any(f.path[:3] == ("spec", "sovereignty", "packageRepositories")
               for f in result.findings if f.is_error)
