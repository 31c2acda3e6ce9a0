"""Builds the chain from the config and owns its start and shutdown order.

    receivers (gRPC, HTTP) -> Intake -> [stages] -> ExporterFanout -> ExportQueue per exporter -> Sender

Stages (redaction, the spool, tail sampling, packets, in that order) are consumers that slot in between the intake
and the fan-out; the receivers and exporters never change for them. Start: exporters first, receivers
last. Shutdown: receivers first (stop accepting), then stages flush, then exporter queues drain.
"""

import asyncio
import logging
import time

from failpath.admin import AdminServer
from failpath.config import Config
from failpath.consumer import Component, Consumer, Holder
from failpath.dashboard.server import DashboardServer
from failpath.dashboard.traffic import traffic
from failpath.exporters.fanout import ExporterFanout
from failpath.exporters.jsonl import JsonlSender
from failpath.exporters.otlp_grpc import OtlpGrpcSender
from failpath.exporters.otlp_http import OtlpHttpSender
from failpath.exporters.queue import ExportQueue
from failpath.exporters.store import StoreSender
from failpath.metrics import Metrics
from failpath.packets.stage import PacketMaker, PacketStage
from failpath.receivers.auth import BearerCheck
from failpath.receivers.intake import Intake, SharedByReceivers
from failpath.receivers.otlp_grpc import OtlpGrpcReceiver
from failpath.receivers.otlp_http import OtlpHttpReceiver
from failpath.redaction.stage import RedactionStage
from failpath.sampling.stage import TailSamplingStage
from failpath.spool.stage import SpoolStage
from failpath.spool.write_ahead import Spool
from failpath.store.private_files import private_dir

log = logging.getLogger("failpath")


def _export_queues(config: Config, metrics: Metrics) -> list[ExportQueue]:
    exporters = config.exporters
    queues = []
    for otlp in exporters.otlp:
        sender = OtlpGrpcSender(otlp) if otlp.protocol == "grpc" else OtlpHttpSender(otlp)
        queues.append(ExportQueue(sender, otlp.queue, otlp.retry, metrics))
    if exporters.store.enabled:
        store = StoreSender(config.data_path(exporters.store.path), exporters.store.retention, metrics)
        queues.append(ExportQueue(store, exporters.store.queue, exporters.store.retry, metrics))
    if exporters.jsonl.enabled:
        jsonl = JsonlSender(config.data_path(exporters.jsonl.path))
        queues.append(ExportQueue(jsonl, exporters.jsonl.queue, None, metrics))
    return queues


class Pipeline:
    def __init__(self, config: Config, metrics: Metrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or Metrics()
        self._queues = _export_queues(config, self.metrics)
        spool = Spool(config.data_path(config.spool.path), config.spool, self.metrics) if config.spool.enabled else None
        # Stages, built back to front: each hands its output to the next. Order: redaction, spool, sampling,
        # packets. Whatever holds spans the spool has written tells it the oldest it still needs.
        head: Consumer = ExporterFanout(self._queues, spool.settle if spool else None)
        holders: list[Holder] = list(self._queues)
        self._stages: list[Component] = []
        if config.sampling.enabled and config.packets.enabled:
            maker = PacketMaker(config.packets, config.agents, config.sampling.errors, config.sampling.workflow_key)
            packets = PacketStage(
                config.packets,
                maker,
                *config.packet_paths(),
                head,
                self.metrics,
            )
            self._stages.insert(0, packets)
            holders.append(packets)
            head = packets
        if config.sampling.enabled:
            sampling = TailSamplingStage(config.sampling, head, self.metrics, facts=config.agents.signals)
            self._stages.insert(0, sampling)
            holders.append(sampling)
            head = sampling
        self._spool: SpoolStage | None = None
        if spool is not None:
            for holder in holders:
                spool.add_holder(holder.oldest_lsn)
            self._spool = SpoolStage(spool, head, self.metrics)
            self._stages.insert(0, self._spool)
            head = self._spool
        if config.redaction.enabled:
            redaction = RedactionStage(config.redaction, head, self.metrics)
            self._stages.insert(0, redaction)
            head = redaction
        self._intake = Intake(head, self.metrics)
        otlp = config.receivers.otlp
        auth = BearerCheck(otlp.auth)
        # The receivers share the process's connection budget (max_connections: auto).
        receivers = int(otlp.grpc.enabled) + int(otlp.http.enabled)
        shared = SharedByReceivers(self._intake, auth, otlp.retry_after, self.metrics, receivers)
        self.grpc = OtlpGrpcReceiver(otlp.grpc, shared) if otlp.grpc.enabled else None
        self.http = OtlpHttpReceiver(otlp.http, shared) if otlp.http.enabled else None
        self.admin = AdminServer(config.admin, self.metrics, self.not_ready) if config.admin.enabled else None
        started = time.monotonic()
        self.dashboard = (
            DashboardServer(
                config.dashboard,
                *config.packet_paths(),
                config.packets.buckets,
                lambda: traffic(self.metrics, started),
            )
            if config.dashboard.enabled
            else None
        )
        self._receivers: list[Component] = [receiver for receiver in (self.grpc, self.http) if receiver]
        self._listening = False

    def not_ready(self) -> list[str]:
        problems = [] if self._listening else ["receivers are not listening"]
        for queue in self._queues:
            problems.extend(queue.problems())
        if self._spool is not None:
            problems.extend(self._spool.spool.problems())
        return problems

    async def start(self) -> None:
        private_dir(self.config.data_path("."))
        for queue in self._queues:
            await queue.start()
        for stage in reversed(self._stages):
            await stage.start()
        if self.admin:
            await self.admin.start()
        if self.dashboard:
            await self.dashboard.start()
        for receiver in self._receivers:
            await receiver.start()
        self._listening = True

    async def shutdown(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.service.shutdown_timeout
        log.info("shutting down", extra={"timeout_s": self.config.service.shutdown_timeout})
        self._listening = False
        self._intake.closed = True
        for receiver in self._receivers:
            await receiver.shutdown(deadline)
        for stage in self._stages:
            await stage.shutdown(deadline)
        await asyncio.gather(*(queue.shutdown(deadline) for queue in self._queues))
        if self._spool is not None:
            await self._spool.close()
        if self.dashboard:
            await self.dashboard.shutdown(deadline)
        if self.admin:
            await self.admin.shutdown(deadline)
        log.info("stopped")
