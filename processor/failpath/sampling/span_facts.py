"""What the sampler needs to know about each span, read once as it arrives: error signals, the condition
leaves it passes, and (for a root span) the workflow it belongs to.

One pass over the span's attributes keeps the values of watched keys only (measured: cheaper than first
searching the serialized span for the keys, which costs ~0.2 µs per key per span); the rest is decided
from those few values.
"""

from collections.abc import Sequence
from typing import Any

from failpath.agents.workflow import workflow_name
from failpath.otlp.values import Value, python_value
from failpath.sampling.conditions import Leaf
from failpath.sampling.config import ErrorSignals

_STATUS_ERROR = 2
_EVALUATOR_KIND = "openinference.span.kind"
_PRESENT, _NONZERO, _FALSE = "present", "nonzero", "false"


class SpanInspector:
    def __init__(
        self, leaves: list[Leaf], errors: ErrorSignals, workflow_key: Sequence[str], root_keys: Sequence[str]
    ) -> None:
        """root_keys: more attributes read from root spans (sampling keys)."""
        self._errors = errors
        self._failing = {label.lower() for label in errors.failing_labels}
        self._workflow_key = workflow_key
        self._name_leaves = [leaf for leaf in leaves if leaf.attribute is None]
        self._by_key: dict[str, list[Leaf]] = {}
        for leaf in leaves:
            if leaf.attribute is not None:
                self._by_key.setdefault(leaf.attribute, []).append(leaf)
        self._roles: dict[str, str] = {}
        for role, keys in (
            (_FALSE, errors.false_keys),
            (_NONZERO, errors.nonzero_keys),
            (_PRESENT, errors.present_keys),
        ):
            self._roles.update(dict.fromkeys(keys, role))
        error_keys = [*self._roles]
        if errors.evaluator_labels:
            error_keys += [_EVALUATOR_KIND, *errors.evaluator_labels]
        self._watched = frozenset([*self._by_key, *error_keys, *workflow_key, *root_keys])
        self._event_names = frozenset([*errors.exception_events, *errors.verdict_events])

    def resource(self, attributes: Any) -> tuple[int, dict[str, Value]]:
        """Leaf bits a resource's attributes set for every span under it (root spans re-test them), and its
        watched values."""
        found = self._watched_values(attributes)
        return self._leaf_bits(found, root=False, name=None), found

    def inspect(
        self, span: Any, root: bool, resource_values: dict[str, Value]
    ) -> tuple[int, str | None, dict[str, Value]]:
        """(leaf bits, error reason or None, the span's watched attribute values)."""
        found = self._watched_values(span.attributes)
        error: str | None = None
        if self._errors.status and span.status.code == _STATUS_ERROR:
            error = "status"
        elif found:
            error = self._attribute_error(found)
        if error is None and self._event_names and span.events:
            error = self._event_error(span.events)
        bits = 0
        if found or self._name_leaves:
            values = {**resource_values, **found} if found and resource_values else found or resource_values
            bits = self._leaf_bits(values, root, span.name if self._name_leaves else None)
        return bits, error, found

    def workflow(self, name: str, found: dict[str, Value], resource_values: dict[str, Value]) -> str:
        return workflow_name(self._workflow_key, (found, resource_values), name)

    def _watched_values(self, attributes: Any) -> dict[str, Value]:
        watched = self._watched
        found: dict[str, Value] = {}
        for kv in attributes:
            key = kv.key
            if key in watched:
                value = python_value(kv.value)
                if value is not None:
                    found[key] = value
        return found

    def _leaf_bits(self, values: dict[str, Value], root: bool, name: str | None) -> int:
        bits = 0
        for key, value in values.items():
            for leaf in self._by_key.get(key, ()):
                if (root or not leaf.root_only) and leaf.test(value):
                    bits |= leaf.bit
        if name is not None:
            for leaf in self._name_leaves:
                if (root or not leaf.root_only) and leaf.test(name):
                    bits |= leaf.bit
        return bits

    def _attribute_error(self, found: dict[str, Value]) -> str | None:
        roles = self._roles
        for key, value in found.items():
            role = roles.get(key)
            if role is None:
                continue
            if role is _FALSE:
                if value is False or (isinstance(value, str) and value.lower() == "false"):
                    return key
            elif role is _NONZERO:
                if isinstance(value, int) and not isinstance(value, bool) and value != 0:
                    return key
            elif value != "":
                return key
        if found.get(_EVALUATOR_KIND) == "EVALUATOR":
            for key in self._errors.evaluator_labels:
                if self._failed_label(found.get(key)):
                    return "verdict"
        return None

    def _event_error(self, events: Any) -> str | None:
        errors = self._errors
        for event in events:
            name = event.name
            if name in errors.exception_events:
                return "exception"
            if name in errors.verdict_events:
                for kv in event.attributes:
                    if kv.key in errors.verdict_event_labels and self._failed_label(python_value(kv.value)):
                        return "verdict"
        return None

    def _failed_label(self, value: Value | None) -> bool:
        return isinstance(value, str) and value.lower() in self._failing
