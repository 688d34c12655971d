"""Node pools as NodeFeatureRules, judged the way nfd-master applies them.

The evaluator below is written from Node Feature Discovery's source (kubernetes-sigs/
node-feature-discovery, identical in these parts from v0.17.2 to v0.19.0, the NFD of every GPU
Operator release aifab accepts):
- pkg/nfd-master/nfd-master.go processNodeFeatureRule: every NodeFeatureRule in name order,
  its rules in order; a matching rule's labels are copied over the ones before (maps.Copy)
  after unprefixed keys get `feature.node.kubernetes.io/` (addNsToMapKeys), its taints
  appended; filterFeatureLabel and filterTaints drop what validate refuses, and taints are
  applied only with enableTaints;
- pkg/apis/nfd/nodefeaturerule/rule.go Execute and evaluateFeatureMatcher: `matchAny` is an OR
  of feature matchers, `matchFeatures` an AND of terms, a term on a feature the node lacks does
  not match, and a rule with neither matches every node;
- expression.go evaluateMatchExpression and MatchGetValues: every expression of a term must
  match; `In` compares whole strings, `InRegexp` uses Go's regexp.MatchString, which is NOT
  anchored (Python's re.search behaves the same for these patterns);
- pkg/apis/nfd/validate/validate.go Label and Taint: a key needs a prefix, the kubernetes.io
  namespaces are refused except feature.node.kubernetes.io (and profile. for labels) unless
  listed in extraLabelNs (labels only);
- source/system/system.go: the `system.name` feature's `nodename` attribute is the node name.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
import yaml

from aifab.expand.node_pools import NFD_API, node_feature_rule
from aifab.model import Cluster, NodePool
from aifab.naming import (
    DEVICE_PLUGIN_CONFIG_LABEL,
    LABEL_NVLINK_DOMAIN,
    LABEL_POOL,
    LABEL_RACK,
    LABEL_SCALABLE_UNIT,
    LABEL_SYSTEM,
    MIG_CONFIG_LABEL,
    hostnames,
)
from aifab.pipeline import flatten, run
from aifab.verify import crds
from bundled import ALL_FILES, REFERENCE, ROOT, reference

GENERATED = ROOT / "generated"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

FEATURE_LABEL_NS = "feature.node.kubernetes.io"  # api/nfd/v1alpha1/annotations_labels.go
PROFILE_LABEL_NS = "profile.node.kubernetes.io"
EXTRA_LABEL_NS = ("nvidia.com",)  # the GPU Operator's node-feature-discovery.master.config
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
RULE_KEYS = {"name", "labels", "taints", "matchFeatures", "matchAny"}  # what we evaluate

Taint = tuple[str, str, str]


# -- the evaluator ----------------------------------------------------------------------------

def expression_matches(expression: Mapping[str, Any], value: str | None) -> bool:
    """evaluateMatchExpression for one attribute of the node (None: the node lacks it)."""
    op, values = expression["op"], expression.get("value") or []
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if value is None:
        return False
    if op == "In":
        return value in values
    if op == "NotIn":
        return value not in values
    if op == "InRegexp":
        return any(re.search(pattern, value) for pattern in values)
    raise NotImplementedError(op)


def matcher_matches(terms: Iterable[Mapping[str, Any]],
                    features: Mapping[str, Mapping[str, str]]) -> bool:
    """evaluateFeatureMatcher: an AND over the terms, and over each term's expressions."""
    for term in terms:
        attributes = features.get(term["feature"].lower())
        if attributes is None:
            return False
        for name, expression in (term.get("matchExpressions") or {}).items():
            if not expression_matches(expression, attributes.get(name)):
                return False
    return True


def rule_matches(rule: Mapping[str, Any], features: Mapping[str, Mapping[str, str]]) -> bool:
    """rule.go Execute: matchAny (an OR) and matchFeatures must both hold where given."""
    assert set(rule) <= RULE_KEYS, f"the evaluator does not know {set(rule) - RULE_KEYS}"
    if rule.get("matchAny") and not any(matcher_matches(each["matchFeatures"], features)
                                        for each in rule["matchAny"]):
        return False
    return not rule.get("matchFeatures") or matcher_matches(rule["matchFeatures"], features)


def _kubernetes_ns(ns: str) -> bool:
    return ns == "kubernetes.io" or ns.endswith(".kubernetes.io")


def label_published(key: str, value: str) -> bool:
    """validate.Label as filterFeatureLabel applies it (after the default prefix is added)."""
    ns = key.partition("/")[0] if "/" in key else ""
    own = ns in (FEATURE_LABEL_NS, PROFILE_LABEL_NS) or ns.endswith(
        ("." + FEATURE_LABEL_NS, "." + PROFILE_LABEL_NS))
    if _kubernetes_ns(ns) and not own and ns not in EXTRA_LABEL_NS:
        return False
    return bool(ns) and re.fullmatch(r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?",
                                     value) is not None


def taint_published(taint: Mapping[str, str]) -> bool:
    """validate.Taint."""
    ns = taint["key"].partition("/")[0] if "/" in taint["key"] else ""
    own = ns == FEATURE_LABEL_NS or ns.endswith("." + FEATURE_LABEL_NS)
    return bool(ns) and not (_kubernetes_ns(ns) and not own) and taint.get("effect") in EFFECTS


class NfdMaster:
    """What nfd-master makes of a set of NodeFeatureRules for a node with a given name.

    Indexed for speed: a rule whose only condition is `system.name` `nodename` `In` a list can
    match only the names in that list, so a node is evaluated against those rules and every
    other rule; `rule_matches` then decides as NFD does, in NFD's order."""

    def __init__(self, objects: Iterable[Mapping[str, Any]], enable_taints: bool = True):
        self.rules: list[Mapping[str, Any]] = []
        self.by_name: dict[str, list[int]] = {}
        self.others: list[int] = []
        self.enable_taints = enable_taints
        for obj in sorted(objects, key=lambda o: o["metadata"]["name"]):
            assert obj["apiVersion"] == NFD_API and obj["kind"] == "NodeFeatureRule"
            for rule in obj["spec"]["rules"]:
                index = len(self.rules)
                self.rules.append(rule)
                names = _node_names_only(rule)
                if names is None:
                    self.others.append(index)
                for name in names or ():
                    self.by_name.setdefault(name, []).append(index)

    def node(self, nodename: str) -> tuple[dict[str, str], set[Taint]]:
        features = {"system.name": {"nodename": nodename}}
        labels: dict[str, str] = {}
        taints: list[Mapping[str, str]] = []
        for index in sorted({*self.by_name.get(nodename, ()), *self.others}):
            rule = self.rules[index]
            if rule_matches(rule, features):
                labels.update({key if "/" in key else f"{FEATURE_LABEL_NS}/{key}": value
                               for key, value in (rule.get("labels") or {}).items()})
                taints += rule.get("taints") or []
        published = {k: v for k, v in labels.items() if label_published(k, v)}
        applied = {(t["key"], t.get("value", ""), t["effect"]) for t in taints
                   if self.enable_taints and taint_published(t)}
        return published, applied


def _node_names_only(rule: Mapping[str, Any]) -> list[str] | None:
    """The names of a rule whose one condition is `system.name` nodename In [...], else None."""
    terms = rule.get("matchFeatures") or []
    if rule.get("matchAny") or len(terms) != 1 or terms[0]["feature"] != "system.name":
        return None
    expressions = terms[0].get("matchExpressions") or {}
    if list(expressions) != ["nodename"] or expressions["nodename"]["op"] != "In":
        return None
    return list(expressions["nodename"]["value"])


# -- what each node of a pool must get, from the model ----------------------------------------

def _padded(value: int, highest: int) -> str:
    return str(value).zfill(max(2, len(str(highest))))


def expected_labels(pool: NodePool, index: int) -> dict[str, str]:
    """The labels of the pool's node number `index` (0-based), derived here from the model."""
    system, count = pool.system, pool.node_count
    labels = {**pool.labels, LABEL_POOL: pool.name, LABEL_SYSTEM: system.id}
    if pool.mig_config is not None:
        labels[MIG_CONFIG_LABEL] = pool.mig_config
    if pool.sharing is not None:
        labels[DEVICE_PLUGIN_CONFIG_LABEL] = pool.name
    per_rack, per_domain = system.nodes_per_rack, system.nodes_per_nvlink_domain
    rack = index // per_rack + 1 if per_rack else None
    if rack is not None:
        labels[LABEL_RACK] = _padded(rack, math.ceil(count / per_rack))
    if per_domain > 1:
        labels[LABEL_NVLINK_DOMAIN] = _padded(index // per_domain + 1,
                                              math.ceil(count / per_domain))
    if system.su_racks and rack is not None:
        racks = math.ceil(count / per_rack)
        labels[LABEL_SCALABLE_UNIT] = _padded((rack - 1) // system.su_racks + 1,
                                              math.ceil(racks / system.su_racks))
    elif system.su_nodes:
        labels[LABEL_SCALABLE_UNIT] = _padded(index // system.su_nodes + 1,
                                              math.ceil(count / system.su_nodes))
    return labels


def expected_taints(pool: NodePool) -> set[Taint]:
    return {(t.key, t.value, t.effect) for t in pool.taints}


# -- the bundled clusters ---------------------------------------------------------------------

def bundled_clusters() -> list[Cluster]:
    """Every cluster the bundled blueprints make, the national fleet's members included."""
    clusters = []
    for path in ALL_FILES:
        for result in flatten([run(path)]):  # a fleet's own result has no cluster
            assert not any(f.is_error for f in result.findings), path
            if result.cluster is not None:
                clusters.append(result.cluster)
    return clusters


CLUSTERS = bundled_clusters()


def tree_rules(cluster: Cluster) -> list[dict[str, Any]]:
    """The NodeFeatureRules of the cluster's committed tree, wherever they are."""
    found = []
    for path in sorted((GENERATED / cluster.name).rglob("*.yaml")):
        if b"kind: NodeFeatureRule" in path.read_bytes():
            found.append(yaml.load(path.read_bytes(), Loader=_Loader))
    return found


def test_the_bundled_clusters_include_the_national_fleet():
    names = {c.name for c in CLUSTERS}
    assert len(names) == len(CLUSTERS) and any(n.startswith("kr-") for n in names)
    assert {"gwangju-gb200", "seoul-rtxpro", "daejeon-b200"} <= names


@pytest.mark.parametrize("cluster", CLUSTERS, ids=lambda c: c.name)
def test_every_hostname_gets_exactly_its_pools_labels_and_taints(cluster):
    master = NfdMaster(tree_rules(cluster))
    named = [pool for pool in cluster.node_pools if not pool.node_selector]
    assert named, "every bundled cluster names some of its nodes"
    for pool in named:
        want_taints = expected_taints(pool)
        assert ("nvidia.com/gpu", "", "NoSchedule") in want_taints or any(
            key == "nvidia.com/gpu" for key, _, _ in want_taints)
        for index, name in enumerate(hostnames(pool)):
            labels, taints = master.node(name)
            assert labels == expected_labels(pool, index), f"{cluster.name} {name}"
            assert taints == want_taints, f"{cluster.name} {name}"


@pytest.mark.parametrize("cluster", CLUSTERS, ids=lambda c: c.name)
def test_a_node_of_no_pool_gets_nothing(cluster):
    master = NfdMaster(tree_rules(cluster))
    strangers = ["control-plane-1", "cpu-001", ""]
    for pool in cluster.node_pools:
        for name in hostnames(pool)[:1] + hostnames(pool)[-1:]:
            # what an unanchored pattern would also match, and the next node of the pattern
            strangers += [f"x{name}", f"{name}0", f"{name}.example.com", name.upper()]
    for name in strangers:
        assert master.node(name) == ({}, set()), f"{cluster.name} {name}"


@pytest.mark.parametrize("cluster", CLUSTERS, ids=lambda c: c.name)
def test_the_nfd_subchart_applies_taints(cluster):
    """nfd-master sets a rule's taints only with enableTaints (the chart's -enable-taints)."""
    path = GENERATED / cluster.name / "gpu-operator" / "helmrelease-gpu-operator.yaml"
    values = yaml.load(path.read_bytes(), Loader=_Loader)["spec"]["values"]
    assert values["node-feature-discovery"]["master"]["enableTaints"] is True


def test_no_aifab_kind_anywhere_in_generated():
    """Only real kinds: no file of any tree has an aifab.dev object (releases are Flux
    HelmReleases, node pools NodeFeatureRules, with pages for selector pools)."""
    texts = [p for p in GENERATED.rglob("*") if p.is_file() and p.suffix == ".yaml"]
    assert len(texts) > 500
    assert not [p for p in texts if "apiVersion: aifab.dev" in p.read_text(encoding="utf-8")]


def test_no_aifab_kind_under_node_pools():
    """node-pools/ holds NodeFeatureRules (and pages for selector pools)."""
    folders = sorted(GENERATED.glob("*/node-pools"))
    assert folders
    for folder in folders:
        for path in folder.iterdir():
            text = path.read_text(encoding="utf-8")
            assert "apiVersion: aifab.dev" not in text, path
            if path.suffix == ".yaml":
                assert f"apiVersion: {NFD_API}\nkind: NodeFeatureRule\n" in text, path
            else:
                assert path.suffix == ".md", path


def reference_crds() -> crds.CRDs:
    folder = reference(REFERENCE / "crds")
    return crds.load((), folder)


@pytest.mark.parametrize("cluster", CLUSTERS, ids=lambda c: c.name)
def test_node_feature_rules_validate_against_the_reference_crd(cluster):
    reference(REFERENCE / "crds" / "nfd.k8s-sigs.io_nfd-api-crds.yaml")
    checker = reference_crds()
    rules = tree_rules(cluster)
    assert len(rules) == sum(1 for p in cluster.node_pools if not p.node_selector)
    for data in rules:
        assert list(checker.check(data, "rule.yaml")) == []


def test_the_reference_crd_refuses_a_broken_rule():
    """The check above can fail: a rule without a name, a taint without an effect."""
    cluster = next(c for c in CLUSTERS if c.name == "gwangju-gb200")
    data = node_feature_rule(cluster, cluster.node_pools[0])
    del data["spec"]["rules"][0]["name"]
    data["spec"]["rules"][1]["taints"][0].pop("effect")
    found = list(reference_crds().check(data, "rule.yaml"))
    assert {f.code for f in found} == {"AF402"} and len(found) == 2


# -- the evaluator follows NFD, where aifab's rules would go wrong ----------------------------

def _rule(labels: dict[str, str], taints: list[dict[str, str]] | None = None,
          **match: Any) -> dict[str, Any]:
    return {"apiVersion": NFD_API, "kind": "NodeFeatureRule", "metadata": {"name": "r"},
            "spec": {"rules": [{"name": "r", "labels": labels, "taints": taints or [],
                                **match}]}}


def _nodename(op: str, *values: str) -> dict[str, Any]:
    return {"matchFeatures": [{"feature": "system.name", "matchExpressions": {
        "nodename": {"op": op, "value": list(values)}}}]}


def test_in_regexp_is_not_anchored_and_in_is_exact():
    loose = NfdMaster([_rule({"a.io/x": "1"}, **_nodename("InRegexp", "gj1-r01-t0[1-9]"))])
    assert loose.node("xgj1-r01-t010")[0] == {"a.io/x": "1"}  # regexp.MatchString: a substring
    exact = NfdMaster([_rule({"a.io/x": "1"}, **_nodename("In", "gj1-r01-t01"))])
    assert exact.node("xgj1-r01-t01")[0] == {} and exact.node("gj1-r01-t01")[0] == {"a.io/x": "1"}


def test_a_rule_without_conditions_matches_every_node():
    assert NfdMaster([_rule({"a.io/x": "1"})]).node("anything")[0] == {"a.io/x": "1"}


def test_unprefixed_and_kubernetes_keys_are_renamed_or_dropped():
    """Why rule nfd_keys (AF450, AF451) and node_labels (AF391) refuse such pool keys."""
    taints = [{"key": "dedicated", "value": "x", "effect": "NoSchedule"},
              {"key": "node.kubernetes.io/x", "effect": "NoSchedule"},
              {"key": "example.com/dedicated", "effect": "NoExecute"}]
    master = NfdMaster([_rule({"team": "ml", "node-role.kubernetes.io/gpu": "",
                               "nvidia.com/mig.config": "all-disabled"}, taints,
                              **_nodename("In", "n1"))])
    labels, applied = master.node("n1")
    assert labels == {f"{FEATURE_LABEL_NS}/team": "ml", "nvidia.com/mig.config": "all-disabled"}
    assert applied == {("example.com/dedicated", "", "NoExecute")}
    off = NfdMaster([_rule({}, taints, **_nodename("In", "n1"))], enable_taints=False)
    assert off.node("n1") == ({}, set())


def test_verify_checks_the_rules_against_the_crd_the_gpu_operator_release_ships():
    """What `aifab generate` does: the CRD comes from the chart data of the cluster's GPU
    Operator release (its NFD subchart's crds/), node syntax from verify/nodes.py."""
    from aifab.expand import expand
    from aifab.expand.common import Output
    from aifab.verify import Sources, verify

    cluster = next(c for c in CLUSTERS if c.name == "gwangju-gb200")
    outputs = list(expand(cluster))
    assert verify(outputs, cluster.kubernetes.version, Sources(), "g")[0] == []
    rule = next(o for o in outputs if o.path == "node-pools/b200-infer.yaml")
    broken = copy.deepcopy(dict(rule.data))
    broken["spec"]["rules"][0]["taints"] = "nvidia.com/gpu:NoSchedule"  # not a list
    bad_name = copy.deepcopy(dict(rule.data))
    names = bad_name["spec"]["rules"][0]["matchFeatures"][0]["matchExpressions"]["nodename"]
    names["value"][0] = "GJ1_B200_001"
    for data, code in ((broken, "AF402"), (bad_name, "AF406")):
        changed = [Output(o.path, o.kind, data) if o is rule else o for o in outputs]
        found, _ = verify(changed, cluster.kubernetes.version, Sources(), "g")
        assert [(f.code, f.file) for f in found] == [(code, "g/node-pools/b200-infer.yaml")]


def test_a_hostname_of_the_wrong_type_is_refused_at_its_place():
    """The verifier checks long lists of scalars in one pass (verify/crds.py `_items`); a
    wrong item still gets jsonschema's own error, at its index."""
    from aifab.expand import expand
    from aifab.expand.common import Output
    from aifab.verify import Sources, verify

    cluster = next(c for c in CLUSTERS if c.name == "gwangju-gb200")
    outputs = list(expand(cluster))
    rule = next(o for o in outputs if o.path == "node-pools/gb200.yaml")
    broken = copy.deepcopy(dict(rule.data))
    names = broken["spec"]["rules"][1]["matchFeatures"][0]["matchExpressions"]["nodename"]
    names["value"][5] = 17
    changed = [Output(o.path, o.kind, broken) if o is rule else o for o in outputs]
    found, _ = verify(changed, cluster.kubernetes.version, Sources(), "g")
    assert [(f.code, f.json_path) for f in found] == [
        ("AF402", "spec.rules[1].matchFeatures[0].matchExpressions.nodename.value[5]")]
    assert "17 is not of type 'string'" in found[0].message
