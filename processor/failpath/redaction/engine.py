"""Scan many values at once: a multi-pattern prefilter over all of them, exact confirmation on the hits.

With Hyperscan (Vectorscan) installed, every detector's prefilter is compiled into one database and the
values of a whole request are scanned as one buffer; only (value, detector) pairs it flags are confirmed in
Python. Without it, a pure-Python fallback checks each detector's keywords before running its pattern:
the same findings, several times slower.
"""

import logging
from bisect import bisect_right
from collections.abc import Sequence
from typing import Protocol

from failpath.redaction.detectors import Detector

log = logging.getLogger("failpath.redaction")

Finding = tuple[int, int, str]  # start, end, detector name
SEPARATOR = "\x00"


class Scanner(Protocol):
    name: str

    def scan(self, values: Sequence[str]) -> dict[int, list[Finding]]:
        """Findings per index of values (indexes without any are absent)."""
        ...


def _confirm(detector: Detector, text: str, into: list[Finding]) -> None:
    into.extend((start, end, detector.name) for start, end in detector.find(text))


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


class HyperscanScanner:
    name = "hyperscan"

    def __init__(self, detectors: Sequence[Detector]) -> None:
        import hyperscan

        self._detectors = detectors
        base = hyperscan.HS_FLAG_PREFILTER | hyperscan.HS_FLAG_DOTALL | hyperscan.HS_FLAG_ALLOWEMPTY
        expressions = [detector.prefilter.encode() for detector in detectors]
        flags = [base | (hyperscan.HS_FLAG_CASELESS if d.caseless else 0) for d in detectors]
        self._database = hyperscan.Database()
        self._database.compile(
            expressions=expressions, ids=list(range(len(detectors))), elements=len(detectors), flags=flags
        )
        self._scratch = hyperscan.Scratch(self._database)
        raw = [*expressions, *_RAW_EXTRAS]
        raw_flags = [*flags, *(base | hyperscan.HS_FLAG_CASELESS for _ in _RAW_EXTRAS)]
        self._raw = hyperscan.Database()
        self._raw.compile(expressions=raw, ids=list(range(len(raw))), elements=len(raw), flags=raw_flags)
        self._raw_scratch = hyperscan.Scratch(self._raw)

    def flag_blobs(self, blobs: Sequence[bytes]) -> set[int]:
        """Indexes of serialized messages in which any prefilter fires. A message with none cannot hold a
        finding (prefilters are supersets of their detectors, and every string of a message is in its bytes),
        nor HTML, nor an integer that could be a card number."""
        if not blobs:
            return set()
        ends: list[int] = []

        def on_match(pattern: int, start: int, end: int, flags: int, context: object) -> None:
            ends.append(end)

        self._raw.scan(b"\x00".join(blobs), match_event_handler=on_match, scratch=self._raw_scratch)
        if not ends:
            return set()
        starts: list[int] = []
        position = 0
        for blob in blobs:
            starts.append(position)
            position += len(blob) + 1
        return {bisect_right(starts, max(end - 1, 0)) - 1 for end in ends}

    def scan(self, values: Sequence[str]) -> dict[int, list[Finding]]:
        if not values:
            return {}
        joined = SEPARATOR.join(values)
        hits: list[tuple[int, int]] = []

        def on_match(detector: int, start: int, end: int, flags: int, context: object) -> None:
            hits.append((detector, end))

        ascii_only = joined.isascii()
        if ascii_only:
            data = joined.encode("ascii")
        else:
            encoded = [text.encode("utf-8", "surrogatepass") for text in values]
            data = SEPARATOR.encode().join(encoded)
        self._database.scan(data, match_event_handler=on_match, scratch=self._scratch)
        if not hits:
            return {}
        # Offsets of each value's first byte in the buffer, to map a match end back to its value.
        starts: list[int] = []
        position = 0
        for size in (len(text) for text in values) if ascii_only else (len(chunk) for chunk in encoded):
            starts.append(position)
            position += size + 1
        pairs = {(bisect_right(starts, max(end - 1, 0)) - 1, detector) for detector, end in hits}
        found: dict[int, list[Finding]] = {}
        for index, detector in sorted(pairs):
            findings = found.setdefault(index, [])
            _confirm(self._detectors[detector], values[index], findings)
            if not findings:
                del found[index]
        return found


def build_scanner(detectors: Sequence[Detector], engine: str = "auto") -> Scanner:
    """engine: auto (Hyperscan when importable), hyperscan (required), or python."""
    if engine in ("auto", "hyperscan"):
        try:
            return HyperscanScanner(detectors)
        except ImportError:
            if engine == "hyperscan":
                raise
            log.warning("hyperscan is not installed; redaction uses the slower pure-Python scanner")
    return PythonScanner(detectors)
