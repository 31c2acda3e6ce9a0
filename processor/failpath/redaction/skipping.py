"""The matches of a regex led by lookbehinds, found without trying it at every character.

Python's regex engine skips quickly to where a match may start only when the pattern begins with a literal
or a character class; a pattern that begins with lookbehinds is tried at every position (tens of ns each,
the largest cost of confirming hits in long prompts). Such a pattern gets a lead: a regex that begins with a
class and matches wherever one of the pattern's matches could start, at most `reach` characters later.
"""

import re
from collections.abc import Iterator


class Skipping:
    def __init__(self, pattern: re.Pattern[str], lead: re.Pattern[str], reach: int) -> None:
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
        lead_at, match_at, reach = self._lead.search, self.pattern.match, self._reach
        while (lead := lead_at(text, position, end)) is not None:
            start = lead.start()
            for candidate in range(max(position, start - reach), start + 1):
                # match() at a position still sees the text before it, as the lookbehinds need.
                found = match_at(text, candidate)
                if found is not None:
                    yield found
                    position = found.end()
                    break
            else:
                position = start + 1
