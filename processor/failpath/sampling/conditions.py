"""Policy conditions compiled into per-span tests (leaves) and a predicate over the trace's leaf bits.

Each leaf gets one bit. Spans are tested as they arrive, and the trace keeps the OR of the bits its spans
(or, for `on: root` leaves, its root span) set, so a decision never has to look at the spans again. all /
any / not then combine bits: `not` of an `on: any` test means "no span passes it".
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from failpath.otlp.values import Value
from failpath.sampling.config import ConditionConfig, Scalar

Predicate = Callable[[int], bool]


@dataclass(frozen=True, slots=True)
class Leaf:
    bit: int
    # Attribute key, or None for the span name.
    attribute: str | None
    root_only: bool
    test: Callable[[Value], bool]


def _same(expected: Scalar) -> Callable[[Value], bool]:
    if isinstance(expected, bool):
        return lambda value: value is expected or (isinstance(value, str) and value.lower() == str(expected).lower())
    if isinstance(expected, int | float):
        return lambda value: not isinstance(value, bool) and isinstance(value, int | float) and value == expected
    return lambda value: value == expected


def _scalar_test(condition: ConditionConfig) -> Callable[[Value], bool]:
    if condition.equals is not None:
        return _same(condition.equals)
    if condition.in_ is not None:
        tests = [_same(item) for item in condition.in_]
        return lambda value: any(test(value) for test in tests)
    if condition.regex is not None:
        pattern = re.compile(condition.regex)
        return lambda value: isinstance(value, str) and pattern.search(value) is not None
    if condition.is_ is not None:
        return _same(condition.is_)
    if condition.exists is not None:
        return lambda value: True
    low = condition.min if condition.min is not None else float("-inf")
    high = condition.max if condition.max is not None else float("inf")
    return lambda value: not isinstance(value, bool) and isinstance(value, int | float) and low <= value <= high


def _array_aware(test: Callable[[Value], bool]) -> Callable[[Value], bool]:
    """An array passes when one of its items does."""
    return lambda value: any(test(item) for item in value) if isinstance(value, tuple) else test(value)


class CompiledConditions:
    """All leaves of every policy's conditions, numbered; compile() returns a predicate per condition."""

    def __init__(self) -> None:
        self.leaves: list[Leaf] = []

    def compile(self, condition: ConditionConfig) -> Predicate:
        if condition.all is not None:
            parts = [self.compile(part) for part in condition.all]
            return lambda bits: all(part(bits) for part in parts)
        if condition.any is not None:
            parts = [self.compile(part) for part in condition.any]
            return lambda bits: any(part(bits) for part in parts)
        if condition.not_ is not None:
            inner = self.compile(condition.not_)
            return lambda bits: not inner(bits)
        test = _scalar_test(condition)
        mask = 1 << len(self.leaves)
        self.leaves.append(
            Leaf(
                bit=mask,
                attribute=condition.attribute,
                root_only=condition.on == "root",
                test=_array_aware(test),
            )
        )
        return lambda bits: bits & mask != 0
