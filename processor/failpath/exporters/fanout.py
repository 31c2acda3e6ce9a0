"""The pipeline's last consumer: serialize once, then hand the bytes to every exporter's queue."""

from failpath.consumer import Batch, Refused
from failpath.exporters.queue import ExportQueue


class ExporterFanout:
    def __init__(self, queues: list[ExportQueue]) -> None:
        self._queues = queues

    async def consume(self, batch: Batch) -> None:
        if batch.spans == 0:
            return
        payload = batch.serialized()
        # All or nothing: a batch is accepted only if every exporter can take it.
        for queue in self._queues:
            if not queue.has_room(batch.spans, len(payload)):
                raise Refused("overloaded", f"exporter {queue.name!r} queue is full; retry later")
        for queue in self._queues:
            queue.put(payload, batch.spans)
