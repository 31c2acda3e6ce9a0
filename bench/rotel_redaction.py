"""A Python trace processor for Rotel (rotel-agent --otlp-with-trace-processor): four regexes (e-mail, phone,
API key, card-like number) over every span attribute's string value, matches masked. The reference point
the issue's table names "Rotel + a 4-regex Python redaction processor"; bench/throughput.py --rotel runs it.
Rotel imports it and calls process_spans for every ResourceSpans it receives."""

import re

from rotel_sdk.open_telemetry.common.v1 import AnyValue  # type: ignore[import-not-found]
from rotel_sdk.open_telemetry.trace.v1 import ResourceSpans  # type: ignore[import-not-found]

_PATTERNS = re.compile(
    r"[\w.+-]+@[\w-]+\.[\w.-]+"  # e-mail
    r"|\+?\d[\d ().-]{7,}\d"  # phone
    r"|(?:sk|pk|ghp|xox[bp])[-_][A-Za-z0-9_-]{16,}"  # API key
    r"|\b(?:\d[ -]?){13,16}\b"  # card-like number
)


def process_spans(resource_spans: ResourceSpans) -> None:
    for scope_spans in resource_spans.scope_spans:
        for span in scope_spans.spans:
            attributes = span.attributes
            for attribute in attributes:
                value = attribute.value.value
                if isinstance(value, str) and _PATTERNS.search(value):
                    attribute.value = AnyValue(_PATTERNS.sub("<redacted>", value))
            span.attributes = attributes
