"""The card number candidates of an ASCII text found in C (redaction/_digit_runs.c card_matches) are those of
the regexes (detectors.card_candidates: CARD_NUMBERS' matches not right after an IBAN's head), for any start
and lead end; texts that are not ASCII are left to the regexes."""

import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from failpath.redaction import detectors
from failpath.redaction.digit_runs import card_matches

pytestmark = pytest.mark.skipif(card_matches is None, reason="the C extension is not built")

# What card candidates turn on: digits, the two separators, the neighbours that may not touch a number
# (letters, a dash), an IBAN's head before it, newlines (which $ in the IBAN head's pattern may stand before).
PIECES = [*"0123456789", *"0123456789", " ", "-", "a", "Z", "\n", ".", "GB82 ", "DE89-", "AB12\n", "+", "_"]
TEXTS = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)


def _both(text: str, pos: int, lead_end: int | None) -> tuple[list[tuple[int, int]] | None, list[tuple[int, int]]]:
    assert card_matches is not None
    end = len(text) if lead_end is None else lead_end
    native = card_matches(text, pos, end, detectors._LONG_FIRST)
    return native, list(detectors.card_candidates(text, pos, lead_end))


@settings(max_examples=1500, deadline=None)
@given(text=TEXTS, pos=st.integers(min_value=-2, max_value=70), lead_end=st.none() | st.integers(-2, 70))
@example(text="4111 1111 1111 1111", pos=0, lead_end=None)
@example(text="x4111 1111 1111 1111 2", pos=0, lead_end=None)
@example(text="GB82 4111 1111 1111 1111", pos=0, lead_end=None)
@example(text="GB82\n4111 1111 1111 1111", pos=0, lead_end=None)
@example(text="1111 1111 1111 111 and 378282246310005", pos=0, lead_end=None)
@example(text="44 20 7946 0958 1234-5678-9012-3456-", pos=0, lead_end=None)
def test_card_matches_are_the_regexes(text: str, pos: int, lead_end: int | None) -> None:
    native, reference = _both(text, pos, lead_end)
    assert native == reference


def test_card_matches_on_agent_text_and_a_long_digit_table() -> None:
    rng = random.Random(37)
    words = ["order", "4111 1111 1111 1111", "5500-0055-5555-5559", "378282246310005", "IBAN", "GB82 WEST 1234"]
    for _ in range(300):
        text = " ".join(rng.choices([*words, *map(str, range(10**11, 10**11 + 50))], k=rng.randint(1, 30)))
        native, reference = _both(text, rng.randint(0, 20), rng.choice([None, rng.randint(0, len(text) + 5)]))
        assert native == reference
    table = " ".join(str(rng.randrange(10**17)) for _ in range(2000))
    native, reference = _both(table, 0, None)
    assert native == reference and len(reference) > 100


def test_texts_that_are_not_ascii_are_left_to_the_regexes() -> None:
    assert card_matches is not None
    assert card_matches("\u00e9 4111 1111 1111 1111", 0, 22, detectors._LONG_FIRST) is None
    assert list(detectors._find_cards("\u00e9 4111 1111 1111 1111")) == [(2, 21)]
    assert list(detectors._find_cards("a: 4111 1111 1111 1111")) == [(3, 22)]
