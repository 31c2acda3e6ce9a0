"""What every exporter's transport implements: send one serialized request, or say why not."""

from typing import Protocol


class SendError(Exception):
    """A failed send. retryable: the same payload may succeed later (backend down, throttled)."""

    def __init__(self, reason: str, message: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class Sender(Protocol):
    name: str

    async def start(self) -> None: ...

    async def send(self, payload: bytes, spans: int) -> int:
        """Deliver a serialized ExportTraceServiceRequest; return how many spans the backend rejected."""
        ...

    async def close(self) -> None: ...
