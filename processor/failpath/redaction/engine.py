"""Scan many values at once: a multi-pattern prefilter over all of them, exact confirmation on the hits.

Engines, fastest first, all giving the same findings:
- Hyperscan (Vectorscan; x86-64 and macOS arm64 wheels): every detector's prefilter in one database, the
  values of a whole request scanned as one buffer; only flagged (value, detector) pairs are confirmed.
- RE2 (google-re2; also Linux aarch64): the same prefilters, lookarounds removed (which only widens them),
  in one RE2 set matched per value.
- Pure Python: each detector's keywords checked before its pattern runs; tens of times slower.
"""

import logging
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

from failpath.redaction.detectors import Detector

log = logging.getLogger("failpath.redaction")

Finding = tuple[int, int, str]  # start, end, detector name
# (value index, detector) -> where that detector's raw prefilter matches in the (ASCII) value all end, as
# (first, last) character offsets; None where not known.
Hints = Mapping[tuple[int, int], tuple[int, int] | None]
SEPARATOR = "\x00"


class Scanner(Protocol):
    name: str

    def scan(self, values: Sequence[str]) -> dict[int, list[Finding]]:
        """Findings per index of values (indexes without any are absent)."""
        ...


def _starts(sizes: Iterable[int]) -> list[int]:
    """Where each piece begins in a buffer of pieces joined by one separator byte."""
    starts: list[int] = []
    position = 0
    for size in sizes:
        starts.append(position)
        position += size + 1
    return starts


def _piece(starts: list[int], end: int) -> int:
    """Index of the piece a match ending at `end` belongs to."""
    return bisect_right(starts, max(end - 1, 0)) - 1


def _confirm(detector: Detector, text: str, into: list[Finding], near: tuple[int, int] | None = None) -> None:
    """near: where every end of the detector's raw prefilter matches in text lies (Detector.near), if known."""
    spans = detector.find(text) if near is None or detector.near is None else detector.near(text, *near)
    into.extend((start, end, detector.name) for start, end in spans)


class PythonScanner:
    name = "python"

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self._detectors = detectors

    def scan(self, values: Sequence[str]) -> dict[int, list[Finding]]:
        found: dict[int, list[Finding]] = {}
        for index, text in enumerate(values):
            lowered = text.lower()
            findings: list[Finding] = []
            for detector in self._detectors:
                if not detector.keywords or any(word in lowered for word in detector.keywords):
                    _confirm(detector, text, findings)
            if findings:
                found[index] = findings
        return found


# Extra prefilters for serialized spans (see flag_blobs), each sending its span down the full walk:
# - an HTML document;
# - a varint of 6+ bytes after the AnyValue int_value tag (0x18): an integer large enough to be a card
#   number (timestamps are fixed64 fields and never match);
# - a key-value list value (AnyValue field 6, tag 0x32, framed as a value or array item, holding entries),
#   whose nested keys the full walk puts through the key rules.
_VARINT = rb"(?:[\x00-\x7f]|[\x80-\xff]{1,3}[\x00-\x7f])"
_RAW_EXTRAS = (
    rb"<(?:!doctype\s+html|html[\s>])",
    rb"\x18[\x80-\xff]{5,}",
    rb"[\x0a\x12]" + _VARINT + rb"\x32" + _VARINT + rb"\x0a",
)
_RAW_EXTRAS_RE2 = (b"(?i)" + _RAW_EXTRAS[0], *_RAW_EXTRAS[1:])


# Prefilter matches reported through Python callbacks in one scan, before the scan stops and finishes
# piece by piece. A base64 blob or a table of digits matches a prefilter at nearly every byte: unbounded,
# that is a callback and a list entry per byte (about 1 s and 100 MB per MiB).
FLOOD = 4096


@lru_cache(maxsize=16)
def _hyperscan_database(expressions: tuple[bytes, ...], flags: tuple[int, ...]) -> Any:
    """A compiled database, shared by every scanner of the same patterns in the process (compiling the
    built-in set takes ~0.14 s, and each redaction stage holds two scanners). A database is read-only once
    compiled; each scanner scans with a scratch space of its own."""
    import hyperscan

    database = hyperscan.Database()
    database.compile(
        expressions=list(expressions), ids=list(range(len(expressions))), elements=len(expressions), flags=list(flags)
    )
    return database


class HyperscanScanner:
    name = "hyperscan"

    def __init__(self, detectors: Sequence[Detector]) -> None:
        import hyperscan

        self._hyperscan = hyperscan
        self.detectors = detectors
        base = hyperscan.HS_FLAG_PREFILTER | hyperscan.HS_FLAG_DOTALL | hyperscan.HS_FLAG_ALLOWEMPTY
        expressions = [widened(detector.prefilter, boundaries=False).encode() for detector in detectors]
        flags = [base | (hyperscan.HS_FLAG_CASELESS if d.caseless else 0) for d in detectors]
        self._database, self._scratch = self._compile(expressions, flags)
        # The same prefilters reporting once per detector and scan: for values in a flood.
        single = [flag | hyperscan.HS_FLAG_SINGLEMATCH for flag in flags]
        self._single, self._single_scratch = self._compile(expressions, single)
        raw = [*(widened(detector.prefilter, boundaries=True).encode() for detector in detectors), *_RAW_EXTRAS]
        raw_flags = [*flags, *(base | hyperscan.HS_FLAG_CASELESS for _ in _RAW_EXTRAS)]
        self._raw, self._raw_scratch = self._compile(raw, raw_flags)

    def _compile(self, expressions: list[bytes], flags: list[int]) -> tuple[Any, Any]:
        database = _hyperscan_database(tuple(expressions), tuple(flags))
        return database, self._hyperscan.Scratch(database)

    def _scan_capped(self, database: Any, scratch: Any, data: bytes) -> list[tuple[int, int]] | None:
        """(pattern, end) of every match, or None when there are more than FLOOD of them."""
        hits: list[tuple[int, int]] = []

        def on_match(pattern: int, start: int, end: int, flags: int, context: object) -> bool:
            hits.append((pattern, end))
            return len(hits) > FLOOD  # True stops the scan

        try:
            database.scan(data, match_event_handler=on_match, scratch=scratch)
        except self._hyperscan.ScanTerminated:
            return None
        return hits

    def flag_blobs(self, blobs: Sequence[bytes]) -> set[int]:
        """Indexes of serialized messages in which any prefilter fires. A message with none cannot hold a
        finding (prefilters are supersets of their detectors, and every string of a message is in its bytes),
        nor HTML, nor an integer that could be a card number."""
        if not blobs:
            return set()
        hits = self._scan_capped(self._raw, self._raw_scratch, b"\x00".join(blobs))
        if hits is None:
            return {index for index, blob in enumerate(blobs) if self._fires(blob)}
        if not hits:
            return set()
        starts = _starts(map(len, blobs))
        return {_piece(starts, end) for _, end in hits}

    def _fires(self, blob: bytes) -> bool:
        """Whether any prefilter matches in blob; stops at the first match."""
        try:
            self._raw.scan(blob, match_event_handler=lambda *_: True, scratch=self._raw_scratch)
        except self._hyperscan.ScanTerminated:
            return True
        return False

    def request_matches(self, data: bytes) -> list[tuple[int, int]] | None:
        """(pattern, end) of every raw prefilter match in a serialized request, or None when there are more
        than FLOOD. A detector's pattern is its index; the extras (HTML, card integers, key-value lists) come
        after them. The raw patterns hold no anchors or word boundaries, so a match inside one span or value
        is reported whatever bytes surround it."""
        return self._scan_capped(self._raw, self._raw_scratch, data)

    def flagged_pairs(self, values: Sequence[str]) -> set[tuple[int, int]]:
        """(value index, detector) for every detector whose prefilter fires in a value."""
        joined = SEPARATOR.join(values)
        if joined.isascii():
            data, sizes = joined.encode("ascii"), [len(text) for text in values]
        else:
            encoded = [text.encode() for text in values]
            data, sizes = SEPARATOR.encode().join(encoded), [len(piece) for piece in encoded]
        hits = self._scan_capped(self._database, self._scratch, data)
        if hits is not None:
            starts = _starts(sizes)
            return {(_piece(starts, end), detector) for detector, end in hits}
        pairs: set[tuple[int, int]] = set()
        for index, text in enumerate(values):

            def on_match(detector: int, start: int, end: int, flags: int, context: object, index: int = index) -> None:
                pairs.add((index, detector))

            self._single.scan(text.encode(), match_event_handler=on_match, scratch=self._single_scratch)
        return pairs

    def scan(self, values: Sequence[str]) -> dict[int, list[Finding]]:
        if not values:
            return {}
        return self.confirm(values, dict.fromkeys(self.flagged_pairs(values)))

    def confirm(self, values: Sequence[str], pairs: Hints) -> dict[int, list[Finding]]:
        """Findings of each (value index, detector) pair: a pair no detector confirms costs a look, nothing more.
        Each pair maps to where the detector's raw prefilter matches in the value all end, if known (_confirm)."""
        found: dict[int, list[Finding]] = {}
        for (index, detector), near in sorted(pairs.items()):
            findings = found.setdefault(index, [])
            _confirm(self.detectors[detector], values[index], findings, near)
            if not findings:
                del found[index]
        return found


def _class_end(pattern: str, index: int) -> int:
    """Index just past the character class that starts at pattern[index] == "["."""
    index += 1
    if pattern[index : index + 1] == "^":
        index += 1
    if pattern[index : index + 1] == "]":
        index += 1  # a leading ] is a literal
    while pattern[index] != "]":
        index += 2 if pattern[index] == "\\" else 1
    return index + 1


def _group_end(pattern: str, index: int) -> int:
    """Index just past the group that starts at pattern[index] == "("."""
    depth = 0
    while True:
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":
            index = _class_end(pattern, index)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1


def widened(pattern: str, boundaries: bool) -> str:
    """The pattern without lookarounds ((?=...), (?!...), (?<=...), (?<!...): RE2 has none), anchors (^, $,
    \\A, \\z, \\Z) and, with boundaries, word boundaries (\\b, \\B). Dropping one only lets the pattern
    match more, which a prefilter may do. Anchors hold at a value's edges but not inside a buffer of values
    joined together; word boundaries hold there (the separator is not a word character) but not in a
    serialized span, where a value's length byte or the next field's tag can be a letter or a digit."""
    dropped = "AzZbB" if boundaries else "AzZ"
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            end = index + 2
            if pattern[index + 1] in dropped:
                index = end
                continue
        elif char == "[":
            end = _class_end(pattern, index)
        elif pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), index):
            index = _group_end(pattern, index)
            continue
        elif char in "^$":
            index += 1
            continue
        else:
            end = index + 1
        out.append(pattern[index:end])
        index = end
    return "".join(out)


class Re2Scanner:
    name = "re2"

    def __init__(self, detectors: Sequence[Detector]) -> None:
        import re2

        self._detectors = detectors
        self._set = self._compile(re2, [self._re2(d, False) for d in detectors], re2.Options.Encoding.UTF8)
        # Serialized spans are bytes, not text: Latin-1 mode matches them byte by byte.
        raw = [self._re2(d, True) for d in detectors] + [extra.decode("latin-1") for extra in _RAW_EXTRAS_RE2]
        self._raw_set = self._compile(re2, raw, re2.Options.Encoding.LATIN1)

    @staticmethod
    def _re2(detector: Detector, boundaries: bool) -> str:
        return ("(?is)" if detector.caseless else "(?s)") + widened(detector.prefilter, boundaries)

    @staticmethod
    def _compile(re2: Any, patterns: list[str], encoding: Any) -> Any:
        options = re2.Options()
        options.encoding = encoding
        options.max_mem = 256 << 20
        options.log_errors = False
        compiled = re2.Set.SearchSet(options)
        for pattern in patterns:
            if compiled.Add(pattern) < 0:
                raise ValueError(f"RE2 cannot compile prefilter {pattern!r}")
        compiled.Compile()
        return compiled

    def scan(self, values: Sequence[str]) -> dict[int, list[Finding]]:
        found: dict[int, list[Finding]] = {}
        match, detectors = self._set.Match, self._detectors
        for index, text in enumerate(values):
            flagged = match(text)
            if flagged:
                findings: list[Finding] = []
                for detector in flagged:
                    _confirm(detectors[detector], text, findings)
                if findings:
                    found[index] = findings
        return found

    def flag_blobs(self, blobs: Sequence[bytes]) -> set[int]:
        match = self._raw_set.Match
        return {index for index, blob in enumerate(blobs) if match(blob.decode("latin-1"))}


def build_scanner(detectors: Sequence[Detector], engine: str = "auto") -> Scanner:
    """engine: auto (the fastest installed), hyperscan or re2 (that one, required), or python."""
    if engine in ("auto", "hyperscan"):
        try:
            return HyperscanScanner(detectors)
        except ImportError:
            if engine == "hyperscan":
                raise
    if engine in ("auto", "re2"):
        try:
            scanner = Re2Scanner(detectors)
        except ImportError:
            if engine == "re2":
                raise
        else:
            if engine == "auto":
                log.info("hyperscan is not installed; redaction uses RE2")
            return scanner
    if engine == "auto":
        log.warning("neither hyperscan nor google-re2 is installed; redaction uses the slow pure-Python scanner")
    return PythonScanner(detectors)
