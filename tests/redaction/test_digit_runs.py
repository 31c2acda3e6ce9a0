"""The C lead of phone and card candidates (redaction/_digit_runs.c) starts where its regex's search does, for
any text, range, separators, gap and length: the regex is the reference and the fallback."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from failpath.redaction import digit_runs
from failpath.redaction.digit_runs import digit_run_lead, pattern
from failpath.redaction.skipping import regex_lead

first_run = digit_runs.first_run
pytestmark = pytest.mark.skipif(first_run is None, reason="the C extension is not built")

# Digits of several scripts (what \d means in a str pattern), every separator the leads use, and others; runs
# of digits and of separators, so chains one digit short of a lead, and gaps one separator too wide, are common.
_CHARS = [*"0123456789", *" .-/()", "\u00a0", "\u0663", "\uff17", "\U0001d7d8", "a", "Z", "_", "+", "\n", "é", "²"]
_PIECES = [*_CHARS, "12", "345", "6789", "  ", " - ", "\u00a0\u00a0", "..", "()"]
# (separators, max_gap, digits): the phone and card leads, and others around them.
_LEADS = [(" .-/()\u00a0", 3, 7), (" -", 1, 12), (" -", 0, 3), ("-", 2, 1), (" .", 5, 4), ("\u00a0é", 1, 2)]


def _regex_start(separators: str, max_gap: int, digits: int, text: str, pos: int, end: int) -> int:
    return regex_lead(pattern(separators, max_gap, digits))(text, pos, end)


@settings(max_examples=3000, deadline=None)
@given(
    text=st.lists(st.sampled_from(_PIECES), max_size=40).map("".join),
    lead=st.sampled_from(_LEADS),
    pos=st.one_of(st.just(0), st.integers(-3, 90)),
    end=st.one_of(st.just(1000), st.integers(-3, 90)),
)
@example(text="12 3-45 67", lead=(" -", 1, 7), pos=0, end=99)  # one chain, exactly long enough
@example(text="1  2 3 4 5 6 7 8 9 0 1 2 3", lead=(" -", 1, 12), pos=0, end=99)  # a gap too wide, then a run
@example(text="4111 1111 1111 1111", lead=(" -", 1, 12), pos=0, end=14)  # end cuts the run short
def test_starts_where_the_regex_search_does(text: str, lead: tuple[str, int, int], pos: int, end: int) -> None:
    assert first_run is not None
    separators, max_gap, digits = lead
    expected = _regex_start(separators, max_gap, digits, text, pos, end)
    assert first_run(text, pos, end, separators, max_gap, digits) == expected
    assert digit_run_lead(separators, max_gap, digits)(text, pos, end) == expected


def test_long_texts_of_every_width() -> None:
    """Runs far into 1-, 2- and 4-byte strings, several per text, both leads."""
    assert first_run is not None
    for tail in ("", "é", "\u0663", "\U0001d7d8"):
        text = ("order 20260112 at 10:41, call +44 20 7946 0958 or card 4111-1111-1111-1111; " * 40) + tail
        for lead in _LEADS[:2]:
            for pos in range(0, len(text), 37):
                assert first_run(text, pos, len(text), *lead) == _regex_start(*lead, text, pos, len(text))


def test_bad_arguments_are_refused() -> None:
    assert first_run is not None
    with pytest.raises(ValueError):
        first_run("1", 0, 1, "x" * 17, 1, 1)
    with pytest.raises(ValueError):
        first_run("1", 0, 1, " ", 1, 0)
    with pytest.raises(TypeError):
        first_run(b"1", 0, 1, " ", 1, 1)  # type: ignore[arg-type]
