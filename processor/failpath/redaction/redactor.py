"""Walks every string of an ExportTraceServiceRequest, scans them all at once, and writes back the results.

Visited: resource and scope attributes, scope names and versions, schema URLs, span names, W3C trace state
(span and link), status messages, span attributes, event names and attributes, link attributes, and strings
nested in arrays and key-value lists, and UTF-8 bytes values. Integers that could be card numbers are checked
too. Key rules decide per attribute: keep, drop, hash, summarize, or scan.
"""

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from failpath.redaction import html_summary
from failpath.redaction.card_networks import is_card_number
from failpath.redaction.detectors import CARD_NUMBER
from failpath.redaction.engine import Finding, Hints, HyperscanScanner, Scanner
from failpath.redaction.html_summary import HTML_FIRST_CHARS, looks_like_html
from failpath.redaction.key_rules import KeyAction, KeyRules
from failpath.redaction.pseudonyms import Pseudonymizer

_SMALLEST_CARD = 10**11

# Scanned past the cut of a long value: a secret that starts before the cut and is shorter than this is
# found whole (the built-in detectors' secrets are far shorter; PEM blocks match to the end of the text).
_CUT_MARGIN = 4096

# Counter names written as redaction.<name>.count on the span (or resource, scope) they happened in.
MASKED, DROPPED, HASHED, SUMMARIZED, TRUNCATED = "masked", "redacted", "hashed", "summarized", "truncated"


class RedactionResult:
    """What one request's redaction did, for metrics (never values or key names)."""

    def __init__(self) -> None:
        self.findings: Counter[str] = Counter()
        self.actions: Counter[str] = Counter()
        # Bytes the multi-pattern engine looked at: serialized spans in the fast path, values in the full walk.
        self.scanned_bytes = 0


class Walk:
    """One request's strings, where each came from, and what happened where."""

    __slots__ = (
        "changed",
        "counted",
        "counts",
        "digests",
        "html_values",
        "keys",
        "long_values",
        "owners",
        "raw_bytes",
        "slots",
        "summarize",
        "values",
    )

    def __init__(self) -> None:
        self.values: list[str] = []
        # (message, field, owner, label) for each value: where to write the result, whose counters to bump,
        # and the attribute key (or "span.name", ...) for the opt-in list of affected keys. The native walk's
        # slots are (start, end, owner, field kind) instead: it never lists keys (span_keys is reference-only).
        self.slots: list[tuple[Any, Any, int, Any]] = []
        self.summarize: set[int] = set()
        # The keyed digests of values to summarize, where already computed (the native walk does it in C).
        self.digests: dict[int, str] = {}
        # Values rewritten before the scan (HTML summaries): written back even without findings.
        self.changed: set[int] = set()
        self.owners: list[Any] = []
        self.counts: dict[int, dict[str, int]] = {}
        # Affected keys per owner and action; filled only when span_keys is on.
        self.keys: dict[int, dict[str, set[str]]] | None = None
        # Owners that already carry redaction.*.count attributes (from a failpath earlier in the chain).
        self.counted: set[int] = set()
        self.raw_bytes = 0
        # From the native walk, which lists only the values something reads: the indexes of the values that may
        # be HTML (by their first character) and of those longer than max_value_chars. None: look at each value.
        self.html_values: list[int] | None = None
        self.long_values: list[int] | None = None

    def count(self, owner: int, what: str, amount: int = 1, key: str = "") -> None:
        counts = self.counts.get(owner)
        if counts is None:
            self.counts[owner] = {what: amount}
        else:
            counts[what] = counts.get(what, 0) + amount
        if self.keys is not None and key:
            self.keys.setdefault(owner, {}).setdefault(what, set()).add(key)


class Redactor:
    def __init__(
        self,
        scanner: Scanner,
        rules: KeyRules,
        pseudonyms: Pseudonymizer,
        max_value_chars: int,
        max_scan_chars: int,
        summarize_html: bool,
        span_counts: bool,
        flag_blobs: Callable[[Sequence[bytes]], set[int]] | None = None,
        span_keys: bool = False,
    ) -> None:
        """flag_blobs (multi-pattern engines only): which serialized spans any prefilter fires in; the others
        skip the full walk and only get their key rules applied."""
        # Read by the native walk too (native_redactor.py), which must decide exactly as this does.
        self.flag_blobs = flag_blobs
        self.rules = rules
        self.pseudonyms = pseudonyms
        self.max_value_chars = max_value_chars
        self.span_counts = span_counts
        self.span_keys = span_keys
        self.scanner = scanner
        self._max_scan_chars = max_scan_chars
        self._summarize_html = summarize_html

    # -- walking (the hot path: locals and inlined appends on purpose) ----------------------------------------
    def _attributes(self, walk: Walk, attributes: Any, owner: int, clean: bool = False) -> None:
        """Apply key rules; collect strings to scan. clean: the values are known to hold nothing to find
        (fast path), so there is nothing to collect and content is summarized right here."""
        dropped: list[int] | None = None
        cached, action_of = self.rules.cached, self.rules.action
        values_append, slots_append = walk.values.append, walk.slots.append
        scan, keep, summarize = KeyAction.SCAN, KeyAction.KEEP, KeyAction.SUMMARIZE
        for index, kv in enumerate(attributes):
            key = kv.key
            action = cached.get(key) or action_of(key)
            if action is scan and clean:
                continue  # clean, and not a key-value list (those send their span down the full walk)
            if action is keep:
                continue
            if action is KeyAction.COUNTER:
                if kv.value.WhichOneof("value") == "int_value":
                    walk.counted.add(owner)
                    continue
                action = scan  # a counter key holding anything else is scanned like any value
                if clean:
                    continue
            if action is KeyAction.DROP:
                if dropped is None:
                    dropped = []
                dropped.append(index)
                continue
            value = kv.value
            text = value.string_value
            if not text:
                self._other_value(walk, value, action, owner, key)
            elif action is scan:
                values_append(text)
                slots_append((value, "string_value", owner, key))
            elif action is summarize:
                if clean:
                    value.string_value = self._summary(text, ())
                    walk.count(owner, SUMMARIZED, key=key)
                else:
                    walk.summarize.add(len(walk.values))
                    values_append(text)
                    slots_append((value, "string_value", owner, key))
            else:
                value.string_value = f"<hashed:{self.pseudonyms.digest_text(text)}>"
                walk.count(owner, HASHED, key=key)
        if dropped:
            for index in reversed(dropped):
                walk.count(owner, DROPPED, key=attributes[index].key)
                del attributes[index]

    def _other_value(self, walk: Walk, value: AnyValue, action: KeyAction, owner: int, key: str) -> None:
        kind = value.WhichOneof("value")
        if kind in (None, "string_value", "bool_value", "double_value"):
            return
        if kind == "bytes_value" and action is KeyAction.SCAN:
            # Bytes that are UTF-8 text are scanned as text (and written back as bytes); binary is left alone.
            try:
                text = value.bytes_value.decode("utf-8")
            except UnicodeDecodeError:
                return
            walk.values.append(text)
            walk.slots.append((value, "bytes_value", owner, key))
            return
        if action is not KeyAction.SCAN:
            # Summarize or hash a non-string value whole: its parts are never looked at again.
            digest = self.pseudonyms.digest(value.SerializeToString())
            if action is KeyAction.SUMMARIZE:
                value.string_value = f"<summary:type={kind.removesuffix('_value')}:hmac={digest}>"
                walk.count(owner, SUMMARIZED, key=key)
            else:
                value.string_value = f"<hashed:{digest}>"
                walk.count(owner, HASHED, key=key)
        elif kind == "int_value":
            token = self.card_token(value.int_value)
            if token is not None:
                value.string_value = token
                walk.count(owner, MASKED, key=key)
        elif kind == "array_value":
            for item in value.array_value.values:
                text = item.string_value
                if text:
                    walk.values.append(text)
                    walk.slots.append((item, "string_value", owner, key))
                else:
                    self._other_value(walk, item, action, owner, key)
        elif kind == "kvlist_value":
            self._attributes(walk, value.kvlist_value.values, owner)

    def _collect(self, walk: Walk, request: ExportTraceServiceRequest) -> None:
        attributes, owners = self._attributes, walk.owners
        values_append, slots_append = walk.values.append, walk.slots.append
        spans: list[tuple[Any, int]] = []
        for resource_spans in request.resource_spans:
            resource = resource_spans.resource
            owners.append(resource)
            owner = len(owners) - 1
            attributes(walk, resource.attributes, owner)
            self._strings(walk, resource_spans, ("schema_url",), owner, "resource.schema_url")
            for scope_spans in resource_spans.scope_spans:
                scope = scope_spans.scope
                owners.append(scope)
                owner = len(owners) - 1
                self._strings(walk, scope, ("name", "version"), owner, "scope.")
                self._strings(walk, scope_spans, ("schema_url",), owner, "scope.")
                attributes(walk, scope.attributes, owner)
                for span in scope_spans.spans:
                    owners.append(span)
                    spans.append((span, len(owners) - 1))
        clean = self._clean_spans(walk, spans)
        for index, (span, owner) in enumerate(spans):
            if index in clean:
                self._rules_only(walk, span, owner)
                continue
            values_append(span.name)
            slots_append((span, "name", owner, "span.name"))
            if span.trace_state:
                values_append(span.trace_state)
                slots_append((span, "trace_state", owner, "span.trace_state"))
            status = span.status
            message = status.message
            if message:
                values_append(message)
                slots_append((status, "message", owner, "status.message"))
            attributes(walk, span.attributes, owner)
            for event in span.events:
                values_append(event.name)
                slots_append((event, "name", owner, "event.name"))
                attributes(walk, event.attributes, owner)
            for link in span.links:
                self._strings(walk, link, ("trace_state",), owner, "link.")
                attributes(walk, link.attributes, owner)

    @staticmethod
    def _strings(walk: Walk, message: Any, fields: tuple[str, ...], owner: int, label: str) -> None:
        """Plain string fields (names, versions, schema URLs, W3C trace state) that are set. label: the
        key they are reported under, or a prefix ending in "." for the field name."""
        for field in fields:
            text = getattr(message, field)
            if text:
                walk.values.append(text)
                walk.slots.append((message, field, owner, label + field if label.endswith(".") else label))

    def _clean_spans(self, walk: Walk, spans: Sequence[tuple[Any, int]]) -> set[int]:
        """Spans that provably hold nothing to find: no prefilter fires in their bytes, and they are too
        small to hold a value over the length limit."""
        if self.flag_blobs is None or not spans:
            return set()
        limit = self.max_value_chars
        # Bigger spans take the full walk whatever their bytes hold: they are not scanned here.
        small = [
            (index, blob) for index, (span, _) in enumerate(spans) if len(blob := span.SerializeToString()) <= limit
        ]
        walk.raw_bytes = sum(len(blob) for _, blob in small)
        flagged = self.flag_blobs([blob for _, blob in small])
        return {index for position, (index, _) in enumerate(small) if position not in flagged}

    def _rules_only(self, walk: Walk, span: Any, owner: int) -> None:
        self._attributes(walk, span.attributes, owner, clean=True)
        for event in span.events:
            self._attributes(walk, event.attributes, owner, clean=True)
        for link in span.links:
            self._attributes(walk, link.attributes, owner, clean=True)

    # -- rewriting -------------------------------------------------------------------------------------------
    def _masked(self, text: str, findings: Sequence[Finding]) -> str:
        """Replace each finding; overlapping findings merge into one replacement (named for the first)."""
        parts: list[str] = []
        position = 0
        merged_end = -1
        rule = ""
        start = 0
        for found_start, found_end, found_rule in sorted(findings):
            if found_start < merged_end:
                merged_end = max(merged_end, found_end)
                continue
            if merged_end >= 0:
                parts.append(text[position:start])
                parts.append(self.pseudonyms.token(rule, text[start:merged_end]))
                position = merged_end
            start, merged_end, rule = found_start, found_end, found_rule
        parts.append(text[position:start])
        parts.append(self.pseudonyms.token(rule, text[start:merged_end]))
        parts.append(text[merged_end:])
        return "".join(parts)

    def _summary(
        self, text: str, findings: Sequence[Finding], scanned: int | None = None, digest: str | None = None
    ) -> str:
        """scanned: how many leading characters the hits come from, when not the whole text; digest: the
        text's, if known."""
        if findings:
            hits = Counter(rule for _, _, rule in findings)
            listed = ",".join(f"{rule}*{n}" if n > 1 else rule for rule, n in sorted(hits.items()))
        else:
            listed = "none"
        digest = digest or self.pseudonyms.digest_text(text)
        partial = f":scanned={scanned}" if scanned is not None else ""
        return f"<summary:chars={len(text)}:hmac={digest}:hits={listed}{partial}>"

    def _html_summaries(self, walk: Walk) -> None:
        """Reduce HTML documents to a summary whose title is still scanned like any other text. Title and
        visible text come from the first max_scan_chars characters (noted as :scanned=N when that is not all)."""
        bound = self._max_scan_chars
        values = walk.values
        # a comprehension first: most values cannot be HTML by their first character, and a call per value costs
        candidates = walk.html_values
        if candidates is None:
            candidates = [index for index, text in enumerate(values) if text[:1] in HTML_FIRST_CHARS]
        for index in candidates:
            text = values[index]
            if index not in walk.summarize and looks_like_html(text):
                head = text[:bound]
                title = " ".join(html_summary.title(head).split())[:200]
                digest = self.pseudonyms.digest_text(text)
                visible = html_summary.visible_chars(head)
                partial = f":scanned={bound}" if len(text) > bound else ""
                walk.values[index] = (
                    f'<html:title="{title}":chars={len(text)}:text_chars={visible}:hmac={digest}{partial}>'
                )
                walk.changed.add(index)
                walk.count(walk.slots[index][2], SUMMARIZED, key=walk.slots[index][3])

    def _bound_long_values(self, walk: Walk) -> dict[int, str]:
        """Shorten what the scanners see of long values, so no value costs more than a bounded scan; returns
        the originals of the values shortened. A value to be cut keeps its first max_value_chars characters
        plus a margin (so a secret across the cut is still found whole); a summarized one (whose text is
        never kept) is scanned up to max_scan_chars for its list of hits."""
        originals: dict[int, str] = {}
        values, limit, scan_limit = walk.values, self.max_value_chars, self._max_scan_chars
        # the native walk lists the long values; an HTML summary written since may be long too
        indexes = range(len(values)) if walk.long_values is None else sorted({*walk.long_values, *walk.changed})
        for index in indexes:
            text = values[index]
            if len(text) <= limit:
                continue
            bound = scan_limit if index in walk.summarize else limit + _CUT_MARGIN
            if len(text) > bound:
                originals[index] = text
                values[index] = text[:bound]
            elif index not in walk.summarize:
                originals[index] = text
        return originals

    def redact(self, request: ExportTraceServiceRequest) -> RedactionResult:
        result = RedactionResult()
        walk = Walk()
        if self.span_keys:
            walk.keys = {}
        self._collect(walk, request)
        for index, text in self.rewrite(walk, result):
            message, field, _, _ = walk.slots[index]
            setattr(message, field, text.encode() if field == "bytes_value" else text)
        for owner, counts in walk.counts.items():
            result.actions.update(counts)
            if self.span_counts:
                keys = walk.keys.get(owner) if walk.keys is not None else None
                self._write_counts(walk.owners[owner].attributes, counts, owner in walk.counted, keys)
        return result

    def rewrite(self, walk: Walk, result: RedactionResult, flagged: Hints | None = None) -> list[tuple[int, str]]:
        """Scan the collected values; returns (index, new text) of each value to write back, and counts what
        it did in walk (findings in result). Shared with the native walk, whose slots are byte offsets.
        flagged (Hyperscan only): the (value, detector) pairs the request's raw scan found, which stand for
        scanning the values again, except those rewritten here (HTML summaries), which are scanned anew; each
        with where its raw matches end in the value, when known (HyperscanScanner.confirm)."""
        if self._summarize_html:
            self._html_summaries(walk)
        originals = self._bound_long_values(walk)
        values = walk.values
        if flagged is None or not isinstance(self.scanner, HyperscanScanner):
            result.scanned_bytes = walk.raw_bytes + sum(map(len, values))
            found = self.scanner.scan(values)
        else:
            rescanned = sorted(walk.changed)
            result.scanned_bytes = walk.raw_bytes + sum(len(values[index]) for index in rescanned)
            fresh = self.scanner.flagged_pairs([values[index] for index in rescanned]) if rescanned else set()
            pairs = {pair: near for pair, near in flagged.items() if pair[0] not in walk.changed}
            pairs.update(((rescanned[position], detector), None) for position, detector in fresh)
            found = self.scanner.confirm(values, pairs)
        # Only values with findings, summaries, rewrites or excess length need any more work.
        todo = found.keys() | walk.summarize | walk.changed | originals.keys()
        writes: list[tuple[int, str]] = []
        rules: list[str] = []  # counted once at the end: a Counter update per value costs more than the rest
        for index in sorted(todo):
            _, _, owner, label = walk.slots[index]
            text = values[index]
            findings = found.get(index, ())
            original = originals.get(index)
            if index in walk.summarize:
                partial = len(text) if original is not None else None
                text = self._summary(original or text, findings, partial, walk.digests.get(index))
                walk.count(owner, SUMMARIZED, key=label)
            elif original is not None:
                findings = [finding for finding in findings if finding[0] < self.max_value_chars]
                text = self._cut(original, text, findings)
                if findings:
                    walk.count(owner, MASKED, len(findings), key=label)
                walk.count(owner, TRUNCATED, key=label)
            elif findings:
                text = self._masked(text, findings)
                walk.count(owner, MASKED, len(findings), key=label)
            writes.append((index, text))
            rules.extend(rule for _, _, rule in findings)
        result.findings.update(rules)
        return writes

    def card_token(self, number: int) -> str | None:
        """The pseudonym replacing an integer attribute that is a card number, or None."""
        digits = str(abs(number))
        if abs(number) >= _SMALLEST_CARD and CARD_NUMBER.fullmatch(digits) and is_card_number(digits):
            return self.pseudonyms.token("credit_card", digits)
        return None

    def _cut(self, original: str, scanned: str, findings: Sequence[Finding]) -> str:
        """The first max_value_chars characters of a long value, redacted (findings are those starting before
        the cut; one running across it is replaced whole), then a marker with the whole value's length and
        keyed hash."""
        end = max((finding_end for _, finding_end, _ in findings), default=self.max_value_chars)
        end = max(end, self.max_value_chars)
        kept = self._masked(scanned[:end], findings) if findings else scanned[:end]
        digest = self.pseudonyms.digest_text(original)
        return f"{kept}<truncated:chars={len(original)}:hmac={digest}>"

    @staticmethod
    def _write_counts(
        attributes: Any, counts: dict[str, int], has_counts: bool, keys: dict[str, set[str]] | None
    ) -> None:
        """redaction.<what>.count (and with span_keys, redaction.<what>.keys), added to what an earlier
        failpath in the chain wrote."""
        merge = has_counts or keys is not None
        existing = {kv.key: kv for kv in attributes if kv.key.startswith("redaction.")} if merge else {}
        for what, amount in sorted(counts.items()):
            key = f"redaction.{what}.count"
            if key in existing:
                existing[key].value.int_value += amount
            else:
                added = attributes.add()
                added.key = key
                added.value.int_value = amount
            if keys and what in keys:
                key = f"redaction.{what}.keys"
                listed = keys[what]
                if key in existing:
                    listed = listed | set(filter(None, existing[key].value.string_value.split(",")))
                    existing[key].value.string_value = ",".join(sorted(listed))
                else:
                    added = attributes.add()
                    added.key = key
                    added.value.string_value = ",".join(sorted(listed))
