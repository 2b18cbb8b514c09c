"""Evaluation side of the filter language: the step budget, path resolution and the operators' tests.

:mod:`webhook_core.filters` compiles a document into closures built from these; every test spends steps
from the :class:`EvaluationBudget` of the evaluation, so the cost of one filter on one event is bounded.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

DEFAULT_BUDGET_STEPS = 1_000_000
"""Steps of one evaluation when the caller sets no budget (the dispatcher sets its own, smaller)."""
SCAN_CHARS_PER_STEP = 256
"""Characters of a string ``$contains`` / ``$prefix`` may scan for one step."""

Scalar = str | int | float | bool | None


class FilterEvaluationError(Exception):
    """A filter cannot be evaluated on one event (the caller counts it and treats it as false)."""


class FilterBudgetExceededError(FilterEvaluationError):
    """One evaluation ran out of steps (the event's arrays are too large for this filter)."""


class EvaluationBudget:
    """Steps one evaluation may spend; paths resolved once per evaluation are remembered."""

    __slots__ = ("limit", "paths", "remaining")

    def __init__(self, steps: int = DEFAULT_BUDGET_STEPS) -> None:
        self.limit = steps
        self.remaining = steps
        self.paths: dict[tuple[str, ...], list[object]] = {}

    def spend(self, steps: int) -> None:
        """Take steps; raises :class:`FilterBudgetExceededError` once the budget is gone."""
        self.remaining -= steps
        if self.remaining < 0:
            raise FilterBudgetExceededError(f"evaluation budget of {self.limit} steps exceeded")


Predicate = Callable[[Mapping[str, Any], EvaluationBudget], bool]
Test = Callable[[list[object], EvaluationBudget], bool]


def kind(value: object) -> str:
    # bool is an int subclass; keep true/1 apart, as JSON does.
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "other"


def _flatten_into(value: list[Any], out: list[object], budget: EvaluationBudget) -> None:
    budget.spend(len(value))
    for item in value:
        if type(item) is list:
            _flatten_into(item, out, budget)
        else:
            out.append(item)


def resolve(event: Mapping[str, Any], segments: tuple[str, ...], budget: EvaluationBudget) -> list[object]:
    """Every value at the path, arrays searched (flattened) on the way and at the end."""
    cached = budget.paths.get(segments)
    if cached is not None:
        budget.spend(1)
        return cached
    current: list[object] = [event]
    for segment in segments:
        budget.spend(len(current))
        found: list[object] = []
        for value in current:
            # type() before isinstance(): events are parsed JSON, and an ABC check costs ~4 x more per value
            if type(value) is dict or isinstance(value, Mapping):
                if segment in value:
                    found.append(value[segment])
            elif isinstance(value, list):
                if segment.isdigit():
                    index = int(segment)
                    if index < len(value):
                        found.append(value[index])
                    continue
                items: list[object] = []
                _flatten_into(value, items, budget)
                budget.spend(len(items))  # the second pass, over the flattened items
                for item in items:
                    if (type(item) is dict or isinstance(item, Mapping)) and segment in item:
                        found.append(item[segment])
        if not found:
            current = []
            break
        current = found
    leaves: list[object] = []
    for value in current:
        if type(value) is list:
            _flatten_into(value, leaves, budget)
        else:
            leaves.append(value)
    budget.paths[segments] = leaves
    return leaves


def scan_cost(values: list[object]) -> int:
    """Steps for scanning the strings among values (``$contains`` / ``$prefix``)."""
    return len(values) + sum(len(v) for v in values if isinstance(v, str)) // SCAN_CHARS_PER_STEP


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
_NUMBER_TYPES = frozenset({int, float})
_STRING_TYPES = frozenset({str})


def ordered(op: str, operand: Scalar) -> Callable[[list[object], EvaluationBudget], bool]:
    """An ordering test over the values at a path; missing (null) values are skipped."""
    found = kind(operand)
    allowed = _NUMBER_TYPES if found == "number" else _STRING_TYPES
    compare = _ORDER[op]

    def test(values: list[object], budget: EvaluationBudget) -> bool:
        budget.spend(len(values) + 1)
        for value in values:
            if value is None:
                continue
            if type(value) not in allowed:
                raise FilterEvaluationError(f"{op} compares a {found} with a {kind(value)}")
            if compare(value, operand):
                return True
        return False

    return test


def spent(budget: EvaluationBudget, steps: int) -> bool:
    budget.spend(steps)
    return True


class _Boolean:
    """Stands for true / false inside a member set, where Python would take True for 1."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value


_TRUE = _Boolean(True)
_FALSE = _Boolean(False)
_HASHED_TYPES = frozenset({str, int, float, type(None)})


def member_set(items: tuple[Scalar, ...]) -> frozenset[object]:
    """Operands as one hash set: 1 and 1.0 are the same number, true / 1 / "1" stay apart."""
    return frozenset(_TRUE if item is True else _FALSE if item is False else item for item in items)


def any_member(values: list[object], members: frozenset[object], budget: EvaluationBudget) -> bool:
    budget.spend(len(values) + 1)
    for value in values:
        kind = type(value)
        if kind is bool:
            if (_TRUE if value else _FALSE) in members:
                return True
        elif kind in _HASHED_TYPES and value in members:
            return True
    return False


def all_of(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]

    def every(event: Mapping[str, Any], budget: EvaluationBudget) -> bool:
        for part in parts:  # noqa: SIM110 (a plain loop: no generator per evaluation)
            if not part(event, budget):
                return False
        return True

    return every


def any_of(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]

    def some(event: Mapping[str, Any], budget: EvaluationBudget) -> bool:
        for part in parts:  # noqa: SIM110 (a plain loop: no generator per evaluation)
            if part(event, budget):
                return True
        return False

    return some
