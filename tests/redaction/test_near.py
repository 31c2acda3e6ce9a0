"""Confirmation near the raw scan's matches (Detector.near): the native walk knows where each detector's raw
prefilter matches end in a value, and the card, IBAN and email detectors then look only where a match can
start. That is exact only if every match has a raw prefilter match ending within the detector's reach of its
start (and not before it); these tests check it on the labelled personal data, its look-alikes, the secrets
corpus and generated texts, scanning each text framed as a serialized string field, as the walk sees it."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from failpath.otlp import wire
from failpath.redaction.config import RedactionConfig
from failpath.redaction.stage import active_detectors
from tests.support.corpus import CORPUS, benign, entries
from tests.support.personal_data import _luhn_digit, labelled, look_alikes

hyperscan = pytest.importorskip("hyperscan")
from failpath.redaction.engine import HyperscanScanner  # noqa: E402

DETECTORS = active_detectors(RedactionConfig())
SCANNER = HyperscanScanner(DETECTORS)
NEAR = {index: detector for index, detector in enumerate(DETECTORS) if detector.near is not None}


def _check(text: str) -> None:
    """Each detector with a near(): its raw matches in the framed text, then near() gives find()'s spans
    (and with no raw match, find() finds nothing: the prefilter is a superset)."""
    data = text.encode()
    framed = wire.field(b"\x0a", data)
    offset = len(framed) - len(data)
    matches = SCANNER.request_matches(framed)
    assert matches is not None
    for index, detector in NEAR.items():
        ends = [end - offset for pattern, end in matches if pattern == index and end > offset]
        expected = list(detector.find(text))
        if not ends:
            assert expected == [], (detector.name, text)
        elif text.isascii() and detector.near is not None:
            assert list(detector.near(text, min(ends), max(ends))) == expected, (detector.name, text)


def test_the_detectors_with_near_are_card_iban_and_email() -> None:
    assert sorted(detector.name for detector in NEAR.values()) == ["credit_card", "email", "iban"]


def test_labelled_data_look_alikes_and_corpora() -> None:
    texts = [case.text for case in labelled()] + [text for _, text in look_alikes()]
    if CORPUS.is_dir():
        texts += [case["text"] for name in ("personal.json", "false_positives.json") for case in entries(name)]
        texts += benign()
    rng = random.Random(11)
    texts += [" ".join(rng.sample(texts, 8)) for _ in range(400)]  # several of them in one value
    assert len(texts) > 1000
    for text in texts:
        _check(text)


# Digits, separators, letters for IBAN country codes and emails, and the characters the lookarounds read.
_PIECES = [*"0123456789", *" -.@_+", "GB82", "DE89", "WEST", "W", "E", "S", "T", "ab", "x", "jo", ".com", "٣"]


@settings(max_examples=2000, deadline=None)
@given(text=st.lists(st.sampled_from(_PIECES), max_size=80).map("".join))
def test_generated_texts(text: str) -> None:
    _check(text)


def test_an_iban_grouped_one_character_at_a_time_is_flagged() -> None:
    """The IBAN prefilter used to need four characters in a row after the check digits."""
    _check("pay to GB82 W E S T 1234 5698 7654 32 today")
    iban = next(detector for detector in DETECTORS if detector.name == "iban")
    assert list(iban.find("pay to GB82 W E S T 1234 5698 7654 32 today")) == [(7, 37)]


def test_the_longest_matches_are_within_reach() -> None:
    """A 19-digit card with a separator between every two digits (37 characters), and an address whose local
    part has the 64 characters it may: the raw match ending farthest from the start, each found."""
    body = "4" + "".join(str(index % 10) for index in range(17))
    card = "-".join(body + _luhn_digit(body))
    email = "a" * 64 + "@example.com"
    text = f"card {card}, mail {email}"
    _check(text)
    found = {detector.name: list(detector.find(text)) for detector in NEAR.values()}
    assert found["credit_card"] == [(5, 5 + 37)]
    assert found["email"] == [(len(text) - len(email), len(text))]
