"""The packet stage, after tail sampling: for each kept trace that failed (or was kept by a listed policy,
e.g. an escalation) it normalises the spans, buckets the failure and writes a replay packet.

It runs after the next stage has accepted the batch, so a batch the exporters refuse (and the sampler
hands on again later) never gets two packets. Packets are built and written on one thread of their own
(~0.6 ms each), so the receivers' event loop never waits for them; past a backlog of 1,000 (a storm of
failures) further packets are skipped and counted. A write that fails for a cause that can clear up (disk
full, read-only, too many open files) is tried again a few times over several seconds. A packet that
cannot be built or written is counted by cause and logged (without values) and never holds up the spans.
"""

import asyncio
import errno
import logging
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path

from failpath.agents.config import AgentsConfig
from failpath.agents.normalize import Normalizer, Run
from failpath.config_types import Names
from failpath.consumer import Batch, Consumer, DecidedTrace, Ticket
from failpath.diagnosis.blame import Blame, Diagnosis
from failpath.metrics import Metrics, label_value
from failpath.otlp.timestamps import iso_time
from failpath.packets.builder import PacketBuilder
from failpath.packets.config import PacketsConfig
from failpath.packets.packet import Packet
from failpath.signals.errors import ErrorSignalsConfig
from failpath.store.packets import PacketStore, PacketWriteError
from failpath.store.write_errors import cause_of

log = logging.getLogger("failpath.packets")
# Workflows get their own label value up to this many; the rest are counted as "_other".
_MAX_WORKFLOW_LABELS = 200
_PRUNE_EVERY = 500
# Failing traces waiting for their packet; beyond this, packets are skipped (counted, logged once a minute).
_MAX_BACKLOG = 1000
# Pauses between attempts to write a packet whose write failed for a cause that can clear up.
_WRITE_RETRY_DELAYS = (0.25, 1.0, 4.0)


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "(unknown)"


class PacketMaker:
    """Spans of one trace -> the packet (a dict) and its JSON within the size cap."""

    def __init__(
        self, config: PacketsConfig, agents: AgentsConfig, errors: ErrorSignalsConfig, workflow_key: Names
    ) -> None:
        # The sampler's own error signals and workflow key: what made it keep a trace makes a packet.
        self._normalizer = Normalizer(agents, errors, workflow_key)
        self._blame = Blame(config.buckets, agents.signals)
        self._builder = PacketBuilder(config.max_bytes, config.max_text_chars)
        self._policies = frozenset(config.policies)

    def make(self, trace: bytes, decided: DecidedTrace) -> Packet | None:
        """The packet of a trace's spans (a serialized request), or None for a run the sampler kept for an
        error that was recovered (and no policy asks for a packet anyway)."""
        run = self._normalizer.read(trace)
        verdict = self._blame.diagnose(run)
        if not verdict.failed and decided.decision.policy not in self._policies:
            return None
        return self._builder.build(run, verdict, decided, next_action(run, verdict))

    def encode(self, packet: Packet) -> bytes:
        return self._builder.fit(packet)


def next_action(run: Run, verdict: Diagnosis) -> str:
    """The bucket rule's next action, naming the step, tool, model and retriever involved."""
    if not verdict.failed:
        return "Nothing failed for good (every failure was recovered); the run was kept by policy."
    if verdict.rule is None:
        return "Open the failing span and its parents; no bucket rule had evidence, consider adding one."
    failing = verdict.failing
    models = [s.response_model or s.request_model for s in run.steps if s.response_model or s.request_model]
    tools = [s.tool for s in run.steps if s.role == "tool" and s.tool and s.span_id in verdict.path]
    names = _Missing(
        step=failing.name if failing else "(none)",
        label=failing.label if failing else "(none)",
        tool=(tools[-1] if tools else None) or (failing.tool if failing else None) or "(unknown)",
        model=models[-1] or "(unknown)" if models else "(unknown)",
        retriever=next((s.name for s in run.steps if s.role == "retriever"), "(none)"),
    )
    return verdict.rule.next_action.format_map(names)


class PacketStage:
    def __init__(
        self,
        config: PacketsConfig,
        maker: PacketMaker,
        store_path: Path,
        folder: Path,
        next_consumer: Consumer,
        metrics: Metrics,
    ) -> None:
        self._config = config
        self._maker = maker
        self._store_path = store_path
        self._folder = folder
        self._next = next_consumer
        self._metrics = metrics
        self._policies = frozenset(config.policies)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="packets")
        self._store: PacketStore | None = None
        # Only touched on the event loop's thread.
        # Packets being made, with the oldest spool record of their trace's spans.
        self._pending: list[tuple[Future[None], int | None]] = []
        self._warned_at = float("-inf")
        self._workflows: set[str] = set()
        self._written = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._store = await loop.run_in_executor(self._executor, PacketStore, self._store_path, self._folder)
        await loop.run_in_executor(self._executor, self._prune)

    async def shutdown(self, deadline: float) -> None:
        remaining = max(0.0, deadline - asyncio.get_running_loop().time())
        pending = [asyncio.wrap_future(future) for future, _ in self._pending if not future.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=remaining)
            if late:
                log.warning("packets not written before the shutdown deadline", extra={"packets": len(late)})
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._store is not None:
            self._store.close()

    async def consume(self, batch: Batch) -> None:
        await self._next.consume(batch)
        wanted = [trace for trace in batch.traces if self._wants(trace)]
        if not wanted:
            return
        payload = batch.serialized()
        loop = asyncio.get_running_loop()
        self._pending = [(future, lsn) for future, lsn in self._pending if not future.done()]
        for decided in wanted:
            if len(self._pending) >= _MAX_BACKLOG:
                self._metrics.packets_failed.labels("backlog", "backlog_full").inc()
                now = asyncio.get_running_loop().time()
                if now - self._warned_at > 60:
                    self._warned_at = now
                    log.warning("replay packets are falling behind; skipping some", extra={"backlog": _MAX_BACKLOG})
                continue
            trace = payload[decided.offset : decided.offset + decided.size]
            future = self._executor.submit(self._make_and_write, trace, decided)
            self._pending.append((future, min(decided.lsns, default=None)))
            if batch.ticket is not None:
                # The spool settles these spans only once the packet is written too: a replay makes it again.
                batch.ticket.hold()
                future.add_done_callback(partial(_finish_on, loop, batch.ticket))

    def oldest_lsn(self) -> int | None:
        """The oldest spool record of a trace whose packet is not written yet: after a crash it is replayed."""
        return min((lsn for future, lsn in self._pending if lsn is not None and not future.done()), default=None)

    def _wants(self, decided: DecidedTrace) -> bool:
        decision = decided.decision
        return not decided.late and decision.keep and (decision.error is not None or decision.policy in self._policies)

    def _make_and_write(self, trace: bytes, decided: DecidedTrace) -> None:
        """On the packet thread: build the packet, link earlier attempts of the run, fit the size cap,
        write, count."""
        assert self._store is not None
        try:
            packet = self._maker.make(trace, decided)
        except Exception:
            log.exception("cannot build a replay packet", extra={"trace_id": decided.trace_id.hex()})
            self._metrics.packets_failed.labels("build", "error").inc()
            return
        if packet is None:
            self._metrics.runs_recovered.inc()
            return
        if not self._write(packet):
            return
        bucket, workflow = packet["failure_bucket"], label_value(packet["workflow"])
        if workflow not in self._workflows and len(self._workflows) >= _MAX_WORKFLOW_LABELS:
            workflow = "_other"
        self._workflows.add(workflow)
        self._metrics.packets_written.labels(bucket).inc()
        if packet["decision"]["error_signal"] is not None:
            self._metrics.failures.labels(bucket, workflow).inc()
        self._written += 1
        if self._written % _PRUNE_EVERY == 0:
            self._prune()

    def _write(self, packet: Packet) -> bool:
        """Write with bounded retries; False (counted and logged by cause) if the packet is lost."""
        assert self._store is not None
        trace_id = packet["trace_id"]
        for attempt, delay in enumerate((*_WRITE_RETRY_DELAYS, None), start=1):
            try:
                run_id = packet["run"]["run_id"]
                if run_id:
                    attempts, more = self._store.attempts(run_id, trace_id)
                    packet["related_attempts"] = [
                        {"trace_id": p.trace_id, "started_at": iso_time(p.started_ns), "failure_bucket": p.bucket}
                        for p in attempts
                    ]
                    if more and "related_attempts" not in packet["trimmed"]:
                        packet["trimmed"].append("related_attempts")
                self._store.write(packet, self._maker.encode(packet))
                return True
            except PacketWriteError as failure:
                cause, target, error = cause_of(failure.error), failure.target, failure.error
            except sqlite3.Error as error_:  # the index lookup of earlier attempts
                cause, target, error = cause_of(error_), "index", error_
            except Exception:
                log.exception("cannot write a replay packet", extra={"trace_id": trace_id})
                self._metrics.packets_failed.labels("write", "error").inc()
                return False
            code = getattr(error, "errno", None) or getattr(error, "sqlite_errorname", None)
            details = {"trace_id": trace_id, "target": target, "cause": cause.label, "attempt": attempt}
            details["error"] = errno.errorcode.get(code, str(code)) if isinstance(code, int) else code
            if not cause.retryable or delay is None:
                log.error("replay packet lost: cannot write it", extra=details)
                self._metrics.packets_failed.labels("write", cause.label).inc()
                return False
            log.warning("cannot write a replay packet, will retry", extra={**details, "retry_in_s": delay})
            time.sleep(delay)
        return False

    def _prune(self) -> None:
        assert self._store is not None
        retention = self._config.retention
        try:
            pruned = self._store.prune(retention.max_age, retention.max_packets)
        except (OSError, sqlite3.Error) as error:
            log.warning("packet retention not applied", extra={"cause": cause_of(error).label})
            return
        if pruned:
            self._metrics.packets_pruned.inc(pruned)


def _finish_on(loop: asyncio.AbstractEventLoop, ticket: Ticket, _: Future[None]) -> None:
    """From the packet thread: finish the ticket on the event loop's thread, where tickets live."""
    loop.call_soon_threadsafe(ticket.finish)
