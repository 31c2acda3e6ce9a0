"""Redaction on the serialized request, with the per-attribute and per-byte work in C (_native.c).

The extension walks the request's bytes once: key rules by key bytes, drops, hashes and the summaries of
spans no prefilter fires in written as edits, every other string handed back with its offsets. Python then
does what the reference does with those values (Redactor.rewrite: HTML summaries, long values, scanning,
confirmation, replacements), and the extension splices the edits in, rewriting the length prefixes.

Redactor (upb messages) stays the reference: this gives the same bytes for every request, or None when the
request has anything the extension does not reproduce exactly (the caller then runs the reference).
"""

from functools import lru_cache

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from failpath.otlp import wire
from failpath.otlp.native import span_ranges
from failpath.redaction import _native
from failpath.redaction.engine import HyperscanScanner
from failpath.redaction.key_rules import KeyAction
from failpath.redaction.redactor import DROPPED, HASHED, MASKED, SUMMARIZED, RedactionResult, Redactor, Walk

# The extension's action and counter codes (_native.c: A_*, C_*).
_ACTION_CODES = {
    KeyAction.SCAN: 0,
    KeyAction.KEEP: 1,
    KeyAction.COUNTER: 2,
    KeyAction.DROP: 3,
    KeyAction.HASH: 4,
    KeyAction.SUMMARIZE: 5,
}
_COUNTERS = (DROPPED, HASHED, SUMMARIZED)


@lru_cache(maxsize=4096)
def _counter(attributes_field: int, what: str, amount: int) -> bytes:
    """A redaction.<what>.count attribute, as the attributes field of its owner's message."""
    counter = KeyValue(key=f"redaction.{what}.count", value=AnyValue(int_value=amount))
    return wire.numbered_field(attributes_field, counter.SerializeToString())


class NativeRedactor:
    def __init__(self, reference: Redactor) -> None:
        """reference: the redactor whose rules, keys, scanner and limits this applies (not span_keys, which
        only the reference writes)."""
        if reference.span_keys:
            raise ValueError("span_keys is written by the reference path only")
        rules = reference.rules
        self._reference = reference
        self._table = _native.KeyTable(lambda key: _ACTION_CODES[rules.action(key)])
        self._digest_key = reference.pseudonyms.digest_key
        self._max_chars = reference.max_value_chars
        self._span_counts = reference.span_counts
        # As the reference's fast path: None makes every span take the full walk.
        self._flag_blobs = reference.flag_blobs
        scanner = reference.scanner
        # Hyperscan reports where each match ends: one scan of the request's bytes then tells both which
        # spans need the full walk and which values each detector must look at (Redactor.rewrite).
        self._scanner = scanner if isinstance(scanner, HyperscanScanner) else None
        self._detectors = len(scanner.detectors) if isinstance(scanner, HyperscanScanner) else 0

    def redact(self, data: bytes) -> tuple[bytes, RedactionResult] | None:
        """The redacted request's bytes and what was done, or None: take the reference path."""
        matches = self._scanner.request_matches(data) if self._scanner is not None else None
        if matches is not None:
            # The walk places each match in its span (which then takes the full walk) and in its value (the
            # detectors to confirm there), as Redactor._clean_spans and a scan of the values would decide.
            limit = self._max_chars if self._flag_blobs is not None else -1
            plan = _native.walk(
                data, self._table, None, self._digest_key, matches, limit, self._detectors, self._max_chars
            )
            scanned_raw = True
        else:
            dirty = self._dirty(data)
            plan = _native.walk(data, self._table, dirty, self._digest_key, None, -1, 0, self._max_chars)
            scanned_raw = dirty is not None
        if plan is None:
            return None
        values, slots, summarize, ints, edits, counts, owners, flagged, html_values, long_values = plan
        walk = Walk()
        walk.values, walk.slots, walk.summarize, walk.digests = values, slots, set(summarize), summarize
        walk.html_values, walk.long_values = html_values, long_values
        walk.raw_bytes = len(data) if scanned_raw else 0
        for owner, counter, amount in counts:
            walk.count(owner, _COUNTERS[counter], amount)
        for start, end, owner, number in ints:
            token = self._reference.card_token(number)
            if token is not None:
                edits.append((-1, start, end, AnyValue(string_value=token).SerializeToString()))
                walk.count(owner, MASKED)
        result = RedactionResult()
        for index, text in self._reference.rewrite(walk, result, flagged):
            start, end, _, _ = slots[index]
            edits.append((-1, start, end, text.encode()))
        totals: dict[str, int] = {}
        for owner, done in walk.counts.items():
            for what, amount in done.items():
                totals[what] = totals.get(what, 0) + amount
            if self._span_counts:
                container, insert, attributes_field, parent, message_field = owners[owner]
                done_in_order = sorted(done.items()) if len(done) > 1 else done.items()
                if container >= 0:
                    for what, amount in done_in_order:
                        edits.append((container, insert, insert, _counter(attributes_field, what, amount)))
                else:  # a resource or scope the request leaves out (a finding in a schema URL): added, as upb does
                    counters = b"".join(_counter(attributes_field, what, amount) for what, amount in done_in_order)
                    edits.append((parent, parent, parent, wire.numbered_field(message_field, counters)))
        result.actions.update(totals)
        return (_native.splice(data, edits) if edits else data), result

    def _dirty(self, data: bytes) -> bytearray | None:
        """Without the request's raw scan (RE2, or a flood of matches): a byte per span, 1 for the spans that
        take the full walk (some prefilter fires in them, or they are too big to be scanned whole here), as
        Redactor._clean_spans; None: all of them (also for malformed bytes, which walk() then leaves to the
        reference)."""
        if self._flag_blobs is None or span_ranges is None:
            return None
        ranges = span_ranges(data)
        if ranges is None:
            return None
        count = len(ranges) // 2
        dirty = bytearray(count)
        limit = self._max_chars
        small = []
        for index in range(count):
            if ranges[2 * index + 1] - ranges[2 * index] > limit:
                dirty[index] = 1
            else:
                small.append(index)
        blobs = [data[ranges[2 * index] : ranges[2 * index + 1]] for index in small]
        for position in self._flag_blobs(blobs) if blobs else ():
            dirty[small[position]] = 1
        return dirty
