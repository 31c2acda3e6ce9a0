"""The seam between components: a batch, the decision on a trace, the consumer protocol, and the refusal that
means "retry later".

Every component receives a Batch and hands it to the next consumer; a stateful stage (the tail sampler)
hands traces on later, when it decides. The batch stays an upb ExportTraceServiceRequest end to end.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


@dataclass(frozen=True, slots=True)
class Decision:
    """What the tail sampler decided for a trace: every later step reads it, none changes it."""

    keep: bool
    policy: str
    # Adjusted count: how many traces a kept one stands for (1 for rule-based keeps).
    rate: float
    # OTel rejection threshold when the decision was probabilistic, else None (tracestate left alone).
    threshold: int | None
    trigger: str
    # The trace's first error signal (e.g. "status", "exception", "error.type"), or None for a healthy trace.
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DecidedTrace:
    """One whole trace inside a batch the tail sampler hands on: its decision, and where its spans are in
    the serialized batch (payload[offset:offset + size] is a request holding that trace alone)."""

    trace_id: bytes
    decision: Decision
    offset: int
    size: int
    late: bool = False
    # The spool records (LSNs) the trace's spans in this batch came from; empty without a spool.
    lsns: tuple[int, ...] = ()


# Spans handed on for good (delivered by every exporter, or dropped and counted there): (trace id, the spool
# records they came from); an empty trace id stands for every span of those records.
Settled = tuple[bytes, tuple[int, ...]]


class Batch:
    """Spans in flight between stages: a parsed request, or serialized bytes that are parsed only if a
    stage asks for the request (the tail sampler hands on kept traces as bytes; most go straight out), or
    both when they hold the same spans (a receiver's protobuf body beside the request parsed from it)."""

    __slots__ = ("_payload", "_request", "lsns", "received_bytes", "spans", "ticket", "traces")

    def __init__(
        self,
        request: ExportTraceServiceRequest | None,
        spans: int,
        payload: bytes | None = None,
        traces: "list[DecidedTrace] | None" = None,
        received_bytes: int = 0,
    ) -> None:
        if request is None and payload is None:
            raise ValueError("a batch holds a request, its serialized payload, or both")
        self._request = request
        self._payload = payload
        # Spans in the batch; kept beside it so no stage has to count again.
        self.spans = spans
        # Size of the body it was decoded from (0 when not from a receiver): asking upb costs µs per span.
        self.received_bytes = received_bytes
        # Set by the tail sampler (with a payload): the decided traces the batch is made of.
        self.traces = traces or []
        # Set by the spool: the record (LSN) the batch's spans came from. Decided traces carry their own.
        self.lsns: tuple[int, ...] = ()
        # Set by the exporter fan-out when the spool is on: finished by every party that takes the spans.
        self.ticket: Ticket | None = None

    @property
    def request(self) -> ExportTraceServiceRequest:
        """The parsed request; the caller may change it, so the serialized payload is no longer used."""
        if self._request is None:
            assert self._payload is not None
            self._request = ExportTraceServiceRequest.FromString(self._payload)
        self._payload = None
        return self._request

    @property
    def payload(self) -> bytes | None:
        """The serialized spans, when the batch holds them (beside the request or instead of it)."""
        return self._payload

    def replace(self, payload: bytes) -> None:
        """The batch's spans are now these bytes (a stage rewrote them serialized)."""
        self._payload = payload
        self._request = None

    def serialized(self) -> bytes:
        if self._payload is not None:
            return self._payload
        assert self._request is not None
        return self._request.SerializeToString()


class Ticket:
    """Spans handed to every exporter (and, for a failing run, to the packet writer): once each party has
    finished with them (delivered, or dropped and counted), their spool records are settled."""

    __slots__ = ("_on_settled", "entries", "oldest", "remaining")

    def __init__(self, parties: int, entries: list[Settled], on_settled: Callable[[list[Settled]], None]) -> None:
        self.remaining = parties
        self.entries = entries
        self.oldest = min(lsn for _, lsns in entries for lsn in lsns)
        self._on_settled = on_settled

    def hold(self) -> None:
        """One more party (a packet being written) must finish first."""
        self.remaining += 1

    def finish(self) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self._on_settled(self.entries)


class Refused(Exception):
    """The batch was not accepted and nothing of it was kept; the sender should retry after a pause.

    Receivers turn it into HTTP 503 + Retry-After / gRPC UNAVAILABLE + RetryInfo.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Consumer(Protocol):
    async def consume(self, batch: Batch) -> None:
        """Accept the batch (it now owns it) or raise Refused having kept none of it."""


class Holder(Protocol):
    def oldest_lsn(self) -> int | None:
        """The oldest spool record whose spans this component still holds, or None: the spool keeps every
        record from the oldest any holder names."""


class Component(Protocol):
    async def start(self) -> None: ...

    async def shutdown(self, deadline: float) -> None:
        """Stop and flush what is held, finishing before the event loop's time reaches deadline."""
