"""CEL outcomes kept by rule text and value (verify/cel.py): the engine runs once per distinct
(rule, self), the findings are those of a fresh evaluation, and values CEL tells apart are never
taken for one another."""

from __future__ import annotations

from typing import Any

import celpy
import pytest

from aifab.verify import cel


@pytest.fixture
def runs(monkeypatch) -> list[Any]:
    """Every evaluation the engine makes (the `self` it was given), from an empty cache."""
    monkeypatch.setattr(cel, "_RESULTS", {}, raising=False)  # runs on an engine without it
    seen: list[Any] = []
    evaluate = celpy.InterpretedRunner.evaluate

    def counted(self, activation):
        seen.append(activation.get("self"))
        return evaluate(self, activation)

    monkeypatch.setattr(celpy.InterpretedRunner, "evaluate", counted)
    return seen


def _schema(rule: str, message: str = "broken") -> dict[str, Any]:
    return {"type": "object", "x-kubernetes-validations": [{"rule": rule, "message": message}]}


def test_the_same_rule_and_value_run_the_engine_once(runs) -> None:
    schema = _schema("self.n > 1", "n must be more than 1")
    first = list(cel.violations(schema, {"n": 1}))
    again = list(cel.violations(schema, {"n": 1}))
    assert first == again == [((), True, "n must be more than 1")]
    assert len(runs) == 1
    assert list(cel.violations(schema, {"n": 2})) == []  # another value: evaluated
    assert len(runs) == 2


def test_message_expressions_are_kept_with_their_value(runs) -> None:
    schema = {"type": "object", "x-kubernetes-validations": [
        {"rule": "self.n > 1", "messageExpression": "'n is ' + string(self.n)"}]}
    for _ in range(3):
        assert list(cel.violations(schema, {"n": 0})) == [((), True, "n is 0")]
        assert list(cel.violations(schema, {"n": 1})) == [((), True, "n is 1")]
    assert len(runs) == 4  # rule and message, for each of the two values


@pytest.mark.parametrize("values", [
    (1, 1.0, True),  # int, double, bool: three CEL types
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}),  # the same map, keys in another order
    ([1, 2], [2, 1], {"0": 1, "1": 2}),
    ("1", 1, False),
])
def test_values_cel_tells_apart_are_evaluated_each(runs, values) -> None:
    schema = _schema("type(self) == int")
    found = [list(cel.violations(schema, v)) for v in values]
    fresh = []
    for value in values:
        cel._RESULTS.clear()
        fresh.append(list(cel.violations(schema, value)))
    assert found == fresh
    assert len(runs) == 2 * len(values)


def test_an_int_passes_where_a_double_and_a_bool_fail(runs) -> None:
    schema = _schema("type(self.n) == int", "n is not an int")
    assert list(cel.violations(schema, {"n": 1})) == []
    assert list(cel.violations(schema, {"n": 1.0})) == [((), True, "n is not an int")]
    assert list(cel.violations(schema, {"n": True})) == [((), True, "n is not an int")]
    assert list(cel.violations(schema, {"n": 1})) == []
    assert len(runs) == 3


def test_a_rule_that_cannot_be_evaluated_is_reported_every_time(runs) -> None:
    schema = _schema("self.missing > 1")
    first = list(cel.violations(schema, {"n": 1}))
    assert first == list(cel.violations(schema, {"n": 1}))
    assert [evaluated for _, evaluated, _ in first] == [False]
    assert "cannot be evaluated" in first[0][2]
    assert len(runs) == 1


def test_kept_outcomes_are_bounded(runs, monkeypatch) -> None:
    monkeypatch.setattr(cel, "MAX_RESULTS", 5)
    schema = _schema("self.n >= 0")
    for n in range(20):
        assert list(cel.violations(schema, {"n": n})) == []
    assert len(cel._RESULTS) == 5
    assert all(isinstance(key, bytes) and len(key) == 32 for key in cel._RESULTS)  # no copies
    list(cel.violations(schema, {"n": 0}))  # forgotten: evaluated again
    assert len(runs) == 21


def test_results_other_than_booleans_and_short_strings_are_not_kept(runs) -> None:
    schema = _schema("self.items")  # not a boolean: reported with the value it gave
    value = {"items": list(range(100))}
    first = list(cel.violations(schema, value))
    assert first == list(cel.violations(schema, value))
    assert [evaluated for _, evaluated, _ in first] == [False] and "not a boolean" in first[0][2]
    assert len(runs) == 2 and cel._RESULTS == {}


def test_data_that_is_not_plain_is_evaluated_not_kept(runs) -> None:
    import datetime

    schema = _schema("self.at != null")
    value = {"at": datetime.timedelta(seconds=1)}
    assert list(cel.violations(schema, value)) == list(cel.violations(schema, value)) == []
    assert len(runs) == 2 and cel._RESULTS == {}
