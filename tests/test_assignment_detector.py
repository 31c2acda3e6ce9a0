"""The password=/token:/api_key => detector: its fast path (patterns tried only where a key can start) finds
exactly what trying every pattern everywhere finds, on assignment-shaped text and on floods of keywords."""

import base64
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from failpath.redaction.detectors import find_assignments, find_assignments_by_scan

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
