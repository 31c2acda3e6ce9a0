"""What an HTML document is reduced to: its title, its length and the length of its visible text.

Both are found in one forward pass. The obvious regexes (`<title[^>]*>(.*?)</title>`, and
`<(script|style)\b.*?</\1\\s*>|<!--.*?-->|<[^>]*>` to strip markup) rescan to the end of the text for every
unclosed tag, which makes a page of `<script` openers cost its length squared; these functions give the
same results and remember which closers are known to be missing.
"""

import re

_HTML = re.compile(r"\s*<(?:!doctype\s+html|html[\s>])", re.IGNORECASE)
_TITLE_OPEN = re.compile(r"<title", re.IGNORECASE)
_TITLE_CLOSE = re.compile(r"</title>", re.IGNORECASE)
_RAW_TEXT_OPEN = re.compile(r"(script|style)\b", re.IGNORECASE)
_RAW_TEXT_CLOSE = {
    6: re.compile(r"</script\s*>", re.IGNORECASE),
    5: re.compile(r"</style\s*>", re.IGNORECASE),
}


# What an HTML document's first character can be (looks_like_html).
HTML_FIRST_CHARS = "< \t\r\n"


def looks_like_html(text: str) -> bool:
    return text[:1] in HTML_FIRST_CHARS and _HTML.match(text) is not None


def title(text: str) -> str:
    """The first <title>'s text, or "" when there is none (or it is never closed)."""
    opening = _TITLE_OPEN.search(text)
    if opening is None:
        return ""
    start = text.find(">", opening.end())
    if start < 0:
        return ""
    closing = _TITLE_CLOSE.search(text, start + 1)
    return text[start + 1 : closing.start()] if closing else ""


def _markup_end(text: str, at: int, unclosed: set[int]) -> int:
    """Where the markup starting with the "<" at `at` ends: a script or style element, a comment, or a
    tag, tried in that order; -1 when that "<" is plain text."""
    raw = _RAW_TEXT_OPEN.match(text, at + 1)
    if raw is not None:
        kind = len(raw.group(1))
        if kind not in unclosed:
            closing = _RAW_TEXT_CLOSE[kind].search(text, raw.end())
            if closing is not None:
                return closing.end()
            unclosed.add(kind)  # no closer after here means none after any later opener either
    if text.startswith("<!--", at) and 0 not in unclosed:
        closing_at = text.find("-->", at + 4)
        if closing_at >= 0:
            return closing_at + 3
        unclosed.add(0)
    tag_end = text.find(">", at + 1)
    return tag_end + 1 if tag_end >= 0 else -1


def visible_chars(text: str) -> int:
    """Length of the text with markup, scripts, styles and comments removed and whitespace collapsed."""
    pieces: list[str] = []
    unclosed: set[int] = set()
    position = 0
    while True:
        at = text.find("<", position)
        if at < 0:
            pieces.append(text[position:])
            break
        pieces.append(text[position:at])
        end = _markup_end(text, at, unclosed)
        if end < 0:
            # No ">" after here: every later "<" is plain text too.
            pieces.append(text[at:])
            break
        pieces.append(" ")
        position = end
    return len(" ".join("".join(pieces).split()))
