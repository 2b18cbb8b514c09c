"""$in / $nin / $eq as hash-set membership keyed by JSON type; the operand cap; the evaluation budget."""

from __future__ import annotations

from typing import Any

import pytest

from webhook_core.filters import (
    MAX_OPERANDS,
    FilterBudgetExceededError,
    FilterError,
    FilterEvaluationError,
    compile_filter,
)


@pytest.mark.parametrize(
    ("value", "operands", "expected"),
    [
        (1, [1], True),
        (1, [1.0], True),  # one JSON number
        (1.0, [1], True),
        (1, [True], False),  # true is not 1
        (True, [1], False),
        (True, [True], True),
        (False, [0], False),
        (0, [False], False),
        (1, ["1"], False),
        ("1", [1], False),
        (None, [None], True),
        (None, ["null"], False),
        ("a", ["a", "b"], True),
        ([1, "x"], ["x"], True),  # any element of an array
        ({"k": 1}, [1], False),  # objects never equal a scalar (and are not hashed)
        ([[True]], [True], True),
        (-0.0, [0], True),
        (2**60 + 1, [float(2**60)], False),
    ],
)
def test_membership_respects_json_types(value: Any, operands: list[Any], expected: bool) -> None:
    event = {"data": {"x": value}}
    assert compile_filter({"data.x": {"$in": operands}}).matches(event) is expected
    assert compile_filter({"data.x": {"$nin": operands}}).matches(event) is (not expected)
    if len(operands) == 1:
        assert compile_filter({"data.x": operands[0]}).matches(event) is expected


def test_operand_cap_counts_every_list_item_and_names_the_place() -> None:
    ok = {f"data.f{i}": {"$in": list(range(500))} for i in range(MAX_OPERANDS // 500)}
    assert compile_filter(ok).operands == MAX_OPERANDS
    too_many = {**ok, "data.extra": {"$in": [1]}}
    with pytest.raises(
        FilterError, match=rf"filter\.data\.extra\.\$in: filter too large \(more than {MAX_OPERANDS}"
    ):
        compile_filter(too_many)
    with pytest.raises(FilterError, match="operand values"):
        compile_filter({**ok, "type": "x"})  # a bare scalar counts too


def test_budget_bounds_an_evaluation_over_huge_arrays() -> None:
    flt = compile_filter({"$and": [{"data.items.v": {"$nin": [-i]}} for i in range(1, 200)]})
    small = {"data": {"items": [{"v": i} for i in range(5)]}}
    huge = {"data": {"items": [{"v": i} for i in range(100_000)]}}
    assert flt.matches(small, 5_000) is True
    with pytest.raises(FilterBudgetExceededError, match="5000 steps"):
        flt.matches(huge, 5_000)
    assert issubclass(FilterBudgetExceededError, FilterEvaluationError)  # callers that only know the base


def test_budget_counts_string_scanning() -> None:
    flt = compile_filter({"data.s": {"$contains": "needle"}})
    event = {"data": {"s": "x" * 10_000_000}}
    with pytest.raises(FilterBudgetExceededError):
        flt.matches(event, 5_000)
    assert flt.matches({"data": {"s": "a needle"}}, 5_000) is True


def test_a_path_repeated_in_one_filter_is_resolved_once_but_charged_each_time() -> None:
    flt = compile_filter({"$and": [{"data.items.v": {"$ne": -i}} for i in range(1, 40)]})
    event = {"data": {"items": [{"v": i} for i in range(100)]}}
    assert flt.matches(event, 10_000) is True
    with pytest.raises(FilterBudgetExceededError):
        flt.matches(event, 3_000)  # 39 predicates x 100 values
