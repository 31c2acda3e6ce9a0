"""The detectors on their own: each finds valid values and leaves look-alikes (bad checksums, numbers never
issued), and the password=/token:/api_key => detector's fast path (patterns tried only where a key can start) finds
exactly what trying every pattern everywhere finds, on assignment-shaped text and on floods of keywords."""

import base64
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from failpath.redaction.detectors import BY_NAME, Detector, find_assignments, find_assignments_by_scan

_PIECES = st.sampled_from(
    [
        "password", "secret", "token", "Token", "api_key", "db_pass", "encryption_key", "AUTH", "credentials",
        "=", ": ", " = ", ":=", "=>", "==", "!=", '"', "'", "`", '\\"', "\\\\", "\\n", "\\t", "\\T", "\n", " ",
        "  ", "\t", "\r", "-", "--", "  - ", "<password>", "</password>", "</", "<", ">", "[0]", "[]byte ",
        "string ", "hunter2Xy9", "s3cr3t!", "abc123XYZ", "mysql -u root -p", "-pS3cret", "#", "--token",
        "--db-password ", "setting ", " to ", "getenv(", ", ", ",", "!!str ", "@", "x" * 70, "public_key",
        "token_count", "é",
    ]
)  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, max_size=16).map("".join))
def test_fast_path_finds_what_the_full_scan_finds(text: str) -> None:
    assert sorted(find_assignments(text)) == sorted(find_assignments_by_scan(text))


@pytest.mark.parametrize(
    "unit",
    [
        '{"role":"tool","content":"result 17","token_count":5},',
        "pass",
        "pass ",
        "-",
        "  - password: hunter2Xy9\n",
        '\\"api_token\\": \\"s3cretS3cret\\", ',
        'getenv("api_token", "s3cretS3cret") ',
        "<password>hunter2Xy9</password> --db-password=hunter2Xy9 mysql -pS3cret x == ",
    ],
)
def test_same_findings_on_keyword_floods(unit: str) -> None:
    text = (
        (unit * (65536 // len(unit) + 1))[:65536]
        + " secret = 'hunter2Xy9' "
        + base64.b64encode(os.urandom(3000)).decode()
    )
    assert sorted(find_assignments(text)) == sorted(find_assignments_by_scan(text))


@pytest.mark.parametrize(
    ("detector", "text", "found"),
    [
        ("email", "write to jane.doe+work@example.co.uk today", ["jane.doe+work@example.co.uk"]),
        ("email", "an @mention and user@localhost", []),
        ("phone", "call +44 20 7946 0958 or (415) 555-0132", ["+44 20 7946 0958", "(415) 555-0132"]),
        ("credit_card", "card 4111 1111 1111 1111, not 4111 1111 1111 1112", ["4111 1111 1111 1111"]),
        ("iban", "IBAN DE89 3704 0044 0532 0130 00 and DE88 3704 0044 0532 0130 00", ["DE89 3704 0044 0532 0130 00"]),
        ("us_ssn", "SSN 123-45-6789; 000-12-3456 and 666-12-3456 are never issued", ["123-45-6789"]),
        ("us_ssn", "ssn: 123456789, order 987654321", ["123456789"]),
        ("us_ssn", "order 123456789", []),
        # Over-redaction seen before: an SSN never issued is no phone, a bad-checksum IBAN's digits no card.
        ("phone", "078 00 1123", []),
        ("credit_card", "DE88 3704 0044 0532 0130 00", []),
        ("credit_card", "DE88-3704-0044-0532-0130-00", []),
        ("phone", "ticket 4155550132 and tool call 4155550133", []),
        ("phone", "tel:4155550132, call me on 020 7946 0958", ["4155550132", "020 7946 0958"]),
        ("phone", '{"phone": "4155550132"}', ["4155550132"]),
        ("phone", "+44 (0)20 7946 0958, 001-415-555-0132x12", ["+44 (0)20 7946 0958", "001-415-555-0132x12"]),
        ("phone", "due 2026-12-05, build 21:41:06.376561, score 849.492065", []),
        # Private, loopback and CIDR forms are addresses too once the IP detectors are on.
        (
            "ipv4",
            "from 10.1.2.3, 127.0.0.1 and 192.168.0.0/16, not 0.0.0.0",
            ["10.1.2.3", "127.0.0.1", "192.168.0.0/16"],
        ),
        ("ipv4", "version 1.2.3.4.5 and 300.1.1.1", []),
        (
            "ipv6",
            "::1, fe80::1%eth0, 2001:db8::/32 and ::ffff:192.0.2.1",
            ["::1", "fe80::1%eth0", "2001:db8::/32", "::ffff:192.0.2.1"],
        ),
        ("ipv6", "2001:db8::256.1.1.1 is not an address", []),
    ],
)
def test_a_detector_finds_valid_values_and_leaves_look_alikes(detector: str, text: str, found: list[str]) -> None:
    assert [text[start:end] for start, end in BY_NAME[detector].find(text)] == found


@pytest.mark.parametrize("detector", [d for d in BY_NAME.values() if d.category == "personal"], ids=lambda d: d.name)
def test_every_match_contains_a_keyword_the_python_fallback_checks_first(detector: Detector) -> None:
    samples = {
        "email": "a@b.io",
        "phone": "+1 415 555 0132",
        "credit_card": "4111111111111111",
        "iban": "DE89370400440532013000",
        "us_ssn": "123-45-6789",
        "ipv4": "8.8.8.8",
        "ipv6": "2001:4860:4860::8888",
    }
    text = samples[detector.name]
    assert list(detector.find(text)), detector.name
    assert any(keyword in text.lower() for keyword in detector.keywords)
