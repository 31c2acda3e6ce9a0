r"""Leads for Skipping (skipping.py) that are runs of digits joined by short separators: r"\d(?:[seps]{0,gap}\d){n}",
the lead of phone candidates and card numbers (and, in C only, the card number candidates they lead to in an
ASCII text). Found by the C extension in one pass where it is built
(_digit_runs.c; Python's regex engine takes a microsecond per few dozen characters of prompt for these), by
the regex otherwise; tests/redaction/test_digit_runs.py holds them equal."""

import re
from collections.abc import Callable

from failpath.redaction.skipping import Lead, regex_lead

first_run: Callable[[str, int, int, str, int, int], int] | None
# The card number candidates of an ASCII text (detectors.card_candidates), None for other texts.
card_matches: Callable[[str, int, int, str], list[tuple[int, int]] | None] | None
try:
    from failpath.redaction import _digit_runs
except ImportError:  # no C compiler at install: the regex (README, "Without a C compiler")
    first_run = card_matches = None
else:
    first_run, card_matches = _digit_runs.first_run, _digit_runs.card_matches


def pattern(separators: str, max_gap: int, digits: int) -> re.Pattern[str]:
    """The regex the lead stands for: `digits` digits, each after the first at most max_gap separators on."""
    return re.compile(rf"\d(?:[{re.escape(separators)}]{{0,{max_gap}}}\d){{{digits - 1}}}")


def digit_run_lead(separators: str, max_gap: int, digits: int) -> Lead:
    if first_run is None:
        return regex_lead(pattern(separators, max_gap, digits))
    run = first_run
    return lambda text, pos, end: run(text, pos, end, separators, max_gap, digits)
