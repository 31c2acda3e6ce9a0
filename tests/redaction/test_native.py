"""The native walk (_native.c) against the pure-Python reference: the same bytes, findings and actions for
every input, or None (the reference takes the request). Inputs: the secrets and benign corpora, a seeded
mix of spans under several configs, and generated requests (hypothesis); malformed and non-canonical bytes
must come back as None, never as a crash or a different answer."""

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from failpath.consumer import Batch
from failpath.metrics import Metrics
from failpath.redaction.config import RedactionConfig
from failpath.redaction.html_summary import HTML_FIRST_CHARS
from failpath.redaction.stage import RedactionStage, active_detectors, build_redactor
from tests.support.redaction_mix import PLANTS, WORDS, request

native = pytest.importorskip("failpath.redaction._native", reason="the C extension is not built")
from failpath.redaction.native_redactor import NativeRedactor  # noqa: E402

CORPUS = Path(__file__).parents[3] / "shared" / "corpora" / "secrets"
KEY = "native-differential-key-" + "5" * 20

CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "keep_content": {"keys": {"keep_content": True}},
    "rules": {
        "keys": {
            "rules": [
                {"key": "user.id", "action": "hash"},
                {"key": "inner", "action": "drop"},
                {"pattern": r"tool\..*", "action": "summarize"},
                {"key": "note", "action": "keep"},
            ]
        }
    },
    "allow_list": {"keys": {"mode": "allow_list", "allowed": ["service.name", "/gen_ai\\..*/", "note", "inner"]}},
    "no_counts_no_html": {"span_counts": False, "summarize_html": False},
    "short_values": {"max_value_chars": 300},
    "re2": {"engine": "re2"},
    "python": {"engine": "python"},
}


def _pair(monkeypatch: pytest.MonkeyPatch, config: dict[str, Any]) -> tuple[Any, NativeRedactor]:
    monkeypatch.setenv("FAILPATH_REDACTION_KEY", KEY)
    if config.get("engine") == "re2":
        pytest.importorskip("re2")
    parsed = RedactionConfig.model_validate(config)
    return build_redactor(parsed), NativeRedactor(build_redactor(parsed))


def _agree(reference: Any, ported: NativeRedactor, message: ExportTraceServiceRequest) -> bytes:
    """Both paths on one request; returns the redacted bytes."""
    data = message.SerializeToString()
    copy = ExportTraceServiceRequest.FromString(data)
    expected = reference.redact(copy)
    done = ported.redact(data)
    assert done is not None, "the native walk left a canonical request to the reference"
    payload, result = done
    assert payload == copy.SerializeToString()
    assert result.findings == expected.findings
    assert result.actions == expected.actions
    return payload


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_seeded_mix_gives_the_reference_bytes(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    reference, ported = _pair(monkeypatch, CONFIGS[name])
    rng = random.Random(20261206)
    for _ in range(12 if name == "python" else 25):
        _agree(reference, ported, request(rng))


def _corpus_texts() -> Iterator[str]:
    credentials = json.loads((CORPUS / "credentials.json").read_text())
    false_positives = json.loads((CORPUS / "false_positives.json").read_text())
    for item in [*credentials, *false_positives]:
        yield item if isinstance(item, str) else str(item.get("text") or item.get("value") or item)
    yield from (CORPUS / "benign.txt").read_text().splitlines()


def test_secrets_and_benign_corpora_give_the_reference_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every corpus text as a span attribute, a span name, an event attribute and an array item."""
    reference, ported = _pair(monkeypatch, {})
    texts = list(_corpus_texts())
    assert len(texts) > 1000
    for offset in range(0, len(texts), 200):
        message = ExportTraceServiceRequest()
        spans = message.resource_spans.add().scope_spans.add().spans
        for index, text in enumerate(texts[offset : offset + 200]):
            span = spans.add(trace_id=b"\1" * 16, span_id=index.to_bytes(8, "big"), name=text[:200] or "s")
            span.attributes.append(KeyValue(key="value", value=AnyValue(string_value=text)))
            span.events.add(name="log").attributes.append(KeyValue(key="message", value=AnyValue(string_value=text)))
            item = span.attributes.add(key="items").value.array_value.values.add()
            item.string_value = text
        _agree(reference, ported, message)


# -- generated requests ------------------------------------------------------------------------------------------
_texts = st.one_of(
    st.sampled_from(PLANTS),
    st.lists(st.sampled_from([*WORDS, " ", "@", ".", "=", "-", "é", "\u2028", "<html>", "4111"]), max_size=12).map(
        "".join
    ),
    st.text(max_size=40),
)
_keys = st.sampled_from(
    ["gen_ai.prompt", "note", "user.id", "inner", "tool.args", "http.request.header.cookie", "", "redaction.x"]
)


def _values(depth: int = 0) -> st.SearchStrategy[AnyValue]:
    leaves = st.one_of(
        _texts.map(lambda text: AnyValue(string_value=text)),
        st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda n: AnyValue(int_value=n)),
        st.sampled_from([4111111111111111, 378282246310005, 10**11]).map(lambda n: AnyValue(int_value=n)),
        st.booleans().map(lambda b: AnyValue(bool_value=b)),
        st.floats(allow_nan=False).map(lambda f: AnyValue(double_value=f)),
        st.binary(max_size=16).map(lambda b: AnyValue(bytes_value=b)),
        _texts.map(lambda text: AnyValue(bytes_value=text.encode())),
        st.just(AnyValue()),
    )
    if depth >= 2:
        return leaves
    inner = _values(depth + 1)
    arrays = st.lists(inner, max_size=3).map(_array)
    kvlists = st.lists(st.tuples(_keys, inner), max_size=3).map(_kvlist)
    return st.one_of(leaves, arrays, kvlists)


def _array(items: list[AnyValue]) -> AnyValue:
    value = AnyValue()
    value.array_value.values.extend(items)
    return value


def _kvlist(pairs: list[tuple[str, AnyValue]]) -> AnyValue:
    value = AnyValue()
    value.kvlist_value.values.extend(KeyValue(key=key, value=item) for key, item in pairs)
    return value


_attributes = st.lists(st.tuples(_keys, _values()), max_size=4)


@st.composite
def _requests(draw: st.DrawFn) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(1, 2))):
        resource_spans = message.resource_spans.add()
        for key, value in draw(_attributes):
            resource_spans.resource.attributes.append(KeyValue(key=key, value=value))
        resource_spans.schema_url = draw(_texts)
        for _ in range(draw(st.integers(0, 2))):
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name = draw(_texts)
            scope_spans.scope.version = draw(_texts)
            for key, value in draw(_attributes):
                scope_spans.scope.attributes.append(KeyValue(key=key, value=value))
            for _ in range(draw(st.integers(0, 3))):
                span = scope_spans.spans.add(trace_id=b"\7" * 16, span_id=b"\3" * 8, name=draw(_texts))
                span.trace_state = draw(_texts)
                span.status.message = draw(_texts)
                span.status.code = draw(st.sampled_from([Status.STATUS_CODE_UNSET, Status.STATUS_CODE_ERROR]))
                span.flags = draw(st.sampled_from([0, 1, 256]))
                span.dropped_attributes_count = draw(st.sampled_from([0, 3]))
                for key, value in draw(_attributes):
                    span.attributes.append(KeyValue(key=key, value=value))
                for name in draw(st.lists(_texts, max_size=2)):
                    event = span.events.add(name=name, time_unix_nano=draw(st.sampled_from([0, 5])))
                    for key, value in draw(_attributes):
                        event.attributes.append(KeyValue(key=key, value=value))
                for state in draw(st.lists(_texts, max_size=1)):
                    link = span.links.add(trace_id=b"\5" * 16, span_id=b"\6" * 8, trace_state=state)
                    for key, value in draw(_attributes):
                        link.attributes.append(KeyValue(key=key, value=value))
    return message


@pytest.mark.parametrize("name", ["default", "rules", "allow_list", "short_values"])
def test_generated_requests_give_the_reference_bytes(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    config = {**CONFIGS[name], "max_value_chars": 64} if name == "short_values" else CONFIGS[name]
    reference, ported = _pair(monkeypatch, config)

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(_requests())
    def check(message: ExportTraceServiceRequest) -> None:
        _agree(reference, ported, message)

    check()


# -- what the native walk leaves to the reference ----------------------------------------------------------------
def _one_span_request() -> bytes:
    message = ExportTraceServiceRequest()
    span = message.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\1" * 16, span_id=b"\2" * 8, name="s")
    span.attributes.append(KeyValue(key="gen_ai.prompt", value=AnyValue(string_value="mail lena@example.com")))
    return message.SerializeToString()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda data: data + b"\xa0\x06\x01", id="unknown field"),
        pytest.param(lambda data: data.replace(b"\x2a\x01s", b"\x2a\x81\x00s"), id="non-minimal length"),
        pytest.param(lambda data: data.replace(b"\x2a\x01s", b"\x2a\x00"), id="empty string written"),
        pytest.param(lambda data: data[:-3], id="truncated"),
    ],
)
def test_non_canonical_or_malformed_bytes_are_left_to_the_reference(
    monkeypatch: pytest.MonkeyPatch, change: Any
) -> None:
    _, ported = _pair(monkeypatch, {})
    data = change(_one_span_request())
    assert data != _one_span_request()
    assert ported.redact(data) is None


def test_an_earlier_failpaths_counters_are_left_to_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counters already on a span are added to (the reference merges them); the stage still redacts it."""
    monkeypatch.setenv("FAILPATH_REDACTION_KEY", KEY)
    message = ExportTraceServiceRequest.FromString(_one_span_request())
    span = message.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.append(KeyValue(key="redaction.summarized.count", value=AnyValue(int_value=2)))
    assert NativeRedactor(build_redactor(RedactionConfig())).redact(message.SerializeToString()) is None
    metrics = Metrics()
    stage = RedactionStage(RedactionConfig(), _Keep(), metrics)
    batch = Batch(message, 1)
    asyncio.run(stage.consume(batch))
    redacted = batch.request.resource_spans[0].scope_spans[0].spans[0]
    counts = {kv.key: kv.value.int_value for kv in redacted.attributes if kv.key.startswith("redaction.")}
    assert counts == {"redaction.summarized.count": 3}
    assert metrics.redaction_requests.labels("reference")._value.get() == 1


def test_summaries_count_characters_not_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk writes the summaries of spans no prefilter fires in itself: their chars= is the text's length
    in characters, whatever mix of one- to four-byte characters and wherever they fall in eight-byte words."""
    reference, ported = _pair(monkeypatch, {})
    message = ExportTraceServiceRequest()
    spans = message.resource_spans.add().scope_spans.add().spans
    pieces = ["plain ", "é", "日本語", "🙂", "ü" * 9, "x" * 37, "€ "]
    rng = random.Random(11)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))) for _ in range(40)]
    for index, text in enumerate(texts):
        span = spans.add(trace_id=b"\5" * 16, span_id=(index + 1).to_bytes(8, "big"), name="chat")
        span.attributes.append(KeyValue(key="gen_ai.prompt", value=AnyValue(string_value=text)))
    payload = _agree(reference, ported, message)
    for text in texts:
        assert f"<summary:chars={len(text)}:".encode() in payload


def test_summaries_in_spans_the_full_walk_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a span some prefilter fires in, a value to summarize with no detector's match in it is summarized in
    C (its text never reaches Python); one with a match, or longer than max_value_chars, goes to Python, which
    lists its hits and says how much of a value longer than max_scan_chars it scanned."""
    reference, ported = _pair(monkeypatch, {"max_value_chars": 300, "max_scan_chars": 4096})
    plans: list[Any] = []
    walk = native.walk

    def recorded(*args: Any) -> Any:
        plans.append(walk(*args))
        return plans[-1]

    monkeypatch.setattr(native, "walk", recorded)
    texts = {
        "quiet": "what is the refund policy for damaged parcels? " * 3,
        "email": "please write to lena.berg@example.com about it",
        "between": "a long prompt without anything in it. " * 20,  # 760 characters: over 300, under 4096
        "beyond": "an even longer prompt with nothing in it. " * 120,  # 5040 characters: over 4096
    }
    message = ExportTraceServiceRequest()
    spans = message.resource_spans.add().scope_spans.add().spans
    for index, text in enumerate(texts.values()):
        span = spans.add(trace_id=b"\6" * 16, span_id=(index + 1).to_bytes(8, "big"), name="chat")
        span.attributes.append(KeyValue(key="note", value=AnyValue(string_value="call +44 20 7946 0958 today")))
        span.attributes.append(KeyValue(key="gen_ai.prompt", value=AnyValue(string_value=text)))
    payload = _agree(reference, ported, message)
    assert payload.count(b":hits=none>") == 2
    assert b":hits=email>" in payload and b":hits=none:scanned=4096>" in payload
    handed = {text[:40] for text in plans[-1][0] if text}  # Python bounds the long ones in place
    assert texts["quiet"][:40] not in handed
    assert {texts["email"][:40], texts["between"][:40], texts["beyond"][:40]} <= handed


class _Keep:
    async def consume(self, batch: Batch) -> None:
        pass


def test_the_stage_hands_on_the_native_bytes_and_counts_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAILPATH_REDACTION_KEY", KEY)
    metrics = Metrics()
    stage = RedactionStage(RedactionConfig(), _Keep(), metrics)
    message = ExportTraceServiceRequest.FromString(_one_span_request())
    batch = Batch(message, 1)
    asyncio.run(stage.consume(batch))
    data = batch.serialized()
    assert b"lena@example.com" not in data
    assert b"<summary:chars=21:" in data
    assert metrics.redaction_requests.labels("native")._value.get() == 1
    off = RedactionStage(RedactionConfig(native=False), _Keep(), metrics)
    again = Batch(ExportTraceServiceRequest.FromString(_one_span_request()), 1)
    asyncio.run(off.consume(again))
    assert again.serialized() == data
    assert metrics.redaction_requests.labels("reference")._value.get() == 1


@pytest.mark.parametrize("config", ["default", "allow_list", "short_values"])
def test_a_flood_of_prefilter_matches_gives_the_reference_bytes(monkeypatch: pytest.MonkeyPatch, config: str) -> None:
    """Past FLOOD raw matches the request is scanned span by span and value by value, as the reference
    does; below it one scan of the request stands for both (tested by every other case here)."""
    reference, ported = _pair(monkeypatch, CONFIGS[config])
    table = " ".join(f"{n:04d}-{n * 7 % 10000:04d}" for n in range(1500))  # card-ish digit groups everywhere
    message = ExportTraceServiceRequest()
    spans = message.resource_spans.add().scope_spans.add().spans
    for index, text in enumerate([table, "mail lena.ortiz@example.com", table[:900] + " key=sk-proj-" + "a1" * 24]):
        span = spans.add(trace_id=b"\3" * 16, span_id=index.to_bytes(8, "big"), name="step")
        span.attributes.append(KeyValue(key="note", value=AnyValue(string_value=text)))
    scanner = reference.scanner
    assert scanner.request_matches(message.SerializeToString()) is None  # the flood path, not the one scan
    payload = _agree(reference, ported, message)
    assert b"lena.ortiz@example.com" not in payload


def test_the_walk_places_matches_in_spans_and_values_whatever_their_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """The raw scan's matches decide which spans take the full walk and which detectors each value is
    confirmed for: a match counts only in the span and the value it ends in; Hyperscan reports them by end,
    and any other order gives the same plan. Values nothing will read (no detector's match ends in them, not
    summarized, not maybe HTML, not long) are not listed, and the walk lists those that may be HTML or long."""
    monkeypatch.setenv("FAILPATH_REDACTION_KEY", KEY)
    reference = build_redactor(RedactionConfig())
    ported = NativeRedactor(reference)
    message = ExportTraceServiceRequest()
    spans = message.resource_spans.add().scope_spans.add().spans
    texts = ["plain words", "mail lena.ortiz@example.com now", "more plain words", "<p>hi</p>", "é" * 45]
    for index, text in enumerate(texts):
        span = spans.add(trace_id=b"\3" * 16, span_id=(index + 1).to_bytes(8, "big"), name=f"step {index}")
        span.attributes.append(KeyValue(key="note", value=AnyValue(string_value=text)))
    data = message.SerializeToString()
    detectors = [detector.name for detector in active_detectors(RedactionConfig())]
    email = detectors.index("email")
    at = data.index(b"@") + 2  # where the email prefilter's match ends
    table, key = ported._table, reference.pseudonyms.digest_key
    last = data.rindex(b"words")  # a match of a pattern past `detectors` (the extras) in the third span
    matches = [(email, at), (email, at + 1), (email + 1, last)]
    # long_chars 40: only the last note is longer (45 characters; 90 bytes, the first note 11)
    plan = native.walk(data, table, None, key, matches, 10_000, email + 1, 40)
    assert plan is not None
    # The second and third spans are walked in full (name and note collected); only the email is flagged,
    # and only that note is read.
    assert plan[0] == ["mail lena.ortiz@example.com now"]
    assert plan[7] == {(0, email): (17, 18)}  # where those matches end in the note (its @ is at 15)
    assert plan[8:] == ([], [])
    assert native.walk(data, table, None, key, matches[::-1], 10_000, email + 1, 40) == plan
    # span_limit -1: every span in full; the notes that may be HTML or are long are read too.
    every = native.walk(data, table, None, key, matches, -1, email + 1, 40)
    assert every is not None
    assert every[0] == ["mail lena.ortiz@example.com now", "<p>hi</p>", "é" * 45]
    assert every[7:] == ({(0, email): (17, 18)}, [1], [2])
    # Without matches: every value read, and no flagged set.
    without = native.walk(data, table, None, key, None, -1, 0, 40)
    assert without is not None and without[7:] == (None, None, None)
    assert without[0] == [value for index in range(5) for value in (f"step {index}", texts[index])]


def test_the_walk_lists_as_maybe_html_what_the_reference_tries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk's html_values are the values Redactor._html_summaries would try: those whose first character
    is one of HTML_FIRST_CHARS (the two lists must not drift apart)."""
    monkeypatch.setenv("FAILPATH_REDACTION_KEY", KEY)
    ported = NativeRedactor(build_redactor(RedactionConfig()))
    texts = [f"{first}<html><title>t</title></html>" for first in HTML_FIRST_CHARS] + ["x<html>", "é<html>", "0<p>"]
    message = ExportTraceServiceRequest()
    span = message.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\4" * 16, span_id=b"\1" * 8)
    span.attributes.extend(KeyValue(key=f"note.{i}", value=AnyValue(string_value=t)) for i, t in enumerate(texts))
    plan = native.walk(message.SerializeToString(), ported._table, None, b"k", [], -1, 0, 10_000)
    assert plan is not None
    values, html_values = plan[0], plan[8]
    assert [values[index] for index in html_values] == texts[: len(HTML_FIRST_CHARS)]


def test_random_damage_never_crashes_and_never_disagrees(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flipped, cut and inserted bytes of real requests: the walk returns None, or (when upb reads the
    damaged bytes too) exactly what the reference makes of them."""
    reference, ported = _pair(monkeypatch, {})
    rng = random.Random(7)
    seeds = [request(rng).SerializeToString()[:4000] for _ in range(3)] + [_one_span_request()]
    accepted = 0
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            spot = rng.randrange(len(data))
            roll = rng.random()
            if roll < 0.5:
                data[spot] ^= 1 << rng.randrange(8)
            elif roll < 0.75:
                del data[spot : spot + rng.randint(1, 8)]
            else:
                data[spot:spot] = rng.randbytes(rng.randint(1, 4))
        done = ported.redact(bytes(data))
        if done is None:
            continue
        accepted += 1
        parsed = ExportTraceServiceRequest.FromString(bytes(data))  # accepted bytes are bytes upb accepts
        expected = reference.redact(parsed)
        assert done[0] == parsed.SerializeToString()
        assert done[1].findings == expected.findings
    assert accepted > 0


def test_splice_refuses_edits_that_do_not_fit() -> None:
    data = _one_span_request()
    with pytest.raises(ValueError):
        native.splice(data, [(-1, 3, 2, b"x")])
    with pytest.raises(ValueError):
        native.splice(data, [(0, 1, 1, b"x")])  # inside a field's tag
    assert native.splice(data, []) == data


def test_keyed_blake2b_is_hashlib_s() -> None:
    """Eight messages at a time (AVX-512 lanes, where the CPU has them: the walk's way) and one by one: every
    length around the block size, lanes finishing at different blocks, empty messages among the others."""
    import hashlib

    rng = random.Random(11)
    sizes = (0, 1, 127, 128, 129, 255, 256, 257, 1000)
    block = bytes(range(256)) * 4
    for key in (b"", b"k", b"x" * 64):
        batches = [[block[:size] for size in sizes]]
        batches += [
            [rng.randbytes(rng.choice([*sizes, rng.randrange(3000)])) for _ in range(rng.randrange(25))]
            for _ in range(30)
        ]
        for batch in batches:
            expected = [hashlib.blake2b(data, key=key, digest_size=8).hexdigest() for data in batch]
            assert native.digests(key, batch) == expected
            assert native.digests(key, batch, False) == expected
