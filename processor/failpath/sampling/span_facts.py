"""What the sampler needs to know about each span, read once as it arrives: error signals, the condition
leaves it passes, and (for a root span) the workflow it belongs to.

One pass over the span's attributes keeps the values of watched keys only (measured: cheaper than first
searching the serialized span for the keys, which costs ~0.2 µs per key per span); the rest is decided
from those few values.
"""

from collections.abc import Sequence
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from failpath.otlp.native import watched_attributes
from failpath.otlp.values import Value, python_value
from failpath.sampling.conditions import Leaf
from failpath.signals.errors import ErrorReader
from failpath.signals.workflow import workflow_name


class SpanInspector:
    def __init__(
        self, leaves: list[Leaf], errors: ErrorReader, workflow_key: Sequence[str], root_keys: Sequence[str]
    ) -> None:
        """root_keys: more attributes read from root spans (sampling keys)."""
        self._errors = errors
        self._workflow_key = workflow_key
        self._name_leaves = [leaf for leaf in leaves if leaf.attribute is None]
        self._by_key: dict[str, list[Leaf]] = {}
        for leaf in leaves:
            if leaf.attribute is not None:
                self._by_key.setdefault(leaf.attribute, []).append(leaf)
        self._watched = frozenset([*self._by_key, *self._errors.watched_keys, *workflow_key, *root_keys])
        self._watched_keys = tuple(sorted(self._watched))
        self._watched_bytes = tuple(key.encode() for key in self._watched_keys)
        self._event_names = self._errors.event_names

    def resource(self, attributes: Any) -> tuple[int, dict[str, Value]]:
        """Leaf bits a resource's attributes set for every span under it (root spans re-test them), and its
        watched values."""
        found = self._watched_values(attributes)
        return self._leaf_bits(found, root=False, name=None), found

    def inspect(
        self, blob: bytes, root: bool, code: int, name: str, has_events: bool, resource_values: dict[str, Value]
    ) -> tuple[int, str | None, dict[str, Value]]:
        """(leaf bits, error reason or None, the span's watched attribute values) of a span given as its bytes
        and the facts read beside them: the native reader finds the watched attributes in the bytes; events
        are parsed only for spans that have some, and only when an event can be an error signal."""
        found = self._watched_in(blob) if watched_attributes is not None else None
        span = None  # parsed at most once, and only where the native reader is not there or declines
        if found is None:
            span = Span.FromString(blob)
            found = self._watched_values(span.attributes)
        errors = self._errors
        error: str | None = None
        if errors.status_failed(code):
            error = "status"
        elif found:
            error = next(iter(errors.attribute_reasons(found)), None)
        if error is None and has_events and self._event_names:
            span = span if span is not None else Span.FromString(blob)
            events = ((event.name, _pairs(event.attributes)) for event in span.events)
            error = next((reason for reason, _ in errors.event_reasons(events)), None)
        bits = 0
        if found or self._name_leaves:
            values = {**resource_values, **found} if found and resource_values else found or resource_values
            bits = self._leaf_bits(values, root, name if self._name_leaves else None)
        return bits, error, found

    def workflow(self, name: str, found: dict[str, Value], resource_values: dict[str, Value]) -> str:
        return workflow_name(self._workflow_key, (found, resource_values), name)

    def _watched_in(self, blob: bytes) -> dict[str, Value] | None:
        """The watched attributes read from the span's bytes (the native reader), or None if it cannot."""
        assert watched_attributes is not None
        pairs = watched_attributes(blob, self._watched_bytes)
        if pairs is None:
            return None
        found: dict[str, Value] = {}
        keys = self._watched_keys
        for index, raw in pairs:
            value = python_value(AnyValue.FromString(raw))
            if value is not None:
                found[keys[index]] = value
        return found

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


def _pairs(attributes: Any) -> Any:
    return ((kv.key, python_value(kv.value)) for kv in attributes)
