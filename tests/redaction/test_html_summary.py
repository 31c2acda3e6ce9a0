"""The linear HTML title and visible-text scanners give exactly what the obvious regexes give, without
their cost on unclosed tags."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from failpath.redaction import html_summary

# The regexes the scanners replace: correct, but quadratic when tags are left open.
TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
INVISIBLE = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>", re.IGNORECASE | re.DOTALL)

_PIECES = st.sampled_from(
    [
        "<", ">", "<title>", "</title>", "<TITLE x>", "</Title>", "<script>", "</script>", "</SCRIPT >",
        "<style a=1>", "</style\n>", "<scripts>", "<!--", "-->", "<!-->", "<p>", "</p>", "<b", "text", " ",
        "\n", "  words here ", "é", "<html>", "<!doctype html>", "-", "x>", "</", "script", "<style",
    ]
)  # fmt: skip


def _reference_title(text: str) -> str:
    match = TITLE.search(text)
    return match.group(1) if match else ""


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, max_size=30).map("".join))
def test_same_title_and_visible_text_as_the_regexes(text: str) -> None:
    assert html_summary.title(text) == _reference_title(text)
    assert html_summary.visible_chars(text) == len(" ".join(INVISIBLE.sub(" ", text).split()))


def test_unclosed_tags_cost_one_pass() -> None:
    # 200k unclosed openers: the regexes take minutes here; one pass takes milliseconds.
    for opener, visible in (("<script>", 0), ("<title>", 0), ("<style>", 0), ("<!--", 800_000)):
        text = "<html>" + opener * 200_000
        assert html_summary.visible_chars(text) == visible  # a "<!--" with no ">" after it is text
        assert html_summary.title(text) == ""
