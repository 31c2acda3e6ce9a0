"""A tree of agent steps written out as spans, one after another on a shared clock (children inside their
parent): what both labelled trace generators (agent_dialects, diagnosis_corpus) do with their steps."""

import random
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from failpath.otlp.values import key_value

Events = list[tuple[str, dict[str, object]]]


class StepLike(Protocol):
    @property
    def children(self) -> Sequence["StepLike"]: ...

    @property
    def duration_ms(self) -> int: ...


StepT = TypeVar("StepT", bound=StepLike)
# A step as a span: its name, attributes, events, and the status message if it failed.
Describe = Callable[[StepT], tuple[str, dict[str, object], Events, str | None]]


def add_step_spans(
    spans: list[Span],
    trace_id: bytes,
    rng: random.Random,
    steps: Sequence[StepT],
    parent: bytes,
    clock: int,
    describe: Describe[StepT],
) -> int:
    """Append a span per step (depth first, each 1 ms after the last and lasting its duration_ms plus its
    children); returns the clock after the last one."""

    def add(step: StepT, parent_id: bytes) -> None:
        nonlocal clock
        name, attributes, events, error = describe(step)
        span = Span(trace_id=trace_id, span_id=rng.randbytes(8), parent_span_id=parent_id, name=name)
        span.start_time_unix_nano = clock
        span.attributes.extend(key_value(key, value) for key, value in attributes.items())
        clock += 1_000_000
        for child in step.children:
            add(child, span.span_id)  # type: ignore[arg-type]  # children are steps of the same kind
        clock += step.duration_ms * 1_000_000
        span.end_time_unix_nano = clock
        for event_name, event_attributes in events:
            event = span.events.add(name=event_name, time_unix_nano=clock)
            event.attributes.extend(key_value(key, value) for key, value in event_attributes.items())
        if error is not None:
            span.status.code = Status.STATUS_CODE_ERROR
            span.status.message = error
        spans.append(span)
        clock += 1_000_000

    for step in steps:
        add(step, parent)
    return clock
