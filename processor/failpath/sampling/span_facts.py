"""What the sampler needs to know about each span, read once as it arrives: error signals, the condition
leaves it passes, and (for a root span) the workflow it belongs to.

The span reader hands over the values of watched keys only, read in the same native pass as the span's
other facts (sampling/span_reading.py); the rest is decided from those few values.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from failpath.otlp.values import Value, encoded, python_value
from failpath.sampling.conditions import Leaf
from failpath.sampling.span_reading import Watching, watched_values
from failpath.signals.errors import ErrorReader
from failpath.signals.workflow import workflow_name

# Quiet values remembered per key, and values per key found not quiet (or not encodable) before learning
# stops for that key: an error value or an id does not cost a try at every span. (So at most 96 values of
# a key are ever judged.)
_QUIET_VALUES = 32
_TRIES = 64


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
        span_keys = sorted({*self._by_key, *self._errors.watched_keys})
        # The keys whose values the span reader hands over with each span (sampling/span_reading.py), and
        # (learned as spans arrive) their values that tell nothing on a span that is not a root.
        self.watching = Watching(
            (*span_keys, *sorted(self._watched.difference(span_keys))), len(span_keys), (), bool(self._name_leaves)
        )
        self._index = {key: k for k, key in enumerate(span_keys)}
        self._tries = [_TRIES] * len(span_keys)
        self._judged: list[set[str]] = [set() for _ in span_keys]
        self._event_names = self._errors.event_names

    def resource(self, attributes: Any) -> tuple[int, dict[str, Value]]:
        """Leaf bits a resource's attributes set for every span under it (root spans re-test them), and its
        watched values."""
        found = watched_values(attributes, self._watched)
        return self._leaf_bits(found, root=False, name=None), found

    def inspect(
        self,
        blob: bytes,
        root: bool,
        code: int,
        name: str,
        has_events: bool,
        resource_values: dict[str, Value],
        found: dict[str, Value] | None,
    ) -> tuple[int, str | None, dict[str, Value]]:
        """(leaf bits, error reason or None, the span's watched attribute values) of a span given as its bytes
        and the facts read beside them (found: its watched values, None if the reader could not read them);
        events are parsed only for spans that have some, and only when an event can be an error signal."""
        span = None  # parsed at most once, and only where the reader declined the watched values
        if found is None:
            span = Span.FromString(blob)
            found = watched_values(span.attributes, self._watched)
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
        # (no leaf on any attribute: the values cannot set a bit, so they are not even merged)
        if (found and self._by_key) or self._name_leaves:
            values = {**resource_values, **found} if found and resource_values else found or resource_values
            bits = self._leaf_bits(values, root, name if self._name_leaves else None)
        return bits, error, found

    def learn(self, found: dict[str, Value]) -> None:
        """Remember which of the watched values of a span that is not a root tell nothing, whatever else a
        span carries (no error signal, no condition on any span passes): the span reader then leaves spans
        with only such values out of the rows the sampler looks at. Tried on the values of spans that were
        looked at for their values alone, a bounded number of times per key."""
        if self.watching.every_span:
            return  # every span is looked at anyway
        quiet, learned = list(self.watching.quiet) or [()] * self.watching.span_keys, False
        for key, value in found.items():
            k = self._index.get(key)
            if k is None or self._tries[k] <= 0 or len(quiet[k]) >= _QUIET_VALUES:
                continue
            # each value is judged once (a quiet one beside a telling one comes back with every such span)
            judged, text = self._judged[k], repr(value)
            if text in judged:
                continue
            judged.add(text)
            written = encoded(value)
            if written is None or not self._quiet_value(key, value):
                self._tries[k] -= 1
                continue
            quiet[k] = (*quiet[k], written)
            learned = True
        if learned:
            self.watching = dataclasses.replace(self.watching, quiet=tuple(quiet))

    def _quiet_value(self, key: str, value: Value) -> bool:
        """Leaves test one attribute each, and resource values are tested apart: a value that passes no
        leaf of a span that is not a root sets no bit with any others."""
        if not self._errors.quiet(key, value):
            return False
        return not any(not leaf.root_only and leaf.test(value) for leaf in self._by_key.get(key, ()))

    def workflow(self, name: str, found: dict[str, Value], resource_values: dict[str, Value]) -> str:
        return workflow_name(self._workflow_key, (found, resource_values), name)

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
