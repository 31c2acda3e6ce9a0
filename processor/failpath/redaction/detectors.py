"""The built-in detectors: what a secret or a piece of personal data looks like, and how it is confirmed.

Each detector has a prefilter pattern for the multi-pattern engine (Hyperscan compiles it in prefilter
mode: a superset, cheap over all values at once) and an exact `find` in Python that runs only on values the
prefilter flagged. `find` yields the (start, end) of the sensitive part: for `password=hunter2` only
`hunter2` is replaced, so the key stays readable.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from failpath.redaction import validators as check
from failpath.redaction.card_networks import FIRST_DIGITS, is_card_number
from failpath.redaction.digit_runs import card_matches, digit_run_lead
from failpath.redaction.phones import DEFAULT_REGIONS, PhoneFinder
from failpath.redaction.phones import PREFILTER as PHONE_PREFILTER
from failpath.redaction.skipping import Skipping, regex_lead

Span = tuple[int, int]
Category = Literal["credential", "personal"]


@dataclass(frozen=True)
class Detector:
    name: str
    category: Category
    # PCRE syntax for Hyperscan (prefilter mode); ASCII only, with a literal anchor wherever possible.
    prefilter: str
    caseless: bool
    find: Callable[[str], Iterator[Span]]
    # Lowercase literals, one of which every match contains; the pure-Python fallback checks them first.
    keywords: tuple[str, ...]
    default_on: bool = True
    # find(text) for an ASCII value in which every end of the prefilter's matches (over the raw bytes, as
    # Hyperscan reports them) lies in [first, last]: the same spans, looked for only where they can be. For
    # detectors whose every match has a prefilter match ending within a bounded reach of its start (and not
    # before it): no match then starts before first - reach, nor after last.
    near: Callable[[str, int, int], Iterator[Span]] | None = None


def regex_detector(
    name: str,
    category: Category,
    pattern: str,
    *,
    group: int | str = 0,
    validator: Callable[[str], bool] | None = None,
    flags: int = 0,
    keywords: tuple[str, ...] = (),
    prefilter: str | None = None,
    default_on: bool = True,
) -> Detector:
    compiled = re.compile(pattern, flags | re.ASCII)

    def find(text: str) -> Iterator[Span]:
        for match in compiled.finditer(text):
            start, end = match.span(group)
            if start < 0 or end <= start:
                continue
            if validator is None or validator(text[start:end]):
                yield start, end

    return Detector(
        name,
        category,
        prefilter or pattern,
        bool(flags & re.IGNORECASE),
        find,
        keywords,
        default_on,
    )


def _has_key_material(block: str) -> bool:
    """A real PEM block carries base64 key material, not a word or nothing."""
    body = block.split("-----", 2)[-1]
    return len(re.findall(r"[A-Za-z0-9+/=]{16,}", body)) > 0


# Every match of these detectors contains a digit: the fallback engine's cheap pre-check for them.
DIGITS = tuple("0123456789")

# Token characters that never occur right before or after a token body.
_B = r"(?<![A-Za-z0-9_-])"
_E = r"(?![A-Za-z0-9_-])"


def _credentials() -> list[Detector]:
    return [
        regex_detector(
            "openai",
            "credential",
            rf"{_B}sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]*T3BlbkFJ[A-Za-z0-9_-]+"
            rf"|{_B}sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{{40,}}",
            keywords=("sk-",),
        ),
        regex_detector(
            "anthropic", "credential", rf"{_B}sk-ant-[a-z]+\d{{2}}-[A-Za-z0-9_-]{{20,}}", keywords=("sk-ant-",)
        ),
        regex_detector(
            "aws_access_key_id",
            "credential",
            r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Z0-9])",
            validator=lambda text: "EXAMPLE" not in text and "XXXX" not in text.upper(),
            keywords=("akia", "asia", "abia", "acca", "a3t"),
        ),
        regex_detector(
            "aws_secret_access_key",
            "credential",
            r"(?<![A-Za-z0-9/+=])(?<!base64,)[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
            validator=check.mixed_token,  # which requires a digit
            keywords=DIGITS,
        ),
        regex_detector(
            "github",
            "credential",
            rf"{_B}(?:gh[pousr]_[A-Za-z0-9]{{36,}}|github_pat_[A-Za-z0-9_]{{60,}}){_E}",
            validator=check.not_placeholder,
            keywords=("gh", "github_pat_"),
        ),
        regex_detector(
            "gitlab",
            "credential",
            rf"{_B}glpat-[A-Za-z0-9_-]{{20,}}(?:\.[0-9a-z]{{2}}\.[0-9a-z]{{7,9}})?{_E}",
            validator=check.not_placeholder,
            keywords=("glpat-",),
        ),
        regex_detector(
            "slack",
            "credential",
            rf"{_B}(?:xox[abposre]-(?:[0-9]+-)+[A-Za-z0-9]{{8,}}|xapp-[0-9]-[A-Za-z0-9-]{{10,}}[A-Za-z0-9]){_E}"
            r"|hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_+-]{10,}",
            validator=check.not_placeholder,
            keywords=("xox", "xapp-", "hooks.slack.com"),
        ),
        regex_detector(
            "stripe",
            "credential",
            rf"{_B}(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{{10,}}{_E}",
            validator=check.not_placeholder,
            keywords=("sk_", "rk_"),
        ),
        regex_detector(
            "google_api_key",
            "credential",
            rf"{_B}AIza[0-9A-Za-z_-]{{35}}{_E}",
            validator=check.not_placeholder,
            keywords=("aiza",),
        ),
        regex_detector(
            "huggingface",
            "credential",
            rf"{_B}hf_[A-Za-z0-9]{{34}}{_E}",
            validator=check.not_placeholder,
            keywords=("hf_",),
        ),
        regex_detector(
            "npm", "credential", rf"{_B}npm_[A-Za-z0-9]{{36}}{_E}", validator=check.not_placeholder, keywords=("npm_",)
        ),
        regex_detector(
            "sendgrid", "credential", rf"{_B}SG\.[A-Za-z0-9_-]{{20,24}}\.[A-Za-z0-9_-]{{39,50}}{_E}", keywords=("sg.",)
        ),
        regex_detector(
            "jwt",
            "credential",
            rf"{_B}eyJ[A-Za-z0-9_-]{{8,}}\.eyJ[A-Za-z0-9_-]{{8,}}\.[A-Za-z0-9_-]*",
            keywords=("eyj",),
        ),
        regex_detector(
            "private_key",
            "credential",
            r"-----BEGIN[A-Z ]{0,20} PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
            r"(?:-----END[A-Z ]{0,20} PRIVATE KEY(?: BLOCK)?-----|$)",
            validator=_has_key_material,
            keywords=("private key",),
            prefilter=r"-----BEGIN[A-Z ]{0,20} PRIVATE KEY",
        ),
        regex_detector(
            "authorization_header",
            "credential",
            r"\b(?:Bearer|Basic)\s+([A-Za-z0-9._~+/=-]{8,})",
            group=1,
            flags=re.IGNORECASE,
            validator=lambda text: check.has_digit_or_symbol(text) and check.not_placeholder(text),
            keywords=("bearer", "basic"),
        ),
        regex_detector(
            "url_password",
            "credential",
            r"\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@\"'\\]*:([^\s:/@\"'\\]+)@",
            group=1,
            validator=lambda text: check.not_placeholder(text) and text.lower() not in ("password", "pass", "pwd"),
            keywords=("://",),
            prefilter=r"://[^\s:/@]*:[^\s:/@]+@",
        ),
        _password_assignment(),
        # Presigned-URL credentials: the query parameters OTel semantic conventions say to redact in url.full.
        regex_detector(
            "url_signature",
            "credential",
            r"[?&](?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|AWSAccessKeyId|Signature|sig"
            r"|X-Goog-Signature|X-Goog-Credential)=([^&#\s\"'\\]{6,})",
            group=1,
            keywords=("signature", "sig=", "credential", "security-token", "awsaccesskeyid"),
        ),
    ]


# -- password= / token: / api_key => assignments --------------------------------------------------------------

_KEYWORD = (
    r"passw(?:or)?d|passphrase|pwd|pass|secrete?|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|encryption[_-]?key|signing[_-]?key|master[_-]?key|credentials?|auth"
)
_KEYWORD_RE = re.compile(_KEYWORD, re.IGNORECASE)
# What may follow the keyword inside a key name and still name a secret ("db_pass_secure", "apikey_svc"),
# except these, which name something about the secret (its URL, file, length, expiry...).
_NOT_A_SECRET_SUFFIX = re.compile(
    r"(?:url|uri|path|file|name|id|ids|size|len|length|type|dir|mode|env|ref|field|header|count|limit|budget"
    r"|usage|expir|ttl|policy|reset|hint|prompt|label|format|endpoint|provider|store|vault|min|max|rule|strength"
    r"|changed|required|enabled|timeout|version|method|scheme|kind|manager|helper|source|variable|var)",
    re.IGNORECASE,
)

# The key starts where a run of name characters starts: no match attempt from inside a long token. Its
# parts around the keyword are bounded (real key names are short), so a long run of keywords costs a
# bounded number of steps, not its length squared.
_KEY_BODY = rf"(?P<key>[A-Za-z0-9_.-]{{0,64}}?(?:{_KEYWORD})[A-Za-z0-9_.-]{{0,40}})"
# ...or right after an escaped newline or tab inside a JSON string (the "n" of \n is not part of the key).
_KEY_START = r"(?:(?<![A-Za-z0-9_.\\-])|(?<=\\[nrt]))"
_KEY = rf"{_KEY_START}{_KEY_BODY}"
# \" at any depth of JSON-in-JSON escaping (\", \\\", ...), or plain quotes.
_QUOTED = (
    r"""(?:\\+"(?P<v1>(?:[^"\\]|\\u[0-9a-fA-F]{4})+?)\\+"|"(?P<v2>[^"\n]+)"|'(?P<v3>[^'\n]+)'"""
    r"""|`(?P<v4>[^`\n]+)`)"""
)
# Stops at whitespace, quotes, ; & < and at a backslash (an escaped \n ends it), but keeps \uXXXX escapes.
_BARE = r"""(?P<v5>(?:[^\s"'`;&\\<]|\\u[0-9a-fA-F]{4})+)"""
_KEY_END = r"""(?:\[\d*\])?(?:\\*["'`])?"""
_GO_TYPE = r"(?:\s+(?:string|str|String|\[\]byte|const))?"
_ASSIGNMENTS = [
    # password = "value", "pwd": "value", \"token\": \"value\", key := `value`, secret => 'value', x == "v"
    re.compile(rf"{_KEY}{_KEY_END}{_GO_TYPE}\s*(?:===|!==|==|!=|:=|=>|=|:)\s*(?:!!str\s+)?@?{_QUOTED}", re.IGNORECASE),
    # password=value, SECRET_KEY: value, Password=value; (connection strings), secret: !!str value
    re.compile(rf"{_KEY}{_KEY_END}[ \t]*(?::=|=>|=|:)[ \t]*(?:!!str\s+)?{_BARE}", re.IGNORECASE),
    # password "value" (keyword then a quoted value)
    re.compile(rf"{_KEY}[ \t]+{_QUOTED}", re.IGNORECASE),
    # <password>value</password>
    # (greedy to the next <, trailing whitespace trimmed afterwards: a lazy value before \s* is quadratic)
    re.compile(rf"<{_KEY}>\s*(?P<v6>[^<\s][^<]*)</", re.IGNORECASE),
    # --db-password value, --token=value
    re.compile(rf"(?<![A-Za-z0-9_.-])--{_KEY_BODY}(?:=|[ \t]+)(?:{_QUOTED}|{_BARE})", re.IGNORECASE),
    # "value" == password (comparison written the other way round)
    re.compile(rf"""(?:"(?P<v7>[^"\n]+)"|'(?P<v8>[^'\n]+)')\s*(?:===|!==|==|!=)\s*{_KEY}""", re.IGNORECASE),
    # Setting api_key to value
    re.compile(rf"\bsetting\s+{_KEY}\s+to\s+{_BARE}", re.IGNORECASE),
    # mysql -u root -pSECRET
    re.compile(r"\bmysql(?:dump|admin)?\b[^\n]{0,200}?\s-p(?P<v9>[^\s\"']+)"),
    # getenv("api_token", "default-that-is-a-secret")
    re.compile(rf"""\\*["']{_KEY}\\*["']\s*,\s*{_QUOTED}""", re.IGNORECASE),
    # a YAML line "secret: the rest of the line", spaces included
    # (also inside a JSON string, where the line starts after "...\n or the opening quote)
    re.compile(
        rf"(?:^|(?<=\\n)|(?<=\"))[ \t-]*{_KEY}:[ \t]+(?P<v10>[^\s\"'#\\][^\n\"'#\\]*)(?:$|(?=\\n)|(?=\\*\"))",
        re.IGNORECASE | re.MULTILINE,
    ),
]
_VALUE_GROUPS = tuple(f"v{index}" for index in range(1, 11))
# Values matched greedily up to their delimiter, and the whitespace their old lazy form left out.
_TRAILING = {"v6": None, "v10": " \t"}


def _names_a_secret(key: str) -> bool:
    """The key names a secret: the keyword starts a word part and is not followed by url/file/name/..."""
    if "public" in key.lower():
        return False  # publishable keys and public tokens are meant to be seen
    for match in _KEYWORD_RE.finditer(key):
        start, end = match.span()
        before = key[start - 1] if start else ""
        camel = before.islower() and key[start].isupper()
        if before and before not in "_.-[" and not camel:
            continue
        tail = key[end:]
        if tail and tail[0] not in "_.-" and not tail[0].isupper() and not tail[0].isdigit():
            continue  # tokens, author, passenger, secretary
        word = tail.lstrip("_.-")
        if word and _NOT_A_SECRET_SUFFIX.match(word):
            continue
        return True
    return False


def _assignment_spans(text: str, matches: Iterator[re.Match[str]], found: set[Span]) -> Iterator[Span]:
    for match in matches:
        groups = match.groupdict()
        key = groups.get("key")
        if key is not None and not _names_a_secret(key):
            continue
        group = next(name for name in _VALUE_GROUPS if groups.get(name) is not None)
        span = match.span(group)
        value = text[span[0] : span[1]]
        if group in _TRAILING:
            value = value.rstrip(_TRAILING[group])
            span = (span[0], span[0] + len(value))
        if group == "v4" and " " in value:
            continue  # `command substitution`, not a value
        if span not in found and check.assigned_secret(value):
            found.add(span)
            yield span


def find_assignments_by_scan(text: str) -> Iterator[Span]:
    """Every pattern tried everywhere (the reference, and the path for text that is not ASCII)."""
    # Prose mentions keywords all the time ("reset the password"); only text with a keyword followed by an
    # operator, a --flag, a comparison or mysql can hold an assignment, so the ten patterns wait for that.
    if not _ASSIGNMENT_HINT.search(text):
        return
    found: set[Span] = set()  # several syntaxes can match one value; it is one finding
    for pattern in _ASSIGNMENTS:
        yield from _assignment_spans(text, pattern.finditer(text), found)


# Every keyword contains one of these; it starts at most this many characters before it ("encryption_key").
_LITERALS = ("pass", "pwd", "secret", "token", "key", "credential", "auth")
_KEYWORD_LEAD = 11
# Name characters as "n", the rest as " "; and YAML indentation characters as " ", the rest as "n".
_NAME_MASK = {code: ("n" if chr(code).isalnum() or chr(code) in "_.-" else " ") for code in range(128)}
_INDENT_MASK = {code: (" " if chr(code) in " \t-" else "n") for code in range(128)}
# The patterns not anchored at a key, with the literals they cannot match without.
_GATED = {5: ("==", "!="), 6: ("setting",), 7: ("mysql",)}


def _starts(text: str, lowered: str) -> tuple[list[int], list[int]]:
    """(key starts, name-run starts) near every keyword, in order. A key starts where a run of name
    characters starts, or right after a \\n, \\r or \\t escape, at most 64 characters before its keyword."""
    names = text.translate(_NAME_MASK)
    keys: set[int] = set()
    runs: set[int] = set()
    for literal in _LITERALS:
        at = lowered.find(literal)
        while at >= 0:
            # The run may start 64 + _KEYWORD_LEAD characters before the literal, plus 2 for "--" or an escape.
            floor = max(0, at - 64 - _KEYWORD_LEAD - 3)
            run = names.rfind(" ", floor, at) + 1
            if run or floor == 0:
                runs.add(run)
                if run == 0 or text[run - 1] != "\\":
                    keys.add(run)
                elif text[run] in "nrtNRT":  # (the pattern is case-insensitive)
                    keys.add(run + 1)
            at = lowered.find(literal, at + 1)
    return sorted(keys), sorted(runs)


def _anchored(text: str, pattern: re.Pattern[str], starts: list[int]) -> Iterator[re.Match[str]]:
    """What pattern.finditer(text) yields, when every match can only begin at one of starts."""
    end = 0
    for start in starts:
        if start < end:
            continue
        match = pattern.match(text, start)
        if match is not None:
            end = match.end()
            yield match


def find_assignments(text: str) -> Iterator[Span]:
    """The same spans as find_assignments_by_scan. For ASCII text, each pattern is tried only where a key
    can start (found with plain substring searches), not at every run of name characters: on text full of
    keys that is tens of times cheaper."""
    if not text.isascii():
        yield from find_assignments_by_scan(text)
        return
    lowered = text.lower()
    if not any(literal in lowered for literal in _LITERALS) and "mysql" not in lowered:
        return
    keys, runs = _starts(text, lowered)
    names = text.translate(_NAME_MASK)
    by_pattern: dict[int, list[int]] = {0: [], 1: [], 2: [], 3: [], 8: [], 9: []}
    for key in keys:
        for index in _possible_after(text, names, key):
            by_pattern[index].append(key)
    indents = text.translate(_INDENT_MASK)
    candidates = (
        by_pattern[0],
        by_pattern[1],
        by_pattern[2],
        [key - 1 for key in by_pattern[3] if key and text[key - 1] == "<"],
        [run for run in runs if text.startswith("--", run)],
        None,
        None,
        None,
        sorted({_quote_start(text, key) for key in by_pattern[8] if key and text[key - 1] in "\"'"}),
        sorted({indents.rfind("n", 0, key) + 1 for key in by_pattern[9]}),
    )
    found: set[Span] = set()
    for index, pattern in enumerate(_ASSIGNMENTS):
        starts = candidates[index]
        if starts is None:
            if any(literal in lowered for literal in _GATED[index]):
                yield from _assignment_spans(text, pattern.finditer(text), found)
            continue
        yield from _assignment_spans(text, _anchored(text, pattern, starts), found)


# A key ends where its run of name characters ends (what may follow a key is never a name character), and
# each pattern needs a certain character there: the patterns that can match, by that character.
_AFTER_KEY = {
    **dict.fromkeys("[`", (0, 1)),
    **dict.fromkeys("\\\"'", (0, 1, 8)),
    **dict.fromkeys("=!", (0, 1)),
    ":": (0, 1, 9),
    ">": (3,),
}
_WHITESPACE = re.compile(r"\s*")
_BLANKS = re.compile(r"[ \t]*")


def _skip(run: re.Pattern[str], text: str, at: int) -> int:
    """Where the run (a pattern that also matches nothing) starting at `at` ends."""
    match = run.match(text, at)
    assert match is not None
    return match.end()


def _possible_after(text: str, names: str, key: int) -> tuple[int, ...]:
    """The assignment patterns (by index) that can match at a key starting at key: exact necessary
    conditions on what follows its run of name characters, so most keywords in prose or JSON cost a look,
    not six regex attempts."""
    end = names.find(" ", key)
    if end < 0:
        return ()
    after = text[end]
    if not after.isspace():
        return _AFTER_KEY.get(after, ())
    possible = []
    # Pattern 1: any whitespace, an optional Go type (string, str, []byte, const), then an operator.
    first = _skip(_WHITESPACE, text, end)
    if text[first : first + 1] in ("=", ":", "!", "s", "S", "[", "c"):
        possible.append(0)
    blank = _skip(_BLANKS, text, end)  # patterns 2 and 3 allow only spaces and tabs here
    following = text[blank : blank + 1]
    if following in ("=", ":"):
        possible.append(1)
    if following in ('"', "'", "`", "\\") and after in " \t":
        possible.append(2)
    return tuple(possible)


def _quote_start(text: str, key: int) -> int:
    """The first of the backslashes before the quote that opens a key (getenv("api_token", ...))."""
    start = key - 1
    while start and text[start - 1] == "\\":
        start -= 1
    return start


# A keyword followed by an operator or a quoted value, a --flag, a reversed comparison, or mysql -p: the
# Hyperscan prefilter, and the pure-Python gate before the ten assignment patterns. Like the patterns, it
# looks for the keyword only near the start of a run of name characters: a value made of keywords
# ("passpass...", "----...") then costs one bounded try per run, not one per keyword.
_ASSIGNMENT_PREFILTER = (
    rf"{_KEY_START}[A-Za-z0-9_.-]{{0,64}}?(?:{_KEYWORD})[A-Za-z0-9_.\[\]\"'`\\-]{{0,40}}[ \t]*"
    rf"(?:[A-Za-z\[\]]{{1,8}}[ \t]*)?(?:[:=>!]|[\"'`][ \t]*,|[ \t]\\*[\"'`]|[ \t]to[ \t])"
    rf"|(?<![A-Za-z0-9_.-])--[A-Za-z0-9_.-]{{0,64}}(?:{_KEYWORD})|[=!]=[ \t]*[A-Za-z0-9_.-]{{0,64}}(?:{_KEYWORD})|mysql"
)
_ASSIGNMENT_HINT = re.compile(_ASSIGNMENT_PREFILTER, re.IGNORECASE)


def _password_assignment() -> Detector:
    return Detector(
        "password_assignment",
        "credential",
        _ASSIGNMENT_PREFILTER,
        True,
        find_assignments,
        ("pass", "pwd", "secret", "token", "key", "credential", "auth", "mysql"),
    )


# -- personal data --------------------------------------------------------------------------------------------

_SSN_CONTEXT = re.compile(r"ssn|social[ _-]?security", re.IGNORECASE)
_SSN = re.compile(r"(?<![\d.-])\d{3}([- .])\d{2}\1\d{4}(?![\d-]|\.\d)")
_BARE_SSN = re.compile(r"(?<![\d.-])\d{9}(?![\d-]|\.\d)")


def _find_ssn(text: str) -> Iterator[Span]:
    """Dashed and spaced SSNs anywhere; dotted and bare 9-digit ones only next to the words that say SSN.
    Numbers never issued (area 000, 666 or 9xx, group 00, serial 0000, the published advertising
    numbers) are not SSNs (python-stdnum's rules)."""
    context = _SSN_CONTEXT.search(text) is not None
    for match in _SSN.finditer(text):
        if (match.group(1) != "." or context) and check.us_ssn(match.group()):
            yield match.span()
    if context:
        for match in _BARE_SSN.finditer(text):
            if check.us_ssn(match.group()):
                yield match.span()


# Only UATP starts with 1, always 15 digits long: that keeps 13-digit epoch milliseconds out.
# The first digits of card numbers of 12 to 19 digits (those starting with 1 have 15).
_LONG_FIRST = FIRST_DIGITS.replace("1", "")
_CARD_DIGITS = rf"(?:1(?:[ -]?\d){{14}}|[{_LONG_FIRST}](?:[ -]?\d){{11,18}})"
CARD_NUMBER = re.compile(rf"(?<![A-Za-z\d-]){_CARD_DIGITS}(?![A-Za-z\d-])")
# Every card number starts with twelve digits like these.
CARD_NUMBERS = Skipping(CARD_NUMBER, digit_run_lead(" -", 1, 12), 0)
# Hyperscan's prefilter mode drops lookbehinds; a character class keeps the digits of hex ids out.
_CARD_PREFILTER = rf"(?:^|[^A-Za-z\d-]){_CARD_DIGITS}"
# Two letters and two digits right before: the digits belong to an IBAN (valid or not), not to a card.
_IBAN_HEAD = re.compile(r"[A-Z]{2}\d{2}[ -]?$")


# The longest card number: 19 digits and 18 separators; the prefilter matches its digits, ending where it ends.
_CARD_REACH = 37


def _find_cards(text: str, pos: int = 0, lead_end: int | None = None) -> Iterator[Span]:
    end = len(text) if lead_end is None else lead_end
    found = card_matches(text, pos, end, _LONG_FIRST) if card_matches is not None else None  # ASCII texts
    for start, stop in card_candidates(text, pos, lead_end) if found is None else found:
        if is_card_number(text[start:stop].replace(" ", "").replace("-", "")):
            yield start, stop


def card_candidates(text: str, pos: int = 0, lead_end: int | None = None) -> Iterator[Span]:
    """The spans of CARD_NUMBERS' matches not right after an IBAN's head: the reference for card_matches
    (digit_runs.py), and the way for texts that are not ASCII."""
    for match in CARD_NUMBERS.finditer(text, pos, lead_end):
        if not _IBAN_HEAD.search(text, max(0, match.start() - 5), match.start()):
            yield match.span()


# Country code, check digits, then the BBAN in groups of up to 4 separated by single spaces or dashes (or
# nothing); the country's registered length decides where it ends, so a word after it is not eaten.
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?=[ -]?[A-Z0-9])")
IBAN_STARTS = Skipping(_IBAN_START, regex_lead(re.compile(r"[A-Z]{2}\d{2}")), 0)
# The BBAN of a country's length: exactly its characters, each maybe after a separator (a separator only
# where a character follows). Registered IBANs have 15 to 34 characters: 11 to 30 in the BBAN.
_BBANS = {size: re.compile(rf"(?:[ -]?[A-Z0-9]){{{size}}}") for size in range(11, 31)}


# Country code, check digits and four characters of the BBAN (each maybe after a separator): what the prefilter
# matches from an IBAN's start, so its match ends 8 to 12 characters after it.
_IBAN_PREFILTER = r"[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]){4}"
_IBAN_REACH = 12


def _find_ibans(text: str, pos: int = 0, lead_end: int | None = None) -> Iterator[Span]:
    """IBAN starts never overlap (a start is not preceded by a letter or digit), so the starts from pos are
    those of the whole text that lie past it, whatever came before."""
    for start in IBAN_STARTS.finditer(text, pos, lead_end):
        length = check.iban_length(start.group()[:2])
        if length is None:
            continue
        # Take exactly the country's length of characters, then the IBAN must end there.
        bban = _BBANS.get(length - 4)
        found = bban.match(text, start.end()) if bban is not None else None
        if found is None:
            continue
        end = found.end()
        if end < len(text) and text[end].isalnum():
            continue
        if check.iban(text[start.start() : end]):
            yield start.start(), end


# Internationalised domains in their ASCII (punycode) form: labels and the TLD may be xn--...
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*"
    r"\.(?:[A-Za-z]{2,24}|xn--[A-Za-z0-9-]{1,59})(?![A-Za-z0-9-])",
    re.ASCII,
)
# The @ is at most 64 characters after an address's start.
EMAILS = Skipping(_EMAIL, regex_lead(re.compile("@")), 64)
# Near the raw matches (a few dozen characters): led by the address's start itself, tried in one search
# rather than at each of the 64 positions before an @.
EMAILS_NEAR = Skipping(
    _EMAIL, regex_lead(re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@", re.ASCII)), 0
)
# The characters around the @ only: far cheaper to scan for than the domain's dot. Its match ends two
# characters after the @.
_EMAIL_PREFILTER = r"[A-Za-z0-9._%+-]@[A-Za-z0-9-]"
_EMAIL_REACH = 66


def _find_emails(text: str) -> Iterator[Span]:
    for match in EMAILS.finditer(text):
        yield match.span()


def _emails_from(text: str, pos: int, lead_end: int) -> Iterator[Span]:
    for match in EMAILS_NEAR.finditer(text, pos, lead_end):
        yield match.span()


def _within_reach(
    find: Callable[[str, int, int], Iterator[Span]], reach: int
) -> Callable[[str, int, int], Iterator[Span]]:
    """A detector's near(): find from reach before the first raw match end, leads up to the last one."""
    return lambda text, first, last: find(text, max(0, first - reach), last)


_IPV4 = r"(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}"
_H16 = r"[0-9A-Fa-f]{1,4}"
# Full and compressed forms, an IPv4 tail (::ffff:192.0.2.1), an optional zone and /prefix. Nothing may
# follow that would make it part of a longer token (2001:db8::256.1.1.1 is not an address).
_IPV6 = (
    r"(?<![0-9A-Za-z:.])(?:"
    rf"(?:{_H16}:){{7}}{_H16}"
    rf"|(?:{_H16}:){{6}}{_IPV4}"
    rf"|(?:{_H16}(?::{_H16}){{0,6}})?::(?:(?:{_H16}:){{0,5}}{_IPV4}|{_H16}(?::{_H16}){{0,6}})?"
    r")(?:%[0-9A-Za-z]+)?(?:/\d{1,3})?(?![0-9A-Za-z:.]|/\d)"
)


def phone_detector(regions: tuple[str, ...]) -> Detector:
    """Phone numbers valid in libphonenumber's numbering plans: international forms, and national forms of
    these regions (phones.py)."""
    return Detector("phone", "personal", PHONE_PREFILTER, False, PhoneFinder(regions).find, DIGITS)


def _personal() -> list[Detector]:
    return [
        Detector(
            "email",
            "personal",
            _EMAIL_PREFILTER,
            False,
            _find_emails,
            ("@",),
            near=_within_reach(_emails_from, _EMAIL_REACH),
        ),
        phone_detector(DEFAULT_REGIONS),
        Detector(
            "credit_card",
            "personal",
            _CARD_PREFILTER,
            False,
            _find_cards,
            DIGITS,
            near=_within_reach(_find_cards, _CARD_REACH),
        ),
        Detector(
            "iban",
            "personal",
            _IBAN_PREFILTER,
            False,
            _find_ibans,
            DIGITS,
            near=_within_reach(_find_ibans, _IBAN_REACH),
        ),
        # Spaced, dotted and bare numbers count only next to "SSN"/"social security": that is what the
        # prefilter needs for them.
        Detector("us_ssn", "personal", r"\d{3}[- ]\d{2}[- ]\d{4}|ssn|social[ _-]?security", True, _find_ssn, DIGITS),
        regex_detector(
            "ipv4",
            "personal",
            # With a CIDR prefix length when one follows.
            rf"(?<![\d.]){_IPV4}(?:/\d{{1,2}})?(?![\d.]|\.\d|/\d)",
            validator=check.ipv4,
            keywords=DIGITS,
            default_on=False,
        ),
        regex_detector("ipv6", "personal", _IPV6, validator=check.ipv6, keywords=(":",), default_on=False),
    ]


BUILTIN: tuple[Detector, ...] = (*_credentials(), *_personal())
BY_NAME = {detector.name: detector for detector in BUILTIN}
