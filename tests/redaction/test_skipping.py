"""Regexes led by lookbehinds are only tried next to a cheaper lead's matches (redaction/skipping.py): the
phone candidates, card numbers, IBAN starts and email addresses found that way must be exactly the regexes'
own finditer."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from failpath.redaction.detectors import CARD_NUMBERS, EMAILS, EMAILS_NEAR, IBAN_STARTS
from failpath.redaction.phones import CANDIDATES
from failpath.redaction.skipping import Skipping
from tests.support.corpus import CORPUS, benign, entries
from tests.support.personal_data import labelled, look_alikes

SKIPPING = {
    "phone": CANDIDATES,
    "card": CARD_NUMBERS,
    "iban": IBAN_STARTS,
    "email": EMAILS,
    "email_near": EMAILS_NEAR,
}


def _same(skipping: Skipping, text: str) -> None:
    plain = skipping.pattern
    assert [match.span() for match in skipping.finditer(text)] == [match.span() for match in plain.finditer(text)]


# Digits, every separator and prefix the regexes know, letters for IBAN country codes, emails and the lookbehinds.
_PIECES = [*"0123456789", *" .-/()+:#x_,@%", "\u00a0", "tel:", "ext.", "DE", "GB89", "ab", "Z", "٣", ".io"]


@pytest.mark.parametrize("name", sorted(SKIPPING))
@settings(max_examples=1500, deadline=None)
@given(text=st.lists(st.sampled_from(_PIECES), max_size=60).map("".join))
def test_generated_texts(name: str, text: str) -> None:
    _same(SKIPPING[name], text)


def test_labelled_personal_data_look_alikes_and_corpora() -> None:
    texts = [case.text for case in labelled()] + [text for _, text in look_alikes()]
    if CORPUS.is_dir():
        texts += [case["text"] for name in ("personal.json", "false_positives.json") for case in entries(name)]
        texts += benign()
    rng = random.Random(5)
    texts += [" ".join(rng.sample(texts, 8)) for _ in range(500)]  # several numbers in one value
    assert len(texts) > 1000
    for skipping in SKIPPING.values():
        for text in texts:
            _same(skipping, text)
