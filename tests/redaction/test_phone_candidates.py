"""phones.candidates() skips ahead to digit runs instead of trying the candidate regex at every character:
it must give exactly the matches the regex's own finditer gives."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from failpath.redaction.phones import _CANDIDATE, candidates
from tests.support.corpus import CORPUS, benign, entries
from tests.support.personal_data import labelled, look_alikes


def _same(text: str) -> None:
    assert [match.span() for match in candidates(text)] == [match.span() for match in _CANDIDATE.finditer(text)]


# Digits, every separator and prefix the regex knows, and the letters of its lookbehinds and extensions.
_PIECES = [*"0123456789", " ", ".", "-", "/", "(", ")", "+", "\u00a0", ":", "tel:", "x", "ext.", "#", "a", "_", ","]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=60).map("".join))
def test_generated_texts(text: str) -> None:
    _same(text)


def test_labelled_personal_data_look_alikes_and_corpora() -> None:
    texts = [case.text for case in labelled()] + [text for _, text in look_alikes()]
    if CORPUS.is_dir():
        texts += [case["text"] for name in ("personal.json", "false_positives.json") for case in entries(name)]
        texts += benign()
    rng = random.Random(5)
    texts += [" ".join(rng.sample(texts, 8)) for _ in range(500)]  # several numbers in one value
    assert len(texts) > 1000
    for text in texts:
        _same(text)
