"""Label selectors, node selectors and taints, matched as the Kubernetes scheduler and API do.

Label selectors: k8s.io/apimachinery/pkg/apis/meta/v1/helpers.go LabelSelectorAsSelector; node
selector terms (OR of terms, AND of expressions, operators In NotIn Exists DoesNotExist Gt Lt):
k8s.io/component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity.go; taints and
tolerations: k8s.io/api/core/v1/toleration.go ToleratesTaint (kubernetes v1.35.0).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _expression(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, op = expr.get("key"), expr.get("operator")
    values = [str(v) for v in _as_list(expr.get("values"))]
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(values) == 1:
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def label_selector(selector: Any, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector: every matchLabels pair and every matchExpression holds."""
    selector = _as_map(selector)
    return all(labels.get(k) == str(v) for k, v in _as_map(selector.get("matchLabels")).items()) \
        and all(_expression(_as_map(e), labels) for e in _as_list(selector.get("matchExpressions")))


def node_affinity(pod_spec: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """The pod's required node affinity: any term whose expressions all hold (fields such as
    metadata.name in matchFields are matched against the node name label)."""
    required = _as_map(_as_map(_as_map(pod_spec.get("affinity")).get("nodeAffinity"))
                       .get("requiredDuringSchedulingIgnoredDuringExecution"))
    terms = _as_list(required.get("nodeSelectorTerms"))
    if not required:
        return True
    fields = {"metadata.name": labels.get("kubernetes.io/hostname", "")}
    return any(_term(_as_map(term), labels, fields) for term in terms)


def _term(term: Mapping[str, Any], labels: Mapping[str, str], fields: Mapping[str, str]) -> bool:
    """One node selector term: all its expressions and fields hold. "A null or empty node
    selector term matches no objects" (k8s.io/api core/v1 types.go, NodeSelectorTerm)."""
    expressions = _as_list(term.get("matchExpressions"))
    matched = _as_list(term.get("matchFields"))
    return bool(expressions or matched) and all(
        _expression(_as_map(e), labels) for e in expressions) and all(
        _expression(_as_map(e), fields) for e in matched)


def tolerates(tolerations: Iterable[Any], taint: Mapping[str, Any]) -> bool:
    """Whether one toleration tolerates the taint (ToleratesTaint)."""
    for toleration in tolerations:
        toleration = _as_map(toleration)
        effect = toleration.get("effect")
        if effect and effect != taint.get("effect"):
            continue
        key, op = toleration.get("key"), toleration.get("operator") or "Equal"
        if key and key != taint.get("key"):
            continue
        if op == "Exists" or (op == "Equal" and key
                              and str(toleration.get("value") or "") == str(taint.get("value") or "")):
            return True
    return False


def untolerated(tolerations: Iterable[Any], taints: Iterable[Mapping[str, Any]]
                ) -> list[Mapping[str, Any]]:
    """The taints that keep a pod off a node: NoSchedule and NoExecute ones it does not
    tolerate (PreferNoSchedule only steers)."""
    tolerations = list(tolerations)
    return [t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute")
            and not tolerates(tolerations, t)]


def taint_text(taint: Mapping[str, Any]) -> str:
    value = f"={taint['value']}" if taint.get("value") else ""
    return f"{taint.get('key')}{value}:{taint.get('effect')}"
