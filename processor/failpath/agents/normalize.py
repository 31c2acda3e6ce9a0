"""One trace's spans read into agent steps, each with the facts diagnosis reasons about, in the vocabulary of
every dialect (current and deprecated GenAI names, OpenInference, OpenLLMetry, plain attributes, failpath's
own `agent.*` names, and your `agents.signals` mappings). Runs on kept traces only, after redaction.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from failpath.agents.config import AgentsConfig, Role
from failpath.agents.roles import RoleReader
from failpath.agents.step_facts import StepFacts, attributes_of
from failpath.config_types import Names
from failpath.otlp.native import attribute_dict, request_facts, span_record
from failpath.signals.errors import ErrorReader, ErrorSignalsConfig
from failpath.signals.vocabulary import FactReader
from failpath.signals.workflow import workflow_name


@dataclass
class Step:
    """One span, normalised."""

    span_id: str
    parent_id: str | None
    name: str
    role: Role
    start_ns: int
    end_ns: int
    attributes: dict[str, object]
    events: list[tuple[str, dict[str, object]]]
    status_error: bool = False
    status_message: str = ""
    # Every reason the span counts as failed (status, error attributes, exceptions, failing verdicts).
    errors: list[str] = field(default_factory=list)
    facts: StepFacts = field(default_factory=StepFacts)

    @property
    def duration_ms(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e6

    @property
    def label(self) -> str:
        """planner, retriever, tool:pytest, model:gpt-4.1 ..."""
        if self.role == "tool" and self.tool:
            return f"tool:{self.tool}"
        return self.role

    def error(self) -> str | None:
        """Why this span counts as failed, or None."""
        return "; ".join(self.errors) or None

    # The facts most readers want, by name.
    @property
    def tool(self) -> str | None:
        return self.facts.tool

    @property
    def request_model(self) -> str | None:
        return self.facts.request_model

    @property
    def response_model(self) -> str | None:
        return self.facts.response_model

    @property
    def document_count(self) -> int | None:
        return self.facts.document_count

    @property
    def verifier_passed(self) -> bool | None:
        return self.facts.verdict_passed


_BRIEF_CHARS = 200


def brief(message: str) -> str:
    """An error message as evidence: its first line, without the traceback some frameworks append (a
    repr()'d exception's lines are joined by an escaped newline)."""
    first = message.split("Traceback (most recent call last)", 1)[0].strip().split("\n", 1)[0]
    first = first.split("\\n", 1)[0].strip()
    return first if len(first) <= _BRIEF_CHARS else first[: _BRIEF_CHARS - 1] + "…"


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who ran what: the run's id, attempt, actor and task, from its root span (actor, attempt and service
    also from the resource)."""

    run_id: str | None
    attempt: int | None
    actor: str | None
    service: str | None
    task: str | None


# A span as the normalizer reads it: trace id, span id, parent span id, name, start and end (ns), status code and
# message, attributes and events ((name, attributes) each) as Python values (otlp/values.py).
SpanRecord = tuple[bytes, bytes, bytes, str, int, int, int, str, dict[str, object], list[tuple[str, dict[str, object]]]]


def record_of(span: Any) -> SpanRecord:
    """A parsed span's record (the reference for otlp/_spans.c's span_record)."""
    return (
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.name,
        span.start_time_unix_nano,
        span.end_time_unix_nano,
        span.status.code,
        span.status.message,
        attributes_of(span.attributes),
        [(event.name, attributes_of(event.attributes)) for event in span.events],
    )


def native_records(data: bytes) -> list[tuple[dict[str, object], SpanRecord]] | None:
    """Each span's record with its resource's attributes, read by the extension; None where it is not built
    or declines (an encoding upb could read otherwise): then parse the request."""
    if request_facts is None or span_record is None or attribute_dict is None:
        return None
    rows = request_facts(data, ())
    if rows is None:
        return None
    resources, scopes, spans = rows
    attributes: list[dict[str, object]] = []
    for resource, _ in resources:
        read = attribute_dict(resource, 1)  # Resource.attributes
        if read is None:
            return None
        attributes.append(read)
    records = []
    for row in spans:
        record = span_record(row[1])
        if record is None:
            return None
        records.append((attributes[scopes[row[0]][0]], cast(SpanRecord, record)))
    return records


@dataclass
class Run:
    trace_id: str
    steps: list[Step]
    root: Step | None
    resource: dict[str, object]
    workflow: str
    envelope: Envelope

    def by_id(self) -> dict[str, Step]:
        return {step.span_id: step for step in self.steps}


class Normalizer:
    def __init__(self, config: AgentsConfig, errors: ErrorSignalsConfig, workflow_key: Names) -> None:
        """errors and workflow_key are the sampler's (`sampling.errors`, `sampling.workflow_key`): what the
        sampler kept a trace for is what the diagnosis reads as failed."""
        self._facts = FactReader(config.signals)
        self._roles = RoleReader(config)
        self._errors = ErrorReader(errors, config.signals)
        self._workflow_key = workflow_key

    def run(self, request: ExportTraceServiceRequest) -> Run:
        """The run of a parsed request (the reference reading)."""
        return self._run(
            (attributes_of(resource_spans.resource.attributes), record_of(span))
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        )

    def read(self, data: bytes) -> Run:
        """The run of a serialized request: read by the native reader where it is built (each span's
        attributes and events made Python values in C, no message objects), else parsed."""
        spans = native_records(data)
        return self._run(spans) if spans is not None else self.run(ExportTraceServiceRequest.FromString(data))

    def _run(self, spans: Iterable[tuple[dict[str, object], SpanRecord]]) -> Run:
        """spans: each with its resource's attributes, in the request's order."""
        steps: list[Step] = []
        resource: dict[str, object] = {}
        trace_id = ""
        for resource_attributes, record in spans:
            trace_id = record[0].hex()
            step = self._step(record)
            if step.role == "run" or not resource:
                resource = resource_attributes
            steps.append(step)
        steps.sort(key=lambda step: (step.start_ns, step.end_ns))
        root = next((step for step in steps if step.role == "run"), None)
        workflow = workflow_name(
            self._workflow_key,
            (root.attributes if root else {}, resource),
            root.name if root else "(no root span)",
        )
        return Run(trace_id, steps, root, resource, workflow, self._envelope(root, resource))

    def _envelope(self, root: Step | None, resource: dict[str, object]) -> Envelope:
        attributes = root.attributes if root else {}

        def fact(name: str, *sources: Mapping[str, object]) -> str | None:
            value = next((v for v in (self._facts.get(name, source) for source in sources) if v is not None), None)
            return None if value is None else str(value)

        attempt = fact("run.attempt", attributes, resource)
        service = resource.get("service.name")
        return Envelope(
            run_id=fact("run.id", attributes),
            attempt=int(attempt) if attempt and attempt.isdigit() else None,
            actor=fact("run.actor", attributes, resource),
            service=None if service in (None, "") else str(service),
            task=fact("task.summary", attributes),
        )

    def _step(self, record: SpanRecord) -> Step:
        _, span_id, parent_id, name, start, end, code, message, attributes, events = record
        facts = self._facts.read(attributes)
        role, named_tool = self._roles.role(name, attributes, facts, not parent_id)
        step = Step(
            span_id=span_id.hex(),
            parent_id=parent_id.hex() or None,
            name=name,
            role=role,
            start_ns=start,
            end_ns=end,
            attributes=attributes,
            events=events,
            status_error=self._errors.status_failed(code),
            status_message=message,
        )
        step.facts = StepFacts.read(facts, name, role, named_tool, attributes, events, message, self._errors)
        step.errors = list(self._reasons(step, attributes, events))
        return step

    def _reasons(
        self, step: Step, attributes: dict[str, object], events: list[tuple[str, dict[str, object]]]
    ) -> Iterable[str]:
        if step.status_error:
            message = brief(step.status_message)
            yield f"status ERROR{': ' + message if message else ''}"
        for key in self._errors.attribute_reasons(attributes):
            if key in ("run.outcome", "run.feedback"):
                continue  # the run's own outcome and feedback are findings of their own, not a span failing
            if key in ("verdict", "verdict.passed"):
                reason = step.facts.verdict_reason
                yield f"verifier failed{': ' + reason if reason else ''}"
            elif key == "tool.success":
                yield "the tool reported it failed"
            elif key in self._errors.signals.false_keys:
                yield f"{key}=false"
            elif key in self._errors.signals.nonzero_keys:
                yield f"exit code {attributes[key]}" if key == "process.exit.code" else f"{key}={attributes[key]}"
            else:
                yield f"{key}={attributes[key]}"
        if not events:
            return
        for kind, event in self._errors.event_reasons((name, values.items()) for name, values in events):
            if kind == "feedback":
                continue
            if kind == "exception":
                exception = event.get("exception.type")
                yield f"exception {exception}" if exception else "exception"
            else:
                label = next((event[key] for key in self._errors.signals.verdict_event_labels if key in event), None)
                yield f"evaluation failed: {label}"
