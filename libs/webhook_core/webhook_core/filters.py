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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webhook_core.filter_eval import (
    DEFAULT_BUDGET_STEPS,
    SCAN_CHARS_PER_STEP,
    EvaluationBudget,
    FilterBudgetExceededError,
    FilterEvaluationError,
    Predicate,
    Scalar,
    Test,
    all_of,
    any_member,
    any_of,
    kind,
    member_set,
    ordered,
    resolve,
    scan_cost,
    spent,
)

__all__ = [
    "DEFAULT_BUDGET_STEPS",
    "MAX_DEPTH",
    "MAX_LIST",
    "MAX_NODES",
    "MAX_OPERANDS",
    "MAX_PATH_SEGMENTS",
    "MAX_STRING",
    "SCAN_CHARS_PER_STEP",
    "CompiledFilter",
    "EvaluationBudget",
    "FilterBudgetExceededError",
    "FilterError",
    "FilterEvaluationError",
    "compile_filter",
]

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
ROOT_FIELDS = frozenset({"type", "object_type", "object_id", "integration_id"})
COMPARISON_OPERATORS = frozenset(
    {"$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists", "$prefix", "$contains"}
)
LOGICAL_OPERATORS = frozenset({"$and", "$or", "$not"})


class FilterError(ValueError):
    """A filter document is invalid; the message names the path and what is wrong."""


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
        return all_of(parts)

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
        return all_of(parts) if op == "$and" else any_of(parts)

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
                return only(resolve(event, segments, budget), budget)

            return check_one

        def check(event: Mapping[str, Any], budget: EvaluationBudget) -> bool:
            values = resolve(event, segments, budget)
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
            members = member_set(items)
            if op == "$in":
                return lambda values, budget: any_member(values, members, budget)
            return lambda values, budget: not any_member(values, members, budget)
        self._operands(1, where)
        if op == "$exists":
            if not isinstance(operand, bool):
                raise FilterError(f"{where}: expected true or false, got {_describe(operand)}")
            wanted = operand
            return lambda values, budget: any(v is not None for v in values) is wanted
        scalar = _scalar(operand, where)
        if op in ("$eq", "$ne"):
            member = member_set((scalar,))
            if op == "$eq":
                return lambda values, budget: any_member(values, member, budget)
            return lambda values, budget: not any_member(values, member, budget)
        if op in ("$prefix", "$contains"):
            if not isinstance(scalar, str):
                raise FilterError(f"{where}: expected a string, got {_describe(operand)}")
            text = scalar
            if op == "$prefix":
                return lambda values, budget: (
                    spent(budget, scan_cost(values))
                    and any(isinstance(v, str) and v.startswith(text) for v in values)
                )
            return lambda values, budget: (
                spent(budget, scan_cost(values)) and any(isinstance(v, str) and text in v for v in values)
            )
        if kind(scalar) not in ("number", "string"):
            raise FilterError(f"{where}: expected a number or a string, got {_describe(operand)}")
        # Missing paths are false; a value of another type cannot be ordered and is an evaluation error.
        return ordered(op, scalar)


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
    found = kind(value)
    if found in names:
        return names[found]
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
