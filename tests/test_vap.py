"""aifab.verify.vap judges a ValidatingAdmissionPolicy and its bindings as the API server does
on CREATE: matching, match conditions, variables, messages, and never a silent pass."""

from __future__ import annotations

from typing import Any

from aifab.verify.vap import Refusal, compile_problems, refusals

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "p", "namespace": "team", "labels": {"app": "train"}},
       "spec": {"containers": [{"name": "main", "image": "nvcr.io/x:1"}]}}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "team", "labels": {"tier": "gold"}}}
PODS = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
         "resources": ["pods"]}]


def _policy(validations: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "p1"},
            "spec": {"matchConstraints": {"resourceRules": PODS}, "validations": validations,
                     **spec}}


def _binding(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "p1"},
            "spec": {"policyName": "p1", "validationActions": ["Deny"], **spec}}


NO_NVCR = {"expression": "!object.spec.containers.exists(c, c.image.startsWith('nvcr.io/'))",
           "message": "no nvcr.io"}


def test_a_failed_validation_refuses_with_its_message() -> None:
    assert refusals([_policy([NO_NVCR])], [_binding()], POD, NAMESPACE) == [
        Refusal("p1", "no nvcr.io")]


def test_message_expression_then_message_then_the_expression() -> None:
    computed = {**NO_NVCR, "messageExpression":
                "'images ' + object.spec.containers.map(c, c.image).join(', ')"}
    assert refusals([_policy([computed])], [_binding()], POD, NAMESPACE)[0].message \
        == "images nvcr.io/x:1"
    broken = {**NO_NVCR, "messageExpression": "object.nothing.here"}
    assert refusals([_policy([broken])], [_binding()], POD, NAMESPACE)[0].message == "no nvcr.io"
    bare = {"expression": NO_NVCR["expression"]}
    assert refusals([_policy([bare])], [_binding()], POD, NAMESPACE)[0].message \
        == f"failed expression: {NO_NVCR['expression']}"


def test_no_deny_binding_no_refusal() -> None:
    policy = _policy([NO_NVCR])
    assert refusals([policy], [], POD, NAMESPACE) == []
    assert refusals([policy], [_binding(validationActions=["Warn", "Audit"])], POD,
                    NAMESPACE) == []
    other = _binding(policyName="p2")
    assert refusals([policy], [other], POD, NAMESPACE) == []


def test_selectors_and_rules_decide_what_is_judged() -> None:
    policy = _policy([NO_NVCR])
    gold = {"namespaceSelector": {"matchLabels": {"tier": "gold"}}}
    silver = {"namespaceSelector": {"matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["silver"]}]}}
    by_name = {"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["team"]}]}}
    by_label = {"objectSelector": {"matchExpressions": [
        {"key": "app", "operator": "DoesNotExist"}]}}
    assert refusals([policy], [_binding(matchResources=gold)], POD, NAMESPACE)
    assert not refusals([policy], [_binding(matchResources=silver)], POD, NAMESPACE)
    assert not refusals([policy], [_binding(matchResources=by_name)], POD, NAMESPACE)
    assert not refusals([policy], [_binding(matchResources=by_label)], POD, NAMESPACE)
    deployments = _policy([NO_NVCR])
    deployments["spec"]["matchConstraints"]["resourceRules"] = [
        {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"],
         "resources": ["deployments"]}]
    assert not refusals([deployments], [_binding()], POD, NAMESPACE)
    excluded = _policy([NO_NVCR])
    excluded["spec"]["matchConstraints"]["excludeResourceRules"] = PODS
    assert not refusals([excluded], [_binding()], POD, NAMESPACE)
    updates = _policy([NO_NVCR])
    updates["spec"]["matchConstraints"]["resourceRules"] = [{**PODS[0],
                                                              "operations": ["UPDATE"]}]
    assert not refusals([updates], [_binding()], POD, NAMESPACE)


def test_match_conditions_and_variables() -> None:
    skip = _policy([NO_NVCR], matchConditions=[
        {"name": "not-team", "expression": "request.namespace != 'team'"}])
    assert refusals([skip], [_binding()], POD, NAMESPACE) == []
    with_variables = _policy(
        [{"expression": "variables.count < 1", "messageExpression":
          "'found ' + string(variables.count) + ' in ' + namespaceObject.metadata.name"}],
        variables=[{"name": "images", "expression": "object.spec.containers.map(c, c.image)"},
                   {"name": "count", "expression":
                    "variables.images.filter(i, i.startsWith('nvcr.io/')).size()"}])
    assert refusals([with_variables], [_binding()], POD, NAMESPACE) == [
        Refusal("p1", "found 1 in team")]


def test_what_the_engine_cannot_compile_or_evaluate_refuses() -> None:
    broken = _policy([{"expression": "object.spec.containers.all(c, "}])
    assert compile_problems(broken) and compile_problems(_policy([NO_NVCR])) == []
    found = refusals([broken], [_binding()], POD, NAMESPACE)
    assert len(found) == 1 and "cannot be compiled" in found[0].message
    missing = _policy([{"expression": "object.spec.nodeName == 'x'"}],
                      failurePolicy="Ignore")
    found = refusals([missing], [_binding()], POD, NAMESPACE)
    assert len(found) == 1 and "cannot be evaluated" in found[0].message
    not_bool = _policy([{"expression": "'yes'"}])
    assert refusals([not_bool], [_binding()], POD, NAMESPACE)


def test_odd_objects_are_judged_not_crashed_on() -> None:
    """Objects come from users' files: odd shapes give refusals or admissions, never a crash."""
    import datetime

    policy = _policy([NO_NVCR])
    odd = [{"apiVersion": "v1", "kind": "Pod"},
           {"apiVersion": "v1", "kind": "Pod", "metadata": ["x"], "spec": "nope"},
           {**POD, "metadata": {**POD["metadata"],
                                "annotations": {"at": datetime.datetime(2026, 1, 1)}}},
           {"kind": 7, "apiVersion": None}]
    for obj in odd:
        found = refusals([policy], [_binding()], obj, NAMESPACE)
        assert all(isinstance(r, Refusal) and r.message for r in found)
    assert refusals([policy], [_binding()], odd[2], None) == [Refusal("p1", "no nvcr.io")]
