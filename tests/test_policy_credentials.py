"""AF440 on credentials that used to reach generated files (issue 19.3): a password in mount
options, userinfo in a URL, HTTP Basic and Bearer values, GitLab tokens, literals under keys
that should only refer to a Secret, a password in a description. Each is planted in a
blueprint (or a hand-built output) and must be caught; the look-alikes that are not
credentials (Secret names, paths, prose) must pass."""

from __future__ import annotations

import base64
import copy
from pathlib import Path

import pytest
import yaml

from aifab.expand import expand
from aifab.expand.common import obj
from aifab.pipeline import run
from aifab.verify import policies
from aifab.verify.policies import _credentials

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "blueprints" / "gwangju-gb200.yaml"
FOLDER = "generated/gwangju-gb200"

BASIC = "Basic " + base64.b64encode(b"backup:Tr0ub4dor&3").decode()
GITLAB = "glpat-" + "x7Kq2Lm9Rw4Tb8Nc1Vd6"  # 20 characters after the prefix


@pytest.fixture(scope="module")
def reference() -> dict:
    return yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def clean(reference, tmp_path_factory):
    return _findings(reference, tmp_path_factory.mktemp("clean"))


def _findings(data: dict, folder: Path) -> set:
    path = folder / "planted.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = run(path)
    assert result.ok and result.cluster is not None, [f.message for f in result.findings]
    return set(policies.check(expand(result.cluster), result.cluster, FOLDER))


def planted(reference, clean, tmp_path, plant) -> list:
    """The policy findings of the reference blueprint with `plant(spec)` applied, new ones."""
    data = copy.deepcopy(reference)
    plant(data["spec"])
    return sorted(_findings(data, tmp_path) - clean)


def only_af440(found: list):
    assert [f.code for f in found] == ["AF440"], [(f.code, f.file, f.message) for f in found]
    return found[0]


def shared(spec: dict) -> dict:
    return next(s for s in spec["storage"] if s["name"] == "shared")


# -- planted in a blueprint, caught in the generated files ---------------------------------------

def test_password_in_mount_options(reference, clean, tmp_path):
    def plant(spec):
        shared(spec)["mountOptions"] = ["nfsvers=4.1", "username=backup,password=hunter2"]

    found = only_af440(planted(reference, clean, tmp_path, plant))
    assert found.file == f"{FOLDER}/storage/storageclass-shared.yaml"
    assert found.path == ("mountOptions", 1)
    assert "hunter2" not in found.message  # the report does not repeat the credential


@pytest.mark.parametrize("value, what", [
    ("https://backup:Tr0ub4dor@s3.gwangju.example.kr/bucket", "URL"),
    (f"Authorization: {BASIC}", "Basic"),
    ("Authorization: Bearer 8f14e45fceea167a5a36dedd4bea2543", "Bearer"),
    (GITLAB, "GitLab"),
])
def test_credential_in_a_storage_parameter(reference, clean, tmp_path, value, what):
    def plant(spec):
        shared(spec)["parameters"] = {"s3Endpoint": value}

    found = only_af440(planted(reference, clean, tmp_path, plant))
    assert found.path == ("parameters", "s3Endpoint") and what in found.message


@pytest.mark.parametrize("key, value", [
    ("csi.storage.k8s.io/node-publish-secret-name", "P@ssw0rd!"),
    ("passwordRef", "Hunter2"),
    ("tokenPath", "s3cr3t token"),
])
def test_literal_under_a_key_that_refers_to_a_secret(reference, clean, tmp_path, key, value):
    def plant(spec):
        shared(spec)["parameters"] = {key: value}

    found = only_af440(planted(reference, clean, tmp_path, plant))
    assert found.path == ("parameters", key) and "should hold" in found.message


def test_password_in_a_tenant_description(reference, clean, tmp_path):
    def plant(spec):
        spec["tenants"][0]["description"] = "Foundation models; shared admin password: hunter2"

    found = planted(reference, clean, tmp_path, plant)
    assert found and {f.code for f in found} == {"AF440"}
    assert {f.file for f in found} <= {f"{FOLDER}/SUMMARY.md", f"{FOLDER}/summary.json"}


def test_password_in_a_priority_class_description(reference, clean, tmp_path):
    def plant(spec):
        spec["kueue"]["priorityClasses"] = [
            {"name": "training", "value": 100, "description": "Training (pwd=Winter2026)"}]

    found = planted(reference, clean, tmp_path, plant)
    assert found and {f.code for f in found} == {"AF440"}
    assert any(f.path == ("description",) for f in found)


def test_gitlab_token_in_a_pool_label(reference, clean, tmp_path):
    def plant(spec):
        spec["nodePools"][0].setdefault("labels", {})["example.com/ci"] = GITLAB

    found = planted(reference, clean, tmp_path, plant)
    assert found and {f.code for f in found} == {"AF440"}
    assert {f.file for f in found} == {f"{FOLDER}/node-pools/gb200.yaml"}


@pytest.mark.parametrize("text", [
    "db:password=hunter2",  # a value never hides the key after it
    "sec=ntlmssp,username=backup,password=hunter2,vers=3.0",
    '{"password": "hunter2"}',
    "--client-secret=s3cr3t",
    "Pwd=Winter2026;Server=db",
])
def test_credentials_written_as_pairs_in_text(text):
    assert "written as" in _credentials.secret_value(text)


@pytest.mark.parametrize("data, path", [
    ({"clientSecret": "hunter2"}, ("clientSecret",)),  # a key ending in Secret holds one
    ({"passwords": ["hunter2"]}, ("passwords", 0)),  # a list is judged by its key
    ({"secretNames": ["vast-csi", "Hunter 2!"]}, ("secretNames", 1)),
])
def test_literal_under_a_credential_key_and_in_its_lists(data, path):
    found = _check(data)
    assert [(f.code, f.path[-len(path):]) for f in found] == [("AF440", path)]


# -- what is not a credential ---------------------------------------------------------------------

def _check(data: dict) -> list:
    out = obj("storage", {"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": "c", "namespace": "gpu-operator"}, "data": data})
    cluster = run(REFERENCE).cluster
    assert cluster is not None
    return list(policies.check([*expand(cluster), out], cluster, FOLDER))


@pytest.mark.parametrize("value", [
    "csi.storage.k8s.io/provisioner-secret-name=csi-cephfs-secret",
    "credentials=/etc/cifs/backup.cred",  # mount.cifs: a file holding them
    "password=${BACKUP_PASSWORD}",
    "--token-file=/var/run/secrets/tokens/vault",
    "oci://registry.gwangju-ai-hub.ai.example.kr/charts",
    "https://user@git.example.kr/repo.git",  # a user without a password
    "Basic authentication is disabled; Bearer tokens expire after an hour",
    "nvcr.io/nvidia/cuda:12.8.0-base",
    "key: nvidia.com/gpu",
])
def test_look_alikes_pass(value):
    assert _check({"note": value}) == []


@pytest.mark.parametrize("key, value", [
    ("secretName", "ngc-api-secret"),
    ("passwordRef", "gpu-operator/backup-password"),
    ("tokenPath", "/var/run/secrets/token"),
    ("tokenEndpoint", "https://idp.example.kr/token"),
    ("secretType", "kubernetes.io/dockerconfigjson"),
])
def test_references_pass(key, value):
    assert _check({key: value}) == []
