"""The webhook filter language: a JSON document of predicates over a normalised event.

The dispatcher evaluates it; the config API validates it on write with the same :func:`compile_filter`,
so a filter that was accepted can always be evaluated. There is no eval and no regex: every operator
is a comparison, a membership test or a plain string ``startswith`` / ``in``.

Document shape::

    {"<path>": <scalar>}                         # implicit $eq
    {"<path>": {"$in": [..], "$prefix": ".."}}   # several operators on one path are ANDed
    {"$and": [doc, ...]}, {"$or": [doc, ...]}, {"$not": doc}
    several keys in one document are ANDed

Paths: ``type``, ``object_type``, ``object_id``, ``integration_id`` or ``data.<dotted path>`` into the
SurveyMonkey body / FHIR resource. Arrays on the way are searched: a predicate holds when any element
holds (``$ne`` / ``$nin`` hold when no element equals, as in MongoDB). A numeric path segment indexes
into an array. Operands are scalars (string, number, boolean, null).

Errors: :class:`FilterError` (invalid document, raised at compile time; the message names the path,
e.g. ``filter.data.status.$in: expected a list``) and :class:`FilterEvaluationError` (an ordering
operator met a value of another type, e.g. ``$gt: 5`` against ``"booked"``; callers count it and treat
the filter as false).

Cost: ``$in`` / ``$nin`` are hash-set lookups keyed by (JSON type, value), so ``1``, ``true`` and ``"1"``
stay apart while ``1`` and ``1.0`` are the same number. A filter holds at most :data:`MAX_OPERANDS`
operand values in total. One evaluation spends steps from an :class:`EvaluationBudget` (each value
visited on a path, each value tested, long strings scanned by ``$contains``); running out raises
:class:`FilterBudgetExceededError`, so an event with huge arrays cannot make one filter expensive.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 8
"""Nesting of documents ($and/$or/$not) including the top level."""
MAX_NODES = 256
"""Predicates + logical nodes in one filter."""
MAX_LIST = 1000
"""Items in one $in / $nin / $and / $or list."""
MAX_STRING = 1024
"""Characters in one string operand."""
MAX_PATH_SEGMENTS = 16
MAX_PATH_LENGTH = 256
MAX_OPERANDS = 2000
"""Operand values in one filter, all operators together (each $in / $nin item counts)."""
DEFAULT_BUDGET_STEPS = 1_000_000
"""Steps of one evaluation when the caller sets no budget (the dispatcher sets its own, smaller)."""
SCAN_CHARS_PER_STEP = 256
"""Characters of a string ``$contains`` / ``$prefix`` may scan for one step."""

ROOT_FIELDS = frozenset({"type", "object_type", "object_id", "integration_id"})
COMPARISON_OPERATORS = frozenset(
    {"$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists", "$prefix", "$contains"}
)
LOGICAL_OPERATORS = frozenset({"$and", "$or", "$not"})

Scalar = str | int | float | bool | None


class FilterError(ValueError):
    """A filter document is invalid; the message names the path and what is wrong."""


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


@dataclass(frozen=True)
class CompiledFilter:
    """A validated filter, ready to evaluate many times."""

    document: Mapping[str, Any]
    _predicate: Predicate
    nodes: int
    operands: int = 0

    def matches(self, event: Mapping[str, Any], budget_steps: int = DEFAULT_BUDGET_STEPS) -> bool:
        """Whether the event satisfies the filter (raises :class:`FilterEvaluationError`)."""
        return self._predicate(event, EvaluationBudget(budget_steps))


def compile_filter(doc: Mapping[str, Any]) -> CompiledFilter:
    """Validate a filter document and compile it (raises :class:`FilterError`)."""
    compiler = _Compiler()
    predicate = compiler.document(doc, "filter", 1)
    return CompiledFilter(
        document=doc, _predicate=predicate, nodes=compiler.nodes, operands=compiler.operands
    )


# ---------------------------------------------------------------- evaluation helpers


def _kind(value: object) -> str:
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


def _equal(a: object, b: object) -> bool:
    return _kind(a) == _kind(b) and a == b


def _flatten_into(value: list[Any], out: list[object], budget: EvaluationBudget) -> None:
    budget.spend(len(value))
    for item in value:
        if type(item) is list:
            _flatten_into(item, out, budget)
        else:
            out.append(item)


def _resolve(event: Mapping[str, Any], segments: tuple[str, ...], budget: EvaluationBudget) -> list[object]:
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
            if isinstance(value, Mapping):
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
                    if isinstance(item, Mapping) and segment in item:
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


def _scan_cost(values: list[object]) -> int:
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


def _ordered(op: str, operand: Scalar) -> Callable[[list[object], EvaluationBudget], bool]:
    """An ordering test over the values at a path; missing (null) values are skipped."""
    kind = _kind(operand)
    allowed = _NUMBER_TYPES if kind == "number" else _STRING_TYPES
    compare = _ORDER[op]

    def test(values: list[object], budget: EvaluationBudget) -> bool:
        budget.spend(len(values) + 1)
        for value in values:
            if value is None:
                continue
            if type(value) not in allowed:
                raise FilterEvaluationError(f"{op} compares a {kind} with a {_kind(value)}")
            if compare(value, operand):
                return True
        return False

    return test


# ---------------------------------------------------------------- compiler


class _Compiler:
    def __init__(self) -> None:
        self.nodes = 0
        self.operands = 0

    def _count(self, where: str) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise FilterError(f"{where}: filter too large (more than {MAX_NODES} predicates)")

    def _operands(self, count: int, where: str) -> None:
        self.operands += count
        if self.operands > MAX_OPERANDS:
            raise FilterError(
                f"{where}: filter too large (more than {MAX_OPERANDS} operand values in total, "
                "counting every $in / $nin item)"
            )

    def document(self, doc: object, where: str, depth: int) -> Predicate:
        if not isinstance(doc, Mapping):
            raise FilterError(f"{where}: expected an object, got {_describe(doc)}")
        if depth > MAX_DEPTH:
            raise FilterError(f"{where}: nested deeper than {MAX_DEPTH} levels")
        if not doc:
            raise FilterError(f"{where}: empty filter object")
        parts: list[Predicate] = []
        for key, value in doc.items():
            if not isinstance(key, str):
                raise FilterError(f"{where}: keys must be strings")
            sub = f"{where}.{key}"
            if key.startswith("$"):
                parts.append(self.logical(key, value, sub, depth))
            else:
                parts.append(self.field(key, value, sub))
        return _all(parts)

    def logical(self, op: str, value: object, where: str, depth: int) -> Predicate:
        self._count(where)
        if op == "$not":
            inner = self.document(value, where, depth + 1)
            return lambda event, budget: not inner(event, budget)
        if op not in ("$and", "$or"):
            hint = (
                ' (use it inside a path, e.g. {"data.status": {"' + op + '": ...}})'
                if op in COMPARISON_OPERATORS
                else ""
            )
            raise FilterError(
                f"{where}: unknown operator at document level{hint}; expected $and, $or, $not or a path"
            )
        if not isinstance(value, list):
            raise FilterError(f"{where}: expected a list of filter objects, got {_describe(value)}")
        if not value:
            raise FilterError(f"{where}: expected at least one filter object")
        if len(value) > MAX_LIST:
            raise FilterError(f"{where}: more than {MAX_LIST} items")
        parts = [self.document(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
        return _all(parts) if op == "$and" else _any(parts)

    def field(self, path: str, spec: object, where: str) -> Predicate:
        segments = _parse_path(path, where)
        if isinstance(spec, Mapping) and spec and all(isinstance(k, str) and k.startswith("$") for k in spec):
            tests = [self.predicate(str(op), operand, f"{where}.{op}") for op, operand in spec.items()]
        elif isinstance(spec, Mapping):
            raise FilterError(f"{where}: expected a scalar or an object of operators ($eq, $in, ...)")
        else:
            tests = [self.predicate("$eq", spec, where)]

        if len(tests) == 1:
            only = tests[0]

            def check_one(event: Mapping[str, Any], budget: EvaluationBudget) -> bool:
                return only(_resolve(event, segments, budget), budget)

            return check_one

        def check(event: Mapping[str, Any], budget: EvaluationBudget) -> bool:
            values = _resolve(event, segments, budget)
            for test in tests:  # noqa: SIM110 (a plain loop: no generator per evaluation)
                if not test(values, budget):
                    return False
            return True

        return check

    def predicate(self, op: str, operand: object, where: str) -> Test:
        self._count(where)
        if op not in COMPARISON_OPERATORS:
            known = ", ".join(sorted(COMPARISON_OPERATORS))
            raise FilterError(f"{where}: unknown operator {op!r}; expected one of {known}")
        if op in ("$in", "$nin"):
            items = _scalar_list(operand, where)
            self._operands(len(items), where)
            members = _member_set(items)
            if op == "$in":
                return lambda values, budget: _any_member(values, members, budget)
            return lambda values, budget: not _any_member(values, members, budget)
        self._operands(1, where)
        if op == "$exists":
            if not isinstance(operand, bool):
                raise FilterError(f"{where}: expected true or false, got {_describe(operand)}")
            wanted = operand
            return lambda values, budget: any(v is not None for v in values) is wanted
        scalar = _scalar(operand, where)
        if op in ("$eq", "$ne"):
            member = _member_set((scalar,))
            if op == "$eq":
                return lambda values, budget: _any_member(values, member, budget)
            return lambda values, budget: not _any_member(values, member, budget)
        if op in ("$prefix", "$contains"):
            if not isinstance(scalar, str):
                raise FilterError(f"{where}: expected a string, got {_describe(operand)}")
            text = scalar
            if op == "$prefix":
                return lambda values, budget: (
                    _spent(budget, _scan_cost(values))
                    and any(isinstance(v, str) and v.startswith(text) for v in values)
                )
            return lambda values, budget: (
                _spent(budget, _scan_cost(values)) and any(isinstance(v, str) and text in v for v in values)
            )
        if _kind(scalar) not in ("number", "string"):
            raise FilterError(f"{where}: expected a number or a string, got {_describe(operand)}")
        # Missing paths are false; a value of another type cannot be ordered and is an evaluation error.
        return _ordered(op, scalar)


def _spent(budget: EvaluationBudget, steps: int) -> bool:
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


def _member_set(items: tuple[Scalar, ...]) -> frozenset[object]:
    """Operands as one hash set: 1 and 1.0 are the same number, true / 1 / "1" stay apart."""
    return frozenset(_TRUE if item is True else _FALSE if item is False else item for item in items)


def _any_member(values: list[object], members: frozenset[object], budget: EvaluationBudget) -> bool:
    budget.spend(len(values) + 1)
    for value in values:
        kind = type(value)
        if kind is bool:
            if (_TRUE if value else _FALSE) in members:
                return True
        elif kind in _HASHED_TYPES and value in members:
            return True
    return False


def _all(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]

    def every(event: Mapping[str, Any], budget: EvaluationBudget) -> bool:
        for part in parts:  # noqa: SIM110 (a plain loop: no generator per evaluation)
            if not part(event, budget):
                return False
        return True

    return every


def _any(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]

    def some(event: Mapping[str, Any], budget: EvaluationBudget) -> bool:
        for part in parts:  # noqa: SIM110 (a plain loop: no generator per evaluation)
            if part(event, budget):
                return True
        return False

    return some


def _parse_path(path: str, where: str) -> tuple[str, ...]:
    if not path:
        raise FilterError(f"{where}: empty path")
    if len(path) > MAX_PATH_LENGTH:
        raise FilterError(f"{where}: path longer than {MAX_PATH_LENGTH} characters")
    segments = tuple(path.split("."))
    if any(not s for s in segments):
        raise FilterError(f"{where}: empty segment in path {path!r}")
    if len(segments) > MAX_PATH_SEGMENTS:
        raise FilterError(f"{where}: path has more than {MAX_PATH_SEGMENTS} segments")
    root = segments[0]
    if root == "data":
        return segments
    if root in ROOT_FIELDS and len(segments) == 1:
        return segments
    raise FilterError(
        f"{where}: unknown path {path!r}; expected type, object_type, object_id, integration_id or data.<path>"
    )


def _scalar(value: object, where: str) -> Scalar:
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise FilterError(f"{where}: string longer than {MAX_STRING} characters")
        return value
    if value is None or isinstance(value, bool | int | float):
        return value
    raise FilterError(f"{where}: expected a string, number, boolean or null, got {_describe(value)}")


def _scalar_list(value: object, where: str) -> tuple[Scalar, ...]:
    if not isinstance(value, list):
        raise FilterError(f"{where}: expected a list, got {_describe(value)}")
    if len(value) > MAX_LIST:
        raise FilterError(f"{where}: more than {MAX_LIST} items")
    return tuple(_scalar(item, f"{where}[{i}]") for i, item in enumerate(value))


def _describe(value: object) -> str:
    names = {"bool": "a boolean", "number": "a number", "string": "a string", "null": "null"}
    kind = _kind(value)
    if kind in names:
        return names[kind]
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
