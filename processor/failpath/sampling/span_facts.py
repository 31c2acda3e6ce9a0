"""What the sampler needs to know about each span, read once as it arrives: error signals, the condition
leaves it passes, and (for a root span) the workflow it belongs to.

The hot path reads few fields: the span's serialized bytes are searched for the needles of every watched
key or value first (a C-speed substring test), and the attributes are walked only when one is there.
"""

from collections.abc import Sequence
from typing import Any

from failpath.sampling.conditions import Leaf, Value
from failpath.sampling.config import ErrorSignals

_STATUS_ERROR = 2
_EVALUATOR_KIND = "openinference.span.kind"


def plain(value: Any) -> Value | None:
    """An AnyValue as a Python scalar, or a tuple for an array; None for maps, bytes and unset values."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return str(value.string_value)
    if kind in ("int_value", "double_value", "bool_value"):
        result: Value = getattr(value, kind)
        return result
    if kind == "array_value":
        return tuple(item for item in map(plain, value.array_value.values) if item is not None)
    return None


def _minimal(needles: set[bytes]) -> tuple[bytes, ...]:
    """Drop needles that contain a shorter one: finding the shorter one is enough to look closer."""
    ordered = sorted(needles, key=len)
    kept: list[bytes] = []
    for needle in ordered:
        if not any(shorter in needle for shorter in kept):
            kept.append(needle)
    return tuple(kept)


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
        error_keys = [*errors.present_keys, *errors.nonzero_keys, *errors.false_keys]
        if errors.evaluator_labels:
            error_keys += [_EVALUATOR_KIND, *errors.evaluator_labels]
        self._watched = frozenset([*self._by_key, *error_keys, *workflow_key, *root_keys])
        # Root spans are always walked (for the workflow); other spans only when a needle is present.
        needles = {key.encode() for key in (*errors.present_keys, *errors.nonzero_keys, *errors.false_keys)}
        if errors.evaluator_labels:
            needles.add(b"EVALUATOR")
        for leaf in leaves:
            if leaf.attribute is not None and not leaf.root_only:
                needles.update(leaf.needles)
        self._needles = _minimal(needles)
        self._event_names = frozenset([*errors.exception_events, *errors.verdict_events])
        self._event_needles = _minimal({name.encode() for name in self._event_names})

    def resource(self, attributes: Any) -> tuple[int, dict[str, Value]]:
        """Leaf bits a resource's attributes set for every span under it (root spans re-test them), and its
        watched values."""
        found = self._watched_values(attributes)
        return self._leaf_bits(found, root=False, name=None), found

    def inspect(
        self, span: Any, blob: bytes, root: bool, resource_values: dict[str, Value]
    ) -> tuple[int, str | None, dict[str, Value] | None]:
        """(leaf bits, error reason or None, watched attribute values if the span was walked)."""
        error: str | None = None
        if self._errors.status and span.status.code == _STATUS_ERROR:
            error = "status"
        found: dict[str, Value] | None = None
        if root or any(needle in blob for needle in self._needles):
            found = self._watched_values(span.attributes)
            if error is None:
                error = self._attribute_error(found)
        if self._event_needles and any(needle in blob for needle in self._event_needles):
            event_error = self._event_error(span.events)
            error = error or event_error
        bits = 0
        if found is not None or self._name_leaves:
            values = {**resource_values, **found} if found else resource_values
            bits = self._leaf_bits(values, root, span.name if self._name_leaves else None)
        return bits, error, found

    def workflow(self, name: str, found: dict[str, Value] | None, resource_values: dict[str, Value]) -> str:
        for key in self._workflow_key:
            for values in (found or {}, resource_values):
                value = values.get(key)
                if isinstance(value, str) and value:
                    return value
        return name

    def _watched_values(self, attributes: Any) -> dict[str, Value]:
        watched = self._watched
        found: dict[str, Value] = {}
        for kv in attributes:
            key = kv.key
            if key in watched:
                value = plain(kv.value)
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
        errors = self._errors
        for key in errors.present_keys:
            if found.get(key) not in (None, ""):
                return key
        for key in errors.nonzero_keys:
            value = found.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value != 0:
                return key
        for key in errors.false_keys:
            value = found.get(key)
            if value is False or (isinstance(value, str) and value.lower() == "false"):
                return key
        if found.get(_EVALUATOR_KIND) == "EVALUATOR":
            for key in errors.evaluator_labels:
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
                    if kv.key in errors.verdict_event_labels and self._failed_label(plain(kv.value)):
                        return "verdict"
        return None

    def _failed_label(self, value: Value | None) -> bool:
        return isinstance(value, str) and value.lower() in self._failing
