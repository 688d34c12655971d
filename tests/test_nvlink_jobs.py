"""examples/: a ready JobSet + ComputeDomain per tenant and ComputeDomain pool, never deployed."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from aifab.expand import expand, nvlink_jobs
from aifab.naming import LABEL_NVLINK_DOMAIN, LABEL_POOL
from bundled import REFERENCE, ROOT, cluster_of, reference

BLUEPRINTS = ROOT / "blueprints"
JOBSET_CRD = REFERENCE / "crds" / "jobset.x-k8s.io_jobsets.yaml"
# the CRD of the DRA driver the bundled GPU Operator releases pair with (catalog)
CD_CRD = (REFERENCE / "versioned" / "nvidia-dra-driver-gpu-25.12.0"
          / "resource.nvidia.com_computedomains.yaml")
CD_CRD_0_4 = (REFERENCE / "versioned" / "dra-driver-nvidia-gpu-0.4.1"
              / "resource.nvidia.com_computedomains.yaml")


def _validator(path: Path, version: str) -> jsonschema.Draft202012Validator:
    crd = yaml.safe_load(reference(path).read_text(encoding="utf-8"))
    served = next(v for v in crd["spec"]["versions"] if v["name"] == version and v["served"])
    return jsonschema.Draft202012Validator(served["schema"]["openAPIV3Schema"])


def examples(blueprint: str) -> dict[str, dict]:
    return {o.path: o.data for o in nvlink_jobs.expand(cluster_of(BLUEPRINTS / blueprint))}


@pytest.mark.parametrize("blueprint, expected", [
    ("gwangju-gb200.yaml", {"foundation-models": 18, "public-research": 18}),
    ("busan-gb300.yaml", {"frontier-models": 18, "inference-lab": 18}),
])
def test_one_job_per_tenant_and_pool(blueprint, expected):
    out = examples(blueprint)
    pool = "gb200" if "gb200" in blueprint else "gb300"
    assert set(out) == {f"examples/{ns}/{kind}-{pool}-nvlink.yaml"
                        for ns in expected for kind in ("computedomain", "jobset")}
    for ns, pods in expected.items():
        job = out[f"examples/{ns}/jobset-{pool}-nvlink.yaml"]["spec"]["replicatedJobs"][0]
        assert job["replicas"] == 1
        spec = job["template"]["spec"]
        assert spec["completions"] == spec["parallelism"] == pods
        assert spec["completionMode"] == "Indexed"


def test_jobset_template():
    out = examples("gwangju-gb200.yaml")
    cd = out["examples/public-research/computedomain-gb200-nvlink.yaml"]
    js = out["examples/public-research/jobset-gb200-nvlink.yaml"]
    assert js["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "default"
    pod = js["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]
    assert pod["metadata"]["annotations"] == {
        "kueue.x-k8s.io/podset-required-topology": LABEL_NVLINK_DOMAIN}
    spec = pod["spec"]
    assert spec["nodeSelector"] == {LABEL_POOL: "gb200"}
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists"}]
    # one pod per node: all four GPUs of a GB200 compute tray
    (container,) = spec["containers"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "4"}
    # the pod holds the channel of the job's own ComputeDomain
    channel = cd["spec"]["channel"]["resourceClaimTemplate"]["name"]
    assert spec["resourceClaims"] == [{"name": "imex-channel",
                                       "resourceClaimTemplateName": channel}]
    assert container["resources"]["claims"] == [{"name": "imex-channel"}]
    assert cd["metadata"]["name"] == js["metadata"]["name"]
    assert cd["spec"]["numNodes"] == 0  # required by the 25.12.0 CRD
    # the image comes through the registry mirror of the air-gapped site
    assert container["image"].startswith("registry.gwangju-1.ai.example.kr/")


def test_templates_are_valid_for_their_crds():
    jobset = _validator(JOBSET_CRD, "v1alpha2")
    domain = _validator(CD_CRD, "v1beta1")
    seen = set()
    for blueprint in ("gwangju-gb200.yaml", "busan-gb300.yaml"):
        for path, data in examples(blueprint).items():
            validator = {"JobSet": jobset, "ComputeDomain": domain}[data["kind"]]
            assert [e.message for e in validator.iter_errors(data)] == [], path
            seen.add(data["apiVersion"])
    assert seen == {"jobset.x-k8s.io/v1alpha2", "resource.nvidia.com/v1beta1"}


def test_no_examples_without_compute_domain_pools():
    assert examples("daejeon-b200.yaml") == {}
    assert examples("seoul-rtxpro.yaml") == {}


def test_examples_are_locked_but_not_deployed():
    """The Pulumi program reads examples/ as documents: checked against the lock, never
    declared."""
    from aifab.deploy.tree import load_cluster_tree

    tree = load_cluster_tree(ROOT / "generated", "gwangju-gb200")
    examples_in_tree = [p for p in tree.documents if p.startswith("examples/")]
    assert "examples/public-research/jobset-gb200-nvlink.yaml" in examples_in_tree
    assert all(p in tree.lock["files"] for p in examples_in_tree)
    assert not [e.path for e in tree.objects if e.path.startswith("examples/")]


def test_every_output_is_an_object_in_examples():
    cluster = cluster_of(BLUEPRINTS / "gwangju-gb200.yaml")
    kinds = {o.data["kind"] for o in expand(cluster) if o.path.startswith("examples/")}
    assert kinds == {"ComputeDomain", "JobSet"}


def test_the_tenant_role_may_create_what_the_examples_hold():
    """The tenant-admin Role of each namespace with examples can create their kinds there."""
    cluster = cluster_of(BLUEPRINTS / "gwangju-gb200.yaml")
    out = {o.path: o.data for o in expand(cluster)}
    for path, data in out.items():
        if not path.startswith("examples/"):
            continue
        role = out[f"tenants/{data['metadata']['namespace']}/role-tenant-admin.yaml"]
        group, plural = data["apiVersion"].split("/")[0], data["kind"].lower() + "s"
        assert any(group in rule["apiGroups"] and plural in rule["resources"]
                   and "create" in rule["verbs"] for rule in role["rules"]), path


def test_numnodes_follows_the_paired_crd(monkeypatch):
    """DRA driver 0.4.x defaults numNodes to 0 and no longer requires it: the field is left out,
    and the ComputeDomain is valid for that CRD too."""
    cluster = cluster_of(BLUEPRINTS / "gwangju-gb200.yaml")
    monkeypatch.setattr(nvlink_jobs, "dra_driver", lambda _: {"numNodesRequired": False})
    domain = nvlink_jobs.compute_domain(cluster, cluster.pool("gb200"), "public-research").data
    assert "numNodes" not in domain["spec"]
    validator = _validator(CD_CRD_0_4, "v1beta1")
    assert [e.message for e in validator.iter_errors(domain)] == []
    assert [e.message for e in _validator(CD_CRD, "v1beta1").iter_errors(domain)] != []
