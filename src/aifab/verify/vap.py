"""ValidatingAdmissionPolicies judged as the API server judges an object on CREATE.

For every policy with a binding that names it (`spec.policyName`) and denies
(`validationActions` holds Deny): the object must match the policy's `matchConstraints`
(resourceRules minus excludeResourceRules, namespaceSelector, objectSelector) and the binding's
`matchResources`; then every `matchConditions` expression must be true (else the policy does
not apply), `variables` are computed in order, and each failed `validations` expression gives
its `messageExpression` (evaluated), else its `message`, else "failed expression: ...". See
https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/.

The activation holds `object`, `oldObject` (null on CREATE), `request`, `namespaceObject`,
`params` (null: aifab's policies take none) and `variables`; the engine is cel-python (celpy,
via aifab.verify.cel) with the Kubernetes list function `join`. An expression the engine
cannot compile or evaluate is a refusal whatever the `failurePolicy` (the API server would
ignore a runtime error under `Ignore`): nothing passes because it was not understood.
Objects of another version than a rule names are not converted (the API server would, under
matchPolicy Equivalent): such a rule does not match.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aifab.verify.cel import ADMISSION, NotEvaluated, compiled, evaluated

NAME_LABEL = "kubernetes.io/metadata.name"
# kind -> resource for the kinds whose plural is not the kind lower-cased plus "s"
PLURALS = {"Endpoints": "endpoints", "NetworkPolicy": "networkpolicies",
           "PodSecurityPolicy": "podsecuritypolicies", "StorageClass": "storageclasses",
           "PriorityClass": "priorityclasses", "IngressClass": "ingressclasses",
           "DeviceClass": "deviceclasses", "RuntimeClass": "runtimeclasses",
           "WorkloadPriorityClass": "workloadpriorityclasses"}


@dataclass(frozen=True)
class Refusal:
    policy: str
    message: str


def refusals(policies: Sequence[Mapping], bindings: Sequence[Mapping], obj: Mapping,
             namespace: Mapping | None) -> list[Refusal]:
    """Why the policies and bindings refuse to create `obj` (in `namespace`, the Namespace
    object it lands in, None for a cluster-scoped object); empty when they admit it."""
    request = _Request.of(obj, namespace)
    found: list[Refusal] = []
    for policy in sorted(policies, key=_name):
        name = _name(policy)
        spec = _mapping(policy.get("spec"))
        mine = [_mapping(b.get("spec")) for b in bindings
                if _mapping(b.get("spec")).get("policyName") == name]
        deny = [b for b in mine if "Deny" in (b.get("validationActions") or ())]
        if not any(request.matches(_mapping(b.get("matchResources"))) for b in deny):
            continue
        if not request.matches(_mapping(spec.get("matchConstraints"))):
            continue
        found += [Refusal(name, message) for message in _judge(spec, request)]
    return found


def compile_problems(policy: Mapping) -> list[str]:
    """Why an expression of the policy cannot be compiled, one line per expression."""
    return [f"{where}: {program}" for where, text in expressions(policy)
            if isinstance(program := compiled(text, ADMISSION), str)]


def expressions(policy: Mapping) -> Iterator[tuple[str, str]]:
    """(JSON path as text, expression) of every CEL expression of a policy."""
    spec = _mapping(policy.get("spec"))
    for field, keys in (("matchConditions", ("expression",)), ("variables", ("expression",)),
                        ("validations", ("expression", "messageExpression")),
                        ("auditAnnotations", ("valueExpression",))):
        for i, item in enumerate(spec.get(field) or ()):
            for key in keys:
                if isinstance(item, Mapping) and isinstance(item.get(key), str):
                    yield f"spec.{field}[{i}].{key}", item[key]


def _judge(spec: Mapping[str, Any], request: _Request) -> list[str]:
    """The messages of the failed validations of a policy that matches the request."""
    from celpy.celtypes import MapType, StringType

    activation: dict[str, Any] = request.activation()
    try:
        for condition in spec.get("matchConditions") or ():
            if _evaluate(_text(condition, "expression"), activation) is not True:
                return []
        variables = MapType()
        for variable in spec.get("variables") or ():
            activation["variables"] = MapType(variables)
            variables[StringType(_text(variable, "name"))] = _evaluate(
                _text(variable, "expression"), activation, raw=True)
        activation["variables"] = variables
        messages = []
        for validation in spec.get("validations") or ():
            expression = _text(validation, "expression")
            if _evaluate(expression, activation) is True:
                continue
            messages.append(_message(validation, expression, activation))
        return messages
    except NotEvaluated as exc:
        return [str(exc)]


def _message(validation: Mapping[str, Any], expression: str, activation: dict[str, Any]) -> str:
    if validation.get("messageExpression"):
        try:
            computed = _evaluate(str(validation["messageExpression"]), activation)
        except NotEvaluated:
            computed = None
        if isinstance(computed, str) and computed.strip():
            return computed
    return str(validation.get("message") or f"failed expression: {expression}")


def _text(item: Any, key: str) -> str:
    return str(item.get(key, "")) if isinstance(item, Mapping) else ""


def _evaluate(expression: str, activation: Mapping[str, Any], raw: bool = False) -> Any:
    """The value of an expression: a Python bool or str, or the CEL value when `raw`."""
    program = compiled(expression, ADMISSION)
    shown = repr(expression if len(expression) <= 120 else expression[:120] + "...")
    if isinstance(program, str):
        raise NotEvaluated(f"expression {shown} {program}")
    try:
        return evaluated(program, activation, raw)
    except NotEvaluated as exc:
        raise NotEvaluated(f"expression {shown} {exc}") from None


@dataclass(frozen=True)
class _Request:
    """What the API server knows of a CREATE request for one object."""

    obj: Mapping[str, Any]
    group: str
    version: str
    kind: str
    resource: str
    namespace_name: str | None
    namespace_labels: Mapping[str, Any]
    namespace: Mapping[str, Any] | None

    @staticmethod
    def of(obj: Mapping[str, Any], namespace: Mapping[str, Any] | None) -> _Request:
        group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
        kind = str(obj.get("kind", ""))
        resource = PLURALS.get(kind) or _plural(kind.lower())
        meta = _mapping(namespace.get("metadata")) if namespace is not None else {}
        name = str(meta.get("name") or "")  # "" for a cluster-scoped object (no namespace)
        labels = {str(k): v for k, v in _mapping(meta.get("labels")).items()}
        if name:
            labels[NAME_LABEL] = name  # the API server sets it on every namespace, over any label
        return _Request(obj, group, version, kind, resource, name or None, labels, namespace)

    def activation(self) -> dict[str, Any]:
        import celpy

        meta = _mapping(self.obj.get("metadata"))
        request = {
            "operation": "CREATE", "subResource": "", "name": str(meta.get("name", "")),
            "namespace": self.namespace_name or "",
            "kind": {"group": self.group, "version": self.version, "kind": self.kind},
            "resource": {"group": self.group, "version": self.version,
                         "resource": self.resource},
            "userInfo": {}, "dryRun": False,
        }
        return {"object": celpy.json_to_cel(_plain(self.obj)), "oldObject": None,
                "request": celpy.json_to_cel(request), "params": None,
                "namespaceObject": (celpy.json_to_cel(_plain(self.namespace))
                                    if self.namespace is not None else None)}

    def matches(self, match: Mapping[str, Any]) -> bool:
        """Whether `matchConstraints` or `matchResources` select this request (an absent
        list of rules selects every resource, as a binding's matchResources does)."""
        rules = match.get("resourceRules")
        if rules is not None and not any(self._rule(r) for r in rules):
            return False
        if any(self._rule(r) for r in match.get("excludeResourceRules") or ()):
            return False
        if self.kind == "Namespace":
            selected_labels = _mapping(_mapping(self.obj.get("metadata")).get("labels"))
        elif self.namespace_name is None:
            selected_labels = None  # a cluster-scoped object: namespaceSelector does not apply
        else:
            selected_labels = self.namespace_labels
        if selected_labels is not None and not selects(match.get("namespaceSelector"),
                                                         selected_labels):
            return False
        object_labels = _mapping(_mapping(self.obj.get("metadata")).get("labels"))
        return selects(match.get("objectSelector"), object_labels)

    def _rule(self, rule: Any) -> bool:
        if not isinstance(rule, Mapping):
            return False

        def has(field: str, value: str) -> bool:
            listed = rule.get(field) or ()
            return "*" in listed or value in listed

        scope = rule.get("scope") or "*"
        namespaced = self.namespace_name is not None
        names = rule.get("resourceNames") or ()
        name = str(_mapping(self.obj.get("metadata")).get("name", ""))
        return (has("apiGroups", self.group) and has("apiVersions", self.version)
                and (has("operations", "CREATE"))
                and any(r in ("*", "*/*", self.resource) for r in rule.get("resources") or ())
                and (scope == "*" or (scope == "Namespaced") == namespaced)
                and (not names or name in names))


def selects(selector: Any, labels: Mapping[str, Any]) -> bool:
    """A metav1.LabelSelector: matchLabels and matchExpressions all hold (an absent or empty
    selector selects everything)."""
    if not isinstance(selector, Mapping):
        return True
    for key, value in _mapping(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or ():
        if not isinstance(expression, Mapping):
            return False
        key, operator = expression.get("key"), expression.get("operator")
        values = [str(v) for v in expression.get("values") or ()]
        present = key in labels
        if operator == "In" and not (present and str(labels[key]) in values):
            return False
        if operator == "NotIn" and present and str(labels[key]) in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def _plural(kind: str) -> str:
    if kind.endswith("y") and kind[-2:-1] not in "aeiou":
        return kind[:-1] + "ies"
    if kind.endswith(("s", "x", "ch", "sh")):
        return kind + "es"
    return kind + "s"


def _name(item: Mapping[str, Any]) -> str:
    return str(_mapping(item.get("metadata")).get("name", ""))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _plain(value: Any) -> Any:
    """JSON data for celpy: a Mapping becomes a dict, a tuple a list, and what JSON has no
    type for (a YAML timestamp, bytes) its text."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float)):
        return value
    return str(value)
