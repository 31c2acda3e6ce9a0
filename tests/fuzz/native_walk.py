"""Fuzz the native redaction walk (atheris, libFuzzer's engine) with the reference as the oracle.

Every input goes through the sampler's span readers (otlp/_spans.c), the receiver's span-id count and the
normalizer's span records (the same extension) and NativeRedactor.redact. When the walk accepts it, upb must
accept the same bytes and the reference must make exactly the same bytes and findings of them; when the
readers give rows, a count or records for bytes upb accepts, they must be upb's reading of them (slices
parse to the messages upb parsed; the count is the parsed request's check; records are the parsed spans'
records); the lead of phone and card candidates (redaction/_digit_runs.c) starts where its regex's search does
in the input read as text, and the card candidates it finds in ASCII text are the regexes'; whatever it is,
nothing crashes.
Seeds: serialized requests of the seeded span mix (tests/support/redaction_mix.py).

    .venv/bin/python tests/fuzz/native_walk.py -atheris_runs=1000000 [corpus-dir]   (the long run)

libFuzzer's own flags work too (-max_total_time=N, -max_len=N). tests/fuzz/test_fuzz.py runs it bounded in
the suite. For coverage of the C code itself, build the extension instrumented (docs/native.md).
"""

import os
import random
import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).parents[2]))

with atheris.instrument_imports():
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    from failpath.agents.normalize import native_records, record_of
    from failpath.agents.step_facts import attributes_of
    from failpath.otlp import _spans
    from failpath.otlp.span_ids import reject_invalid_spans
    from failpath.redaction.config import RedactionConfig
    from failpath.redaction.detectors import _LONG_FIRST, card_candidates
    from failpath.redaction.digit_runs import card_matches, first_run, pattern
    from failpath.redaction.native_redactor import NativeRedactor
    from failpath.redaction.skipping import regex_lead
    from failpath.redaction.stage import build_redactor
    from failpath.sampling.span_reading import Watching, by_trace, read_message
    from failpath.store.span_rows import rows_of
    from tests.support.redaction_mix import request

os.environ.setdefault("FAILPATH_REDACTION_KEY", "fuzzing-key-" + "7" * 30)
_CONFIG = RedactionConfig(max_value_chars=256)
REFERENCE = build_redactor(_CONFIG)
NATIVE = NativeRedactor(build_redactor(_CONFIG))


_WATCHED = ("note", "gen_ai.prompt", "user.id", "")
# The sampler's grouped intake: the first two keys read on every span, a quiet value for each.
_WATCHING = Watching(
    _WATCHED, 2, ((AnyValue(bool_value=True).SerializeToString(),), (AnyValue(string_value="x").SerializeToString(),))
)


def _parsed(data: bytes) -> "ExportTraceServiceRequest | None":
    """upb's reading of the bytes, or None where it refuses them."""
    try:
        return ExportTraceServiceRequest.FromString(data)
    except DecodeError:
        return None


def check_rows(data: bytes) -> None:
    """The sampler's rows against upb's reading, for bytes both accept (the reader checks only the strings it
    reads: the intake has parsed every request before the sampler sees it)."""
    rows = _spans.request_facts(data, _WATCHED)
    if rows is None or (parsed := _parsed(data)) is None:
        return
    resources, scopes, spans = read_message(parsed, _WATCHED)
    same = [(Resource.FromString(raw), url) for raw, url in rows[0]] == [
        (Resource.FromString(raw), url) for raw, url in resources
    ]
    same = same and [(index, InstrumentationScope.FromString(raw), url) for index, raw, url in rows[1]] == [
        (index, InstrumentationScope.FromString(raw), url) for index, raw, url in scopes
    ]
    same = same and len(rows[2]) == len(spans)
    for row, expected in zip(rows[2], spans, strict=False):
        # by repr: NaN values read alike; watched values the reader declined (None) are read from the span
        same = same and repr(row[:1] + row[2:10]) == repr(expected[:1] + expected[2:10])
        same = same and (row[10] is None or repr(row[10]) == repr(expected[10]))
        same = same and Span.FromString(row[1]) == Span.FromString(expected[1])
    if not same:
        raise AssertionError("the sampler's rows and upb's reading disagree")


def check_traces(data: bytes) -> None:
    """The sampler's grouped intake against the reference's grouping of upb's reading, for bytes both accept:
    the same traces, runs (spans compared parsed) and totals; every span the reference looks at is looked at
    (the C may look at more: a quiet value written otherwise than upb writes it is not quiet there), with the
    rows upb reads."""
    got = _spans.request_traces(data, _WATCHING.keys, _WATCHING.span_keys, _WATCHING.quiet, False)
    if got is None or (parsed := _parsed(data)) is None:
        return
    expected = by_trace(read_message(parsed, _WATCHED)[2], _WATCHING)
    same = len(got[2]) == len(expected)
    for mine, theirs in zip(got[2], expected, strict=False):
        blobs = [blob for _, run in mine[1] for blob in run]
        same = same and mine[0] == theirs[0] and mine[3] == theirs[3] and mine[5:] == theirs[5:]
        same = same and mine[4] == sum(len(blob) for blob in blobs)
        same = same and [(scope, len(run)) for scope, run in mine[1]] == [(scope, len(run)) for scope, run in theirs[1]]
        same = same and [Span.FromString(blob) for blob in blobs] == [
            Span.FromString(blob) for _, run in theirs[1] for blob in run
        ]
        looked = {id(row[1]): row for row in mine[2]}
        positions = {id(blob): index for index, blob in enumerate(blobs)}
        theirs_blobs = [blob for _, run in theirs[1] for blob in run]
        same = same and all(positions.get(id(row[1]), -1) >= 0 for row in mine[2])
        for row in theirs[2]:
            index = next(i for i, blob in enumerate(theirs_blobs) if blob is row[1])
            mine_row = looked.get(id(blobs[index])) if same else None
            same = same and mine_row is not None and repr(mine_row[2:10]) == repr(row[2:10])
            same = same and mine_row is not None and (mine_row[10] is None or repr(mine_row[10]) == repr(row[10]))
    if not same:
        raise AssertionError("the sampler's grouped intake and the reference disagree")


def check_store_rows(data: bytes) -> None:
    """The store's rows against upb's reading, for bytes both accept (messages compared parsed: a slice keeps
    the bytes as they came)."""
    rows = _spans.store_rows(data)
    if rows is None or (parsed := _parsed(data)) is None:
        return
    resources, scopes, spans = rows_of(parsed)
    same = [(Resource.FromString(raw), service) for raw, service in rows[0]] == [
        (Resource.FromString(raw), service) for raw, service in resources
    ]
    same = same and [(row[0], InstrumentationScope.FromString(row[1]), *row[2:]) for row in rows[1]] == [
        (row[0], InstrumentationScope.FromString(row[1]), *row[2:]) for row in scopes
    ]
    same = same and [(*row[:9], Span.FromString(row[9])) for row in rows[2]] == [
        (*row[:9], Span.FromString(row[9])) for row in spans
    ]
    if not same:
        raise AssertionError("the store's rows and upb's reading disagree")


def check_ids(data: bytes) -> None:
    """The receivers' check on the bytes: what it vouches for, upb must read, with the same span count as the
    parsed request's id check (the receiver then parses nothing)."""
    count = _spans.valid_spans(data)
    if count is None:
        return
    parsed = _parsed(data)
    if parsed is None:
        raise AssertionError("the receivers' check vouched for bytes upb refuses")
    if reject_invalid_spans(parsed) != (count, 0, ""):
        raise AssertionError("the span-id count and the parsed request's check disagree")


def check_records(data: bytes) -> None:
    """The normalizer's native records against the parsed request's, for bytes both accept."""
    records = native_records(data)
    if records is None or (parsed := _parsed(data)) is None:
        return
    expected = [
        (attributes_of(rs.resource.attributes), record_of(span))
        for rs in parsed.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    if repr(records) != repr(expected):
        raise AssertionError("the normalizer's native records and upb's reading disagree")


# (separators, max gap, digits): the phone and card leads, and a short one that finds runs in most inputs.
_LEADS = [
    (separators, gap, digits, regex_lead(pattern(separators, gap, digits)))
    for separators, gap, digits in ((" .-/()\u00a0", 3, 7), (" -", 1, 12), ("-", 0, 2))
]


def check_digit_runs(data: bytes) -> None:
    """The C lead against its regex on the input's first 4 KiB read as text, from its start and from a position
    the input picks."""
    if first_run is None:
        return
    text = data[:4096].decode("utf-8", "replace")
    pos = data[0] % (len(text) + 1) if data else 0
    for separators, gap, digits, regex in _LEADS:
        for start in (0, pos):
            if first_run(text, start, len(text), separators, gap, digits) != regex(text, start, len(text)):
                raise AssertionError("the C digit-run lead and its regex disagree")
    if card_matches is None:
        return
    # The card candidates of the input's first 4 KiB as ASCII text (card_matches leaves the rest to the regexes).
    ascii_text = bytes(byte & 0x7F for byte in data[:4096]).decode("ascii")
    lead_end = data[-1] % (len(ascii_text) + 2) if data else 0
    for start, end in ((0, len(ascii_text)), (pos, lead_end)):
        if card_matches(ascii_text, start, end, _LONG_FIRST) != list(card_candidates(ascii_text, start, end)):
            raise AssertionError("the C card candidates and the regexes disagree")


def test_one_input(data: bytes) -> None:
    check_digit_runs(data)
    _spans.span_ranges(data)  # the redaction prefilter's reader: must not crash on anything
    check_rows(data)
    check_traces(data)
    check_ids(data)
    check_records(data)
    check_store_rows(data)
    done = NATIVE.redact(data)
    if done is None:
        return
    try:
        parsed = ExportTraceServiceRequest.FromString(data)
    except DecodeError as error:
        raise AssertionError("the native walk accepted bytes upb refuses") from error
    expected = REFERENCE.redact(parsed)
    payload, result = done
    if payload != parsed.SerializeToString() or result.findings != expected.findings:
        raise AssertionError("the native walk and the reference disagree")


def seeds(directory: Path, count: int = 8) -> None:
    """Small seeded requests (the first spans of the mix), one file each."""
    rng = random.Random(99)
    for index in range(count):
        message = request(rng)
        for resource_spans in message.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                del scope_spans.spans[2:]
        (directory / f"seed-{index}").write_bytes(message.SerializeToString())


def main() -> None:
    corpora = [argument for argument in sys.argv[1:] if not argument.startswith("-")]
    if not corpora:
        directory = Path(tempfile.mkdtemp(prefix="failpath-fuzz-"))
        seeds(directory)
        sys.argv.append(str(directory))
    else:
        for corpus in corpora:
            Path(corpus).mkdir(parents=True, exist_ok=True)
            if not any(Path(corpus).iterdir()):
                seeds(Path(corpus))
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
