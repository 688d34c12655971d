"""`aifab admit`: the examples aifab ships are admitted, and each kind of refusal is given for
the right reason (a code) at the right place (the object's file and line)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from aifab.admit import admit
from aifab.admit.cluster import ClusterView, from_blueprint, from_tree
from aifab.cli import main
from tests.bundled import BLUEPRINTS, ROOT

GENERATED = ROOT / "generated"
WITH_EXAMPLES = sorted(p.parent.name for p in GENERATED.glob("*/examples"))


@pytest.fixture(scope="module")
def gwangju() -> ClusterView:
    return from_tree(GENERATED, "gwangju-gb200")


def test_bundled_clusters_have_examples() -> None:
    assert "gwangju-gb200" in WITH_EXAMPLES and len(WITH_EXAMPLES) >= 3


@pytest.mark.parametrize("cluster", WITH_EXAMPLES)
def test_every_example_of_every_cluster_is_admitted(cluster: str) -> None:
    files = sorted(str(p) for p in (GENERATED / cluster / "examples").rglob("*.yaml"))
    report = admit(files, from_tree(GENERATED, cluster))
    assert not report.problems
    assert len(report.verdicts) == len(files)
    refused = {f"{v.obj.file}:{v.obj.line}": [r.message for r in v.reasons]
               for v in report.verdicts if not v.admitted}
    assert not refused


def test_the_blueprint_gives_the_same_cluster_as_the_tree(gwangju: ClusterView) -> None:
    view = from_blueprint(BLUEPRINTS / "gwangju-gb200.yaml")
    assert view.kubernetes == gwangju.kubernetes
    def canonical(view: ClusterView) -> list[str]:
        return sorted(json.dumps(o, sort_keys=True) for o in view.objects)

    assert canonical(view) == canonical(gwangju)


# gwangju-gb200 is air-gapped: its pods pull from the registry mirror only
MIRRORED = "registry.gwangju-1.ai.example.kr/nvcr.io/nvidia/pytorch:25.01-py3"
JOB: dict[str, Any] = {
    "apiVersion": "batch/v1", "kind": "Job",
    "metadata": {"name": "train", "namespace": "foundation-models",
                 "labels": {"kueue.x-k8s.io/queue-name": "default"}},
    "spec": {"parallelism": 2, "completions": 2, "template": {"spec": {
        "restartPolicy": "Never",
        "nodeSelector": {"aifab.dev/pool": "gb200"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "main", "image": MIRRORED,
                        "resources": {"limits": {"nvidia.com/gpu": "4"}},
                        "securityContext": {"allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"]}}}]}}},
}


def _job(**edits: Any) -> dict[str, Any]:
    """The admitted Job with `edits` ("a.b.0.c" = value; None deletes) applied."""
    job = copy.deepcopy(JOB)
    for dotted, value in edits.items():
        *parents, last = [int(p) if p.isdigit() else p for p in dotted.split("__")]
        node = job
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return job


POD = "spec__template__spec"
CONTAINER = f"{POD}__containers__0"

JOBSET_IN_ORDER = {
    "apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
    "metadata": {"name": "ordered", "namespace": "foundation-models"},
    "spec": {"startupPolicy": {"startupPolicyOrder": "InOrder"}, "replicatedJobs": [
        {"name": "a", "template": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}}},
        {"name": "b", "dependsOn": [{"name": "a", "status": "Ready"}],
         "template": {"spec": {"template": {"spec": {
             "restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}}}]},
}
CLUSTER_QUEUE_SHORT = {
    "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue",
    "metadata": {"name": "short"},
    "spec": {"resourceGroups": [{
        "coveredResources": ["nvidia.com/gpu", "cpu"],
        "flavors": [{"name": "gb200", "resources": [{"name": "nvidia.com/gpu",
                                                      "nominalQuota": 4}]}]}]},
}
RCT_GPU = {
    "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
    "metadata": {"name": "whole-gpu", "namespace": "foundation-models"},
    "spec": {"spec": {"devices": {"requests": [
        {"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com"}}]}}},
}

GPU_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stray", "namespace": "default"},
           "spec": {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
                    "containers": [{"name": "c", "image": MIRRORED,
                                    "resources": {"limits": {"nvidia.com/gpu": 1}}}]}}

REFUSED = {  # name: (objects, the refused object's index, the code it must carry)
    # tenant namespaces: Baseline with IPC_LOCK, by admission policy (AF712), not PSA
    "privileged": ([_job(**{f"{CONTAINER}__securityContext__privileged": True})], 0, "AF712"),
    "host-path": ([_job(**{f"{POD}__volumes": [{"name": "h", "hostPath": {"path": "/"}}],
                           f"{CONTAINER}__volumeMounts": [{"name": "h", "mountPath": "/h"}]})],
                  0, "AF712"),
    "sys-admin": ([_job(**{f"{CONTAINER}__securityContext__capabilities": {
        "add": ["SYS_ADMIN"]}})], 0, "AF712"),
    "gpus-outside-tenant-namespaces": ([GPU_POD], 0, "AF712"),
    "image-outside-the-mirror": ([_job(**{
        f"{CONTAINER}__image": "nvcr.io/nvidia/pytorch:25.01-py3"})], 0, "AF712"),
    "mig-without-mig-quota": ([_job(**{
        f"{POD}__nodeSelector": {"aifab.dev/pool": "b200-infer"},
        f"{CONTAINER}__resources": {"limits": {"nvidia.com/mig-1g.23gb": 1}}})], 0, "AF721"),
    "more-gpus-than-a-node": ([_job(**{
        f"{CONTAINER}__resources": {"limits": {"nvidia.com/gpu": 8}}})], 0, "AF731"),
    "more-than-the-quota-ever-holds": ([_job(spec__parallelism=400, spec__completions=400)],
                                       0, "AF722"),
    "unknown-field": ([_job(**{f"{CONTAINER}__gpuCount": 4})], 0, "AF701"),
    "wrong-type": ([_job(spec__parallelism="two")], 0, "AF701"),
    "jobset-in-order-with-depends-on": ([JOBSET_IN_ORDER], 0, "AF704"),
    "cluster-queue-flavor-short-of-covered": ([CLUSTER_QUEUE_SHORT], 0, "AF704"),
    "no-local-queue": ([_job(metadata__labels={"kueue.x-k8s.io/queue-name": "fast"})],
                       0, "AF720"),
    "kind-nothing-installs": ([{"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
                                "metadata": {"name": "p", "namespace": "foundation-models"},
                                "spec": {}}], 0, "AF703"),
    # verify knows Flux's CRD (a companion), but nothing installs Flux in the cluster
    "kind-only-verify-knows": ([{"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                                 "metadata": {"name": "h", "namespace": "foundation-models"},
                                 "spec": {"interval": "5m", "chart": {"spec": {
                                     "chart": "x", "sourceRef": {"kind": "HelmRepository",
                                                                 "name": "r"}}}}}], 0, "AF703"),
    "namespace-does-not-exist": ([_job(metadata__namespace="ghost")], 0, "AF710"),
    "unmapped-device-class": ([RCT_GPU, _job(**{
        f"{POD}__resourceClaims": [{"name": "g", "resourceClaimTemplateName": "whole-gpu"}],
        f"{CONTAINER}__resources": {"claims": [{"name": "g"}]}})], 1, "AF723"),
    # Kueue adds its ResourceFlavor's toleration: only a pod outside Kueue misses it
    "no-toleration-for-the-gpu-taint": ([_job(**{f"{POD}__tolerations": None,
                                                 "metadata__labels": None})], 0, "AF730"),
    "not-an-object": ([["a", "list"]], 0, "AF706"),
    # "A null or empty node selector term matches no objects" (k8s.io/api NodeSelectorTerm)
    "empty-node-selector-term": ([_job(**{f"{POD}__affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{}]}}}})],
        0, "AF730"),
    # outside Kueue (no queue label) only the ResourceQuota stands between it and the nodes
    "over-the-resource-quota": ([_job(metadata__labels=None, spec__parallelism=300,
                                      spec__completions=300)], 0, "AF724"),
    "no-claim-template": ([_job(**{
        f"{POD}__resourceClaims": [{"name": "g", "resourceClaimTemplateName": "missing"}],
        f"{CONTAINER}__resources": {"claims": [{"name": "g"}]}})], 0, "AF725"),
}


def _write(tmp_path: Path, objects: list[Any]) -> str:
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False), encoding="utf-8")
    return str(path)


def test_the_base_job_is_admitted(tmp_path: Path, gwangju: ClusterView) -> None:
    report = admit([_write(tmp_path, [JOB])], gwangju)
    assert [v.admitted for v in report.verdicts] == [True], report.verdicts[0].reasons


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_for_the_right_reason(case: str, tmp_path: Path, gwangju: ClusterView) -> None:
    objects, index, code = REFUSED[case]
    report = admit([_write(tmp_path, objects)], gwangju)
    verdict = report.verdicts[index]
    assert not verdict.admitted
    assert code in {r.code for r in verdict.reasons if r.is_error}, verdict.reasons
    starts = [i + 1 for i, line in enumerate(Path(verdict.obj.file).read_text().splitlines())
              if line == "---"]
    assert verdict.obj.line == (1 if index == 0 else starts[index - 1] + 1)
    assert all(r.line >= verdict.obj.line for r in verdict.reasons)


def test_admission_policies_of_a_workload_name_the_pods(tmp_path: Path,
                                                      gwangju: ClusterView) -> None:
    report = admit([_write(tmp_path, REFUSED["privileged"][0])], gwangju)
    [reason] = [r for r in report.verdicts[0].reasons if r.code == "AF712"]
    assert "the Job is accepted, but the 2 pods its controller creates" in reason.message
    assert "aifab-tenant-baseline" in reason.message
    assert reason.json_path == "spec.template.spec"


@pytest.mark.parametrize(("case", "policy"), [
    ("gpus-outside-tenant-namespaces", "aifab-gpu-pods"),
    ("image-outside-the-mirror", "aifab-image-mirror"),
    ("host-path", "aifab-tenant-baseline")])
def test_each_refusal_names_its_policy(case: str, policy: str, tmp_path: Path,
                                       gwangju: ClusterView) -> None:
    report = admit([_write(tmp_path, REFUSED[case][0])], gwangju)
    messages = [r.message for r in report.verdicts[0].reasons if r.code == "AF712"]
    assert messages and all(policy in m for m in messages), messages


def test_root_with_ipc_lock_is_admitted_in_a_tenant_namespace(tmp_path: Path,
                                                             gwangju: ClusterView) -> None:
    """NCCL over RDMA: IPC_LOCK, and the NGC image's root user."""
    job = _job(**{f"{POD}__securityContext": {"runAsUser": 0},
                  f"{CONTAINER}__securityContext": {"capabilities": {"add": ["IPC_LOCK"]}}})
    report = admit([_write(tmp_path, [job])], gwangju)
    assert report.verdicts[0].admitted, report.verdicts[0].reasons


def test_baseline_namespace_admits_root_but_not_sys_admin(tmp_path: Path,
                                                                gwangju: ClusterView) -> None:
    def pod(context: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "namespace": "monitoring"},
                "spec": {"containers": [{"name": "c", "image": "x",
                                         "securityContext": context}]}}

    report = admit([_write(tmp_path, [pod({"runAsUser": 0}),
                                      pod({"capabilities": {"add": ["SYS_ADMIN"]}})])],
                   gwangju)
    codes = [[r.code for r in v.reasons if r.is_error] for v in report.verdicts]
    assert "AF711" not in codes[0] and "AF711" in codes[1]


def test_a_cel_rule_the_engine_cannot_evaluate_is_reported(
        tmp_path: Path, gwangju: ClusterView, monkeypatch: pytest.MonkeyPatch) -> None:
    from aifab.admit import schema
    from aifab.verify.crds import CRDs, Definition

    rule = {"rule": "isQuantity(self.size)", "message": "size is a quantity"}
    crd = Definition("test", "example.com", "Widget", ({"name": "v1", "served": True, "schema": {
        "type": "object", "properties": {"spec": {
            "type": "object", "x-kubernetes-validations": [rule],
            "properties": {"size": {"type": "string"}}},
            "apiVersion": {"type": "string"}, "kind": {"type": "string"},
            "metadata": {"type": "object"}}}},))
    monkeypatch.setattr(schema, "_custom", lambda releases: CRDs([crd], "test"))
    widget = {"apiVersion": "example.com/v1", "kind": "Widget",
              "metadata": {"name": "w", "namespace": "foundation-models"},
              "spec": {"size": "1Gi"}}
    [verdict] = admit([_write(tmp_path, [widget])], gwangju).verdicts
    assert [(r.code, r.severity.value) for r in verdict.reasons] == [("AF705", "warning")]
    assert verdict.admitted


def test_cli_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump(JOB), encoding="utf-8")
    bad.write_text(yaml.safe_dump(REFUSED["privileged"][0][0]), encoding="utf-8")
    generated = ["--cluster", "gwangju-gb200", "--generated", str(GENERATED)]
    assert main(["admit", str(good), *generated]) == 0
    assert main(["admit", str(good), str(bad), *generated]) == 1
    assert main(["admit", str(tmp_path / "missing.yaml"), *generated]) == 2
    assert main(["admit", str(good), "--cluster", "nope", "--generated", str(GENERATED)]) == 2
    with pytest.raises(SystemExit) as usage:
        main(["admit", str(good)])
    assert usage.value.code == 2


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(REFUSED["privileged"][0][0]), encoding="utf-8")
    assert main(["admit", str(bad), "--cluster", "gwangju-gb200", "--generated",
                 str(GENERATED), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    [obj] = data["objects"]
    assert (obj["kind"], obj["namespace"], obj["admitted"]) == ("Job", "foundation-models", False)
    assert "AF712" in {r["code"] for r in obj["reasons"]}


def test_kueue_leaves_namespaces_it_does_not_manage_alone(tmp_path: Path,
                                                          gwangju: ClusterView) -> None:
    job = _job(metadata__namespace="monitoring",
               metadata__labels={"kueue.x-k8s.io/queue-name": "nowhere"})
    [verdict] = admit([_write(tmp_path, [job])], gwangju).verdicts
    assert verdict.admitted, verdict.reasons


def test_pod_counts_are_exact_and_counted_in_words(tmp_path: Path, gwangju: ClusterView) -> None:
    job = _job(metadata__labels=None, spec__parallelism=10**9, spec__completions=10**9)
    report = admit([_write(tmp_path, [job])], gwangju)
    [reason] = [r for r in report.verdicts[0].reasons if r.code == "AF724"]
    assert "its 1,000,000,000 pods ask for" in reason.message


def test_a_pod_set_must_fit_one_flavor(tmp_path: Path, gwangju: ClusterView) -> None:
    """Kueue admits a pod set on one flavor (kueue v0.19.2 pkg/scheduler/flavorassigner). Split
    in two flavors of 384 GPUs, the queue holds 1,152 with what its cohort lends on gb200
    (public-research's 384), but one template's 800 GPUs never fit the largest, gb200 (768)."""
    import dataclasses

    def split(obj: dict[str, Any]) -> dict[str, Any]:
        if obj["kind"] != "ClusterQueue" or obj["metadata"]["name"] != "foundation-models":
            return obj
        obj = copy.deepcopy(obj)
        group = obj["spec"]["resourceGroups"][0]
        group["flavors"] = [{"name": name, "resources": [
            {"name": r, "nominalQuota": "384"} for r in group["coveredResources"]]}
            for name in ("gb200", "gb200-spare")]
        return obj

    view = dataclasses.replace(gwangju, objects=tuple(split(o) for o in gwangju.objects),
                               memo={})
    one = _job(spec__parallelism=200, spec__completions=200)  # 800 GPUs in one pod set
    report = admit([_write(tmp_path, [one])], view)
    messages = [r.message for r in report.verdicts[0].reasons if r.code == "AF722"]
    assert messages and "the largest, gb200, holds at most 768" in messages[0]
    small = _job(spec__parallelism=150, spec__completions=150)  # 600 GPUs: fits gb200
    report = admit([_write(tmp_path, [small])], view)
    assert "AF722" not in {r.code for r in report.verdicts[0].reasons}
