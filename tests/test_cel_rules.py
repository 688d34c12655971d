"""CEL rules of CRDs (`x-kubernetes-validations`) run as the API server runs them on create:
a failing rule refuses the object (AF410), a rule the engine cannot evaluate is reported
(AF411), transition rules are skipped, defaults come first, messageExpression is used."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from aifab.expand import expand
from aifab.expand.common import Output
from aifab.expand.flux import release_objects
from aifab.pipeline import run
from aifab.verify import Sources, verify
from bundled import BLUEPRINTS


def _verify(*objects: dict[str, Any], crds: Path | None = None,
            releases: tuple[Output, ...] = ()) -> list[tuple[str, str]]:
    """Findings about the objects, with the CRDs of the `releases` (charts) and of `crds`."""
    outputs = [*releases, *(Output(f"o{i}.yaml", "object", o) for i, o in enumerate(objects))]
    findings, _ = verify(outputs, "1.34", Sources(crds=crds), "out")
    return [(f.code, f.message) for f in findings]


# The JobSet controller's release, which brings the JobSet CRD (expand/jobset.py deploys it
# beside Kueue); its values are the chart's defaults.
_SOURCE, _RELEASE = release_objects("jobset", "jobset-system", chart="jobset", version="0.12.0",
                                    repository="oci://registry.k8s.io/jobset/charts", values={})
JOBSET = (Output("jobset/ocirepository-jobset.yaml", "object", _SOURCE),
          Output("jobset/helmrelease-jobset.yaml", "release", _RELEASE))


def _jobset(**spec: Any) -> dict[str, Any]:
    pod = {"spec": {"containers": [{"name": "main", "image": "registry.example/train:1"}],
                    "restartPolicy": "Never"}}
    jobs = [{"name": name, "replicas": 1, "template": {"spec": {"template": pod}}, **extra}
            for name, extra in (("leader", {}), ("workers", spec.pop("workers", {})))]
    return {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
            "metadata": {"name": "train", "namespace": "team"},
            "spec": {"replicatedJobs": jobs, **spec}}


def test_a_valid_jobset_passes() -> None:
    assert _verify(_jobset(), releases=JOBSET) == []
    assert _verify(_jobset(workers={"dependsOn": [{"name": "leader", "status": "Ready"}]}),
                   releases=JOBSET) == []


def test_jobset_in_order_startup_with_depends_on_is_refused() -> None:
    """JobSet v0.12.0 CRD: "StartupPolicy and DependsOn APIs are mutually exclusive"."""
    found = _verify(_jobset(startupPolicy={"startupPolicyOrder": "InOrder"},
                            workers={"dependsOn": [{"name": "leader", "status": "Ready"}]}),
                    releases=JOBSET)
    assert [code for code, _ in found] == ["AF410"]
    assert "StartupPolicy and DependsOn APIs are mutually exclusive" in found[0][1]
    assert "at spec" in found[0][1] and "jobset v0.12.0" in found[0][1]


@pytest.fixture(scope="module")
def cluster_queue() -> tuple[dict[str, Any], tuple[Output, ...]]:
    """A ClusterQueue of the reference blueprint, and its Kueue release (kueue 0.19.2)."""
    cluster = run(BLUEPRINTS / "gwangju-gb200.yaml").cluster
    assert cluster is not None
    outputs = list(expand(cluster))
    queue = next(copy.deepcopy(dict(o.data)) for o in outputs
                 if o.kind == "object" and o.data.get("kind") == "ClusterQueue")
    return queue, tuple(o for o in outputs if o.path.startswith("kueue/")
                        and o.data["kind"] in ("HelmRelease", "OCIRepository"))


def test_cluster_queue_flavors_with_fewer_resources_than_covered_are_refused(
        cluster_queue) -> None:
    queue, kueue = cluster_queue
    assert _verify(queue, releases=kueue) == []
    broken = copy.deepcopy(queue)
    broken["spec"]["resourceGroups"][0]["coveredResources"].append("cpu")
    found = _verify(broken, releases=kueue)
    assert [code for code, _ in found] == ["AF410"]
    assert "flavors must have the same number of resources as the coveredResources" in found[0][1]
    assert "spec.resourceGroups[0]" in found[0][1]


def _crd(tmp_path: Path, spec_schema: dict[str, Any]) -> Path:
    folder = tmp_path / "crds"
    folder.mkdir(exist_ok=True)
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"},
                    "scope": "Namespaced",
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                        "openAPIV3Schema": {"type": "object", "properties": {
                            "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                            "metadata": {"type": "object"}, "spec": spec_schema}}}}]}}
    (folder / "widget.yaml").write_text(yaml.safe_dump(crd), encoding="utf-8")
    return folder


def _widget(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": spec}


def _spec(*rules: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties or {"size": {"type": "integer"}},
            "x-kubernetes-validations": list(rules)}


def test_message_expression_is_used(tmp_path) -> None:
    crds = _crd(tmp_path, _spec({"rule": "self.size < 10", "message": "too big",
                                 "messageExpression": "'size ' + string(self.size) + ' > 9'"}))
    assert _verify(_widget(size=3), crds=crds) == []
    found = _verify(_widget(size=12), crds=crds)
    assert [code for code, _ in found] == ["AF410"] and "size 12 > 9" in found[0][1]


def test_defaults_are_applied_before_the_rules(tmp_path) -> None:
    """`mode` defaults to "fast"; the rule forbids fast with more than one replica. Without
    the default `self.mode` would not exist and the rule could not run."""
    crds = _crd(tmp_path, _spec(
        {"rule": "!(self.mode == 'fast' && self.replicas > 1)", "message": "fast is single"},
        mode={"type": "string", "default": "fast"}, replicas={"type": "integer"}))
    assert _verify(_widget(replicas=1), crds=crds) == []
    found = _verify(_widget(replicas=2), crds=crds)
    assert found == [("AF410", "Widget w at spec (CRD of " + str(crds / "widget.yaml")
                      + "): fast is single")]


def test_optional_old_self_rules_run_with_an_empty_old_self(tmp_path) -> None:
    crds = _crd(tmp_path, _spec(
        {"rule": "!oldSelf.hasValue() || self.size >= oldSelf.value().size",
         "optionalOldSelf": True, "message": "may only grow"},
        {"rule": "oldSelf.hasValue() || self.size < 10", "optionalOldSelf": True,
         "message": "created small"}))
    assert _verify(_widget(size=3), crds=crds) == []
    found = _verify(_widget(size=12), crds=crds)
    assert [code for code, _ in found] == ["AF410"] and "created small" in found[0][1]


def test_transition_rules_are_skipped_on_create(tmp_path) -> None:
    crds = _crd(tmp_path, _spec({"rule": "self == oldSelf", "message": "immutable"}))
    assert _verify(_widget(size=1), crds=crds) == []


@pytest.mark.parametrize("rule", [
    {"rule": "quantity(self.size).isGreaterThan(quantity('1'))"},  # Kubernetes library
    {"rule": "self.size >", "message": "broken"},  # not CEL
    {"rule": "self.missing > 1"},  # no such key at run time
    {"rule": "oldSelf.value().size < self.size", "optionalOldSelf": True},  # no value on create
    {"rule": "self.size"},  # not a boolean
    {"rule": "(" * 3000 + "true" + ")" * 3000},  # hostile: too long to parse
    {"rule": " || ".join(["self.size > 0"] * 2000)},
])
def test_a_rule_the_engine_cannot_evaluate_is_reported(tmp_path, rule) -> None:
    crds = _crd(tmp_path, _spec(rule))
    found = _verify(_widget(size=3), crds=crds)
    assert [code for code, _ in found] == ["AF411"], found
    assert "not evaluated" in found[0][1] and rule["rule"][:150] in found[0][1]
    assert len(found[0][1]) < 600


def test_rules_run_on_list_items_and_map_values(tmp_path) -> None:
    crds = _crd(tmp_path, _spec(
        items={"type": "array", "items": {"type": "object", "properties": {
            "n": {"type": "integer"}}, "x-kubernetes-validations": [
            {"rule": "self.n > 0", "message": "n must be positive"}]}},
        labels={"type": "object", "additionalProperties": {
            "type": "string", "x-kubernetes-validations": [
                {"rule": "self.size() < 5", "message": "short values"}]}}))
    found = _verify(_widget(items=[{"n": 1}, {"n": 0}], labels={"a": "ok", "b": "too long"}),
                    crds=crds)
    assert sorted(m.split(" at ")[1].split(" (")[0] + ": " + m.rsplit(": ", 1)[1]
                  for _, m in found) == ["spec.items[1]: n must be positive",
                                        "spec.labels.b: short values"]
