"""Diagnosing traces outside the service the way the service does: redacted with the config's redaction,
read with its signals and mappings, blamed with its bucket rules (`failpath diagnose`)."""

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.agents.normalize import Normalizer
from failpath.config import Config
from failpath.diagnosis.blame import Blame
from failpath.diagnosis.report import verdict_data
from failpath.redaction.stage import build_redactor


class OfflineDiagnosis:
    def __init__(self, config: Config) -> None:
        self._redactor = build_redactor(config.redaction) if config.redaction.enabled else None
        self._normalizer = Normalizer(config.agents, config.sampling.errors, config.sampling.workflow_key)
        self._blame = Blame(config.packets.buckets, config.agents.signals)

    def diagnose(self, trace: ExportTraceServiceRequest) -> dict[str, Any]:
        """The verdict on one trace (the request is redacted in place first)."""
        if self._redactor is not None:
            self._redactor.redact(trace)
        run = self._normalizer.run(trace)
        return verdict_data(run, self._blame.diagnose(run))
