"""google.rpc.Status: the OTLP error body, and the RetryInfo detail that tells a client when to retry."""

from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

GRPC_STATUS_DETAILS_KEY = "grpc-status-details-bin"


def build_status(code: int, message: str, retry_after: float | None = None) -> status_pb2.Status:
    """code is a google.rpc.Code value (INVALID_ARGUMENT, UNAVAILABLE, ...)."""
    status = status_pb2.Status(code=code, message=message)
    if retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(retry_after * 1e9))
        status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return status


__all__ = ["GRPC_STATUS_DETAILS_KEY", "build_status", "code_pb2"]
