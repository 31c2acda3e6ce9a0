"""The matches of a regex led by lookbehinds, found without trying it at every character.

Python's regex engine skips quickly to where a match may start only when the pattern begins with a literal
or a character class; a pattern that begins with lookbehinds is tried at every position (tens of ns each,
the largest cost of confirming hits in long prompts). Such a pattern gets a lead: a search that finds
wherever one of the pattern's matches could start, at most `reach` characters later (a regex that begins
with a class, or a run of digits found in C: digit_runs.py).
"""

import re
from collections.abc import Callable, Iterator

# lead(text, pos, end): where the leftmost lead match in text[pos:end] starts (as pattern.search(text, pos,
# end) would), or -1.
Lead = Callable[[str, int, int], int]


def regex_lead(pattern: re.Pattern[str]) -> Lead:
    search = pattern.search

    def lead(text: str, pos: int, end: int) -> int:
        found = search(text, pos, end)
        return -1 if found is None else found.start()

    return lead


class Skipping:
    def __init__(self, pattern: re.Pattern[str], lead: Lead, reach: int) -> None:
        """lead must match at some position in [m, m + reach] of every match of pattern starting at m."""
        self.pattern = pattern
        self._lead = lead
        self._reach = reach

    def finditer(self, text: str, pos: int = 0, lead_end: int | None = None) -> Iterator[re.Match[str]]:
        """What pattern.finditer(text, pos) gives. The leftmost match from any position starts at most reach
        characters before the leftmost lead match from there (whose start is the smallest that any match's
        own lead can have), so only those few positions need trying before moving past that lead.
        lead_end: leads are looked for in text[:lead_end] only (matches still see all of text), for a caller
        that knows every match's lead ends by then."""
        position = pos
        end = len(text) if lead_end is None else lead_end
        lead_at, match_at, reach = self._lead, self.pattern.match, self._reach
        while (start := lead_at(text, position, end)) >= 0:
            for candidate in range(max(position, start - reach), start + 1):
                # match() at a position still sees the text before it, as the lookbehinds need.
                found = match_at(text, candidate)
                if found is not None:
                    yield found
                    position = found.end()
                    break
            else:
                position = start + 1
