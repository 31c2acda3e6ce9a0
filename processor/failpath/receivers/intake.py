"""What both receivers share: the intake (check span ids of a decoded request, hand it on, account for it),
and the context each is built with."""

import logging
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from failpath.consumer import Batch, Consumer, Refused
from failpath.metrics import Metrics
from failpath.otlp.span_ids import reject_invalid_spans
from failpath.receivers.auth import BearerCheck

log = logging.getLogger("failpath.receiver")


class Intake:
    def __init__(self, next_consumer: Consumer, metrics: Metrics) -> None:
        self._next = next_consumer
        self._metrics = metrics
        self.closed = False

    async def accept(
        self,
        request: ExportTraceServiceRequest | None,
        transport: str,
        body_bytes: int = 0,
        body: bytes | None = None,
        checked: int | None = None,
    ) -> ExportTraceServiceResponse:
        """Pass the request's valid spans on; raises Refused (nothing kept) if the pipeline cannot take them.
        body_bytes: the size of the (decompressed) body it came in; body: that body, when it was protobuf
        (handed on beside the request while no span was removed, so a stage working on bytes need not
        serialize the request again); checked: its span count when checked_spans() vouched for the body, which
        then is not parsed at all (request None: a stage that wants the message parses it)."""
        metrics = self._metrics
        if checked is not None and body is not None:
            accepted, rejected, message = checked, 0, ""
        else:
            assert request is not None, "a request, or a body checked_spans() vouched for"
            accepted, rejected, message = reject_invalid_spans(request)
        metrics.spans_received.labels(transport).inc(accepted + rejected)
        response = ExportTraceServiceResponse()
        if rejected:
            metrics.spans_refused.labels(transport, "invalid_id").inc(rejected)
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = message
            log.info("spans rejected", extra={"transport": transport, "rejected": rejected, "reason": message})
        if not accepted:
            return response
        if self.closed:
            metrics.spans_refused.labels(transport, "shutting_down").inc(accepted)
            raise Refused("shutting_down", "failpath is shutting down; retry against another instance or later")
        try:
            payload = body if not rejected else None
            await self._next.consume(Batch(request, accepted, payload, received_bytes=body_bytes))
        except Refused as refused:
            metrics.spans_refused.labels(transport, refused.reason).inc(accepted)
            raise
        metrics.spans_accepted.labels(transport).inc(accepted)
        return response


@dataclass(frozen=True, slots=True)
class SharedByReceivers:
    """What every receiver is built with besides its own config."""

    intake: Intake
    auth: BearerCheck
    # Seconds a refused client is told to wait (Retry-After / RetryInfo).
    retry_after: float
    metrics: Metrics
    # How many receivers share the process's connection budget (max_connections: auto).
    receivers: int = 1
