"""The pipeline's last consumer: serialize once, then hand the bytes to every exporter's queue.

With the spool on, each request carries a ticket naming the spool records of its spans (per trace, from
the sampler's decided traces); once every exporter has finished with it, they are settled in the spool.
"""

from collections.abc import Callable

from failpath.consumer import Batch, Refused, Settled, Ticket
from failpath.exporters.queue import ExportQueue


class ExporterFanout:
    def __init__(self, queues: list[ExportQueue], on_settled: Callable[[list[Settled]], None] | None = None) -> None:
        self._queues = queues
        self._on_settled = on_settled

    async def consume(self, batch: Batch) -> None:
        if batch.spans == 0:
            return
        payload = batch.serialized()
        # All or nothing: a batch is accepted only if every exporter can take it.
        for queue in self._queues:
            if not queue.has_room(batch.spans, len(payload)):
                raise Refused("overloaded", f"exporter {queue.name!r} queue is full; retry later")
        ticket = batch.ticket = self._ticket(batch)
        for queue in self._queues:
            queue.put(payload, batch.spans, ticket)

    def _ticket(self, batch: Batch) -> Ticket | None:
        """Per decided trace its spool records; without a sampler, every span of the batch's records."""
        if self._on_settled is None:
            return None
        if batch.traces:
            entries = [(trace.trace_id, trace.lsns) for trace in batch.traces if trace.lsns]
        else:
            entries = [(b"", batch.lsns)] if batch.lsns else []
        return Ticket(len(self._queues), entries, self._on_settled) if entries else None
