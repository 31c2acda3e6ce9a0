"""What every exporter's transport implements: send one serialized request, or say why not."""

import logging
from typing import Protocol

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

log = logging.getLogger("failpath.exporter")


class SendError(Exception):
    """A failed send. retryable: the same payload may succeed later (backend down, throttled, disk full).
    condition: set when the cause needs an operator (disk full, read-only filesystem): /readyz reports it
    while the exporter keeps retrying."""

    def __init__(
        self,
        reason: str,
        message: str,
        retryable: bool,
        retry_after: float | None = None,
        condition: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.condition = condition


class Sender(Protocol):
    name: str

    async def start(self) -> None: ...

    async def send(self, payload: bytes, spans: int) -> int:
        """Deliver a serialized ExportTraceServiceRequest; return how many spans the backend rejected."""
        ...

    async def close(self) -> None: ...


def rejected_spans(body: bytes, exporter: str) -> int:
    """Spans a 200 answer says were rejected. The backend took the batch; an unreadable body cannot undo
    that (a retry would duplicate it), so it counts as no rejections, with a warning."""
    try:
        return int(ExportTraceServiceResponse.FromString(body).partial_success.rejected_spans)
    except DecodeError:
        log.warning("backend accepted a batch with an unreadable response body", extra={"exporter": exporter})
        return 0
