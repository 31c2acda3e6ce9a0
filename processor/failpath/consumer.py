"""The seam between components: a batch, the consumer protocol, and the refusal that means "retry later".

Every component receives a Batch and hands it to the next consumer; a stateful stage (the tail sampler)
hands traces on later, when it decides. The batch stays an upb ExportTraceServiceRequest end to end.
"""

from dataclasses import dataclass
from typing import Protocol

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


@dataclass(slots=True)
class Batch:
    request: ExportTraceServiceRequest
    # Spans in request; kept beside it so no stage has to count again.
    spans: int


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


class Component(Protocol):
    async def start(self) -> None: ...

    async def shutdown(self, deadline: float) -> None:
        """Stop and flush what is held, finishing before the event loop's time reaches deadline."""
