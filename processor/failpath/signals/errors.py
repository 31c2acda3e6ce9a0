"""What makes a span an error span: its status, error attributes, exception events, failing verdicts.

Configured once (`sampling.errors`) and read by one `ErrorReader`, which the tail sampler asks for the
first reason as spans arrive and the diagnosis asks for every reason of a step, so the two never disagree
about what failed.
"""

from collections.abc import Iterable, Mapping

from failpath.config_types import Names, Strict
from failpath.signals.vocabulary import (
    FEEDBACK_EVALUATION,
    FactReader,
    SignalsConfig,
    feedback_negative,
    outcome_failed,
)

STATUS_ERROR = 2
EVALUATOR_KIND = "openinference.span.kind"

Events = Iterable[tuple[str, Iterable[tuple[str, object]]]]


class ErrorSignalsConfig(Strict):
    """What makes a span an error span. Attribute lists name keys; empty lists switch a signal off."""

    status: bool = True
    # Span events by name.
    exception_events: Names = ("exception", "gen_ai.client.operation.exception")
    # Set to a non-empty value.
    present_keys: Names = ("error.type",)
    # An integer other than 0.
    nonzero_keys: Names = ("process.exit.code",)
    # Boolean false (or the string "false").
    false_keys: Names = ("tool.success", "verifier.passed")
    # Verdict events and the attributes on them holding the label.
    verdict_events: Names = ("gen_ai.evaluation.result",)
    verdict_event_labels: Names = ("gen_ai.evaluation.score.label",)
    # OpenInference EVALUATOR spans and the attributes holding their label.
    evaluator_labels: Names = ("metadata.label", "eval.label")
    # Labels that mean the check failed (compared case-insensitively).
    failing_labels: Names = ("fail", "failed", "failure", "incorrect", "false", "error")
    # A run whose outcome says it failed, or that a user gave negative feedback, is an error run too (the
    # facts run.outcome and run.feedback: agent.run.outcome, agent.feedback, or your agents.signals names).
    run_outcome: bool = True
    user_feedback: bool = True


class ErrorReader:
    def __init__(self, signals: ErrorSignalsConfig, facts: SignalsConfig | None = None) -> None:
        """facts: where the run's outcome and a user's feedback are read from (`agents.signals`): a run that
        failed that way is an error run too, though no span has an error status."""
        self.signals = signals
        config = facts or SignalsConfig()
        self._facts = FactReader(config)
        # Your own names for a failed tool call or a failing check count like false_keys do (the default
        # names are false_keys' to switch on or off).
        self._mapped = FactReader(config, defaults=False)
        self._mapped_false = [fact for fact in ("tool.success", "verdict.passed") if fact in config.facts]
        self._failing = frozenset(label.lower() for label in signals.failing_labels)
        self._false = frozenset(signals.false_keys)
        self._nonzero = frozenset(signals.nonzero_keys)
        self._present = frozenset(signals.present_keys)
        self._exception_events = frozenset(signals.exception_events)
        self._verdict_events = frozenset(signals.verdict_events)
        self._verdict_labels = frozenset(signals.verdict_event_labels)
        keys = [*self._false, *self._nonzero, *self._present]
        keys += [attribute for fact in self._mapped_false for attribute in self._mapped.attributes(fact)]
        # Where the outcome and feedback facts are read (empty when switched off): a span with none of these
        # keys is not looked up (most spans, and the sampler asks for every one).
        self._outcome_keys = self._facts.attributes("run.outcome") if signals.run_outcome else frozenset()
        self._feedback_keys = self._facts.attributes("run.feedback") if signals.user_feedback else frozenset()
        keys += [*self._outcome_keys, *self._feedback_keys]
        if signals.evaluator_labels:
            keys += [EVALUATOR_KIND, *signals.evaluator_labels]
        # The attributes a reader needs to see (the sampler collects only these).
        self.watched_keys = frozenset(keys)
        self.event_names = self._exception_events | self._verdict_events

    def failed_label(self, value: object) -> bool:
        return isinstance(value, str) and value.lower() in self._failing

    def status_failed(self, code: int) -> bool:
        return self.signals.status and code == STATUS_ERROR

    def quiet(self, key: str, value: object) -> bool:
        """Whether an attribute makes no error signal, on its own or beside any others: every test below reads
        one attribute at a time (a fact from the first of its sources that has a value), except an evaluator's
        label, which needs the EVALUATOR kind beside it: that kind is never quiet."""
        if key == EVALUATOR_KIND and value == "EVALUATOR":
            return False
        return next(iter(self.attribute_reasons({key: value})), None) is None

    def attribute_reasons(self, values: Mapping[str, object]) -> Iterable[str]:
        """The keys that make these attributes an error (the first is the sampler's reason)."""
        if self.watched_keys.isdisjoint(values):
            return  # every test below reads one of these keys
        for key, value in values.items():
            if key in self._false:
                if value is False or (isinstance(value, str) and value.lower() == "false"):
                    yield key
            elif key in self._nonzero:
                if isinstance(value, int) and not isinstance(value, bool) and value != 0:
                    yield key
            elif key in self._present and value not in ("", None):
                yield key
        for fact in self._mapped_false:
            value = self._mapped.get(fact, values)
            if value is False or (isinstance(value, str) and value.lower() == "false"):
                yield fact
        if not self._outcome_keys.isdisjoint(values) and outcome_failed(self._facts.get("run.outcome", values)):
            yield "run.outcome"
        if not self._feedback_keys.isdisjoint(values) and feedback_negative(self._facts.get("run.feedback", values)):
            yield "run.feedback"
        evaluator = values.get(EVALUATOR_KIND) == "EVALUATOR"
        if evaluator and any(self.failed_label(values.get(key)) for key in self.signals.evaluator_labels):
            yield "verdict"

    def event_reasons(self, events: Events) -> Iterable[tuple[str, Mapping[str, object]]]:
        """("exception" or "verdict", the event's attributes) for each event that marks an error."""
        for name, attributes in events:
            if name in self._exception_events:
                yield "exception", dict(attributes)
            elif name in self._verdict_events:
                values = dict(attributes)
                labels = [values.get(key) for key in self._verdict_labels]
                if values.get("gen_ai.evaluation.name") == FEEDBACK_EVALUATION:
                    if self.signals.user_feedback and any(feedback_negative(label) for label in labels):
                        yield "feedback", values
                elif any(self.failed_label(label) for label in labels):
                    yield "verdict", values
