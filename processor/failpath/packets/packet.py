"""The replay packet's shape as types: one TypedDict per object of packet.schema.json, field for field
(tests/packets/test_packet.py holds the two together), so building, reading, rendering and re-emitting a
packet are checked by mypy instead of indexing dict[str, Any] by string."""

from typing import Literal, TypedDict

from failpath.agents.config import Role

Status = Literal["ok", "error"]


class RunEnvelope(TypedDict):
    run_id: str | None
    workflow: str
    actor: str | None
    service: str | None
    attempt: int | None
    # The run's identity as its resource said (service.name, namespace, version, environment, the
    # OpenInference project): what a replay keeps so a backend files it with the original.
    resource: dict[str, str]


class DecisionRecord(TypedDict):
    policy: str
    trigger: str
    error_signal: str | None


class ModelSelection(TypedDict):
    model: str | None
    requested_model: str | None
    provider: str | None
    lane: str | None
    route: str | None
    risk: str | None
    escalation_required: bool | None
    escalated: bool | None


class Tokens(TypedDict):
    input: int
    output: int
    budget: int | None


class DocumentRef(TypedDict):
    id: str | None
    score: float | None


class RetrievalRef(TypedDict):
    span_id: str
    name: str
    count: int | None
    documents: list[DocumentRef]


class ToolEvent(TypedDict):
    span_id: str
    tool: str | None
    argument_keys: list[str]
    success: bool
    exit_code: int | None
    error_type: str | None
    duration_ms: float
    retry_count: int | None
    timed_out: bool
    timeout_class: str | None
    cache_hit: bool | None
    result_summary: str | None
    on_failing_path: bool


class ModelCall(TypedDict):
    span_id: str
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    finish_reasons: list[str]
    lane: str | None
    cache_hit: bool | None
    rate_limited: bool
    duration_ms: float
    status: Status
    output_summary: str | None


class VerifierRecord(TypedDict):
    span_id: str
    name: str
    passed: bool | None
    reason: str | None


class StepRecord(TypedDict):
    index: int
    role: Role
    label: str
    name: str
    span_id: str
    parent_span_id: str | None
    status: Status
    start_offset_ms: float
    duration_ms: float
    on_failing_path: bool


class FailingSpan(TypedDict):
    span_id: str
    name: str
    role: Role
    label: str
    error: str | None
    errored_span_id: str | None
    status_message: str | None


class BucketRecord(TypedDict):
    rule: str | None
    description: str
    first_check: str | None
    avoid: str | None


class CauseRecord(TypedDict):
    finding: str
    span_id: str
    label: str


class RunnerUp(TypedDict):
    bucket: str
    evidence: str
    why_not: str


class FindingRecord(TypedDict):
    finding: str
    span_id: str
    recovered: bool


class DiagnosisRecord(TypedDict):
    confidence: float
    cause: CauseRecord | None
    runner_up: RunnerUp | None
    findings: list[FindingRecord]


class RelatedAttempt(TypedDict):
    trace_id: str
    started_at: str
    failure_bucket: str


class Packet(TypedDict):
    # The design's fields first: what a person reads before anything else.
    packet_version: int
    trace_id: str
    workflow: str
    selected_model: str | None
    task_summary: str | None
    retrieval_refs: list[RetrievalRef]
    tool_events: list[ToolEvent]
    verifier: VerifierRecord | None
    failure_bucket: str
    next_action: str
    run: RunEnvelope
    started_at: str
    duration_ms: float
    decision: DecisionRecord
    model_selection: ModelSelection
    tokens: Tokens
    model_calls: list[ModelCall]
    steps: list[StepRecord]
    steps_after_failure: int
    failing_span: FailingSpan | None
    bucket: BucketRecord
    diagnosis: DiagnosisRecord
    evidence: list[str]
    related_attempts: list[RelatedAttempt]
    trimmed: list[str]
