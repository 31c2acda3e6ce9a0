"""Phone numbers in every format people write them, confirmed by the numbering plans of libphonenumber.

A candidate is a run of 7 or more digits with at most three separators (space, dot, dash, slash,
parentheses) between any two, an optional leading + or 00, and an optional extension (x123, ext. 45).
It is a phone number when it has the North American shape, (NXX) NXX-XXXX with separators, whether or not
the area code is assigned (made-up numbers in test data and demos are still somebody's number); when it is
written with a + (or with 00 and separators) and its length is possible for the country code; when it has
a bracketed area code and a possible length in one of the configured regions; or else when libphonenumber
finds it valid and grouped the way the plan writes it (STRICT_GROUPING), in one of the configured regions.
Each candidate in a value is tried, so every number in it is found, whatever mix of formats it holds.

Some shapes are other things first, whichever numbering plan would take them: a decimal (849.492065), a
US SSN shape (078 00 1123), runs of four-digit groups (card numbers, IBAN bodies), digits inside an IBAN,
a time's fraction (21:41:06.376561).

Digits alone (4155550132, 05359876543, also in parentheses or with an extension) are also order ids,
timestamps and amounts: they count only when a phone word (phone, tel, mobile, cell, fax, SMS, WhatsApp,
contact, "call me", "text us"...) stands within 40 characters before them, or another phone number of the
value just before them (the same number written twice). "call" and "text" alone are everywhere in agent
traffic (tool calls, text parts): they count only in a phrase.
"""

import re
from collections.abc import Iterator
from functools import lru_cache

import phonenumbers
from phonenumbers import Leniency, NumberParseException, PhoneMetadata, PhoneNumberMatcher, ValidationResult

from failpath.redaction.digit_runs import digit_run_lead
from failpath.redaction.skipping import Skipping

Span = tuple[int, int]

DEFAULT_REGIONS = (
    *("US", "GB", "IE", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "PT", "PL", "SE", "TR"),
    *("IN", "JP", "CN", "KR", "PH", "AU", "NZ", "BR", "MX", "AR", "ZA", "NG", "EG", "SA", "AE"),
)  # fmt: skip

_SEP = r"[ .\-/()\u00a0]{0,3}"
_EXTENSION_BODY = r"[ \u00a0]*(?:x|ext\.?|extension|#)[ \u00a0]*\d{1,6}"
_EXTENSION = rf"(?:{_EXTENSION_BODY})?"
# Not inside a longer token (a time, a version, a decimal's digits); "tel:" links are phone numbers.
_CANDIDATE = re.compile(
    rf"(?:(?<=tel:)|(?<![\w+.\-:]))(?:\+|\b00)?\(?\d(?:{_SEP}\d){{6,48}}\)?{_EXTENSION}(?![\w:]|[.,\-+]\d)"
)
# Every candidate holds seven digits like these, the first at most two characters (+, "(") after its start.
CANDIDATES = Skipping(_CANDIDATE, digit_run_lead(" .-/()\u00a0", 3, 7), 2)
_NOT_A_PHONE = re.compile(
    r"(?:[1-9]\d*|0)\.\d+"  # a decimal (a national number with one dot keeps its leading 0: 030.12345678)
    r"|\d{3}([- .])\d{2}\1\d{4}"  # the US SSN shape
    r"|(?:\d{4}[ -]){2,}\d{1,4}"  # four-digit groups: card numbers, IBAN bodies
)
_IBAN_BEFORE = re.compile(r"[A-Z]{2}\d{2}(?:[ -][A-Z0-9]{4})*[ -]$")
_EXTENSION_TAIL = re.compile(rf"{_EXTENSION_BODY}$")
# "+44 (0)20 ...": the trunk prefix written after the country code, which the international form drops.
_TRUNK_AFTER_COUNTRY = re.compile(r"^(\+\d{1,3})[ \-]?\(0\)[ \-]?")
_NANP_SHAPE = re.compile(r"(?:(?:\+|00)?1[ .\-]?)?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}([ .\-]))[2-9]\d{2}[ .\-]\d{4}")
_BARE = re.compile(rf"\(?\d+\)?{_EXTENSION}")
# Words that say a number is a phone number (their stems: "tel" covers telephone, telefono, téléphone).
_WORDS = (
    "phone|tel|mob|cell|dial|fax|sms|whats ?app|signal|contact|portable|handy|m(?:o|ó)vil|celular"
    "|(?:call|text|reach) (?:me|us|him|her|them|back|at|on)"
)
# Between the word and the number: no control characters, which keeps the prefilter inside one value of a
# serialized span (the framing between a key and its value is control bytes).
_GAP = r"[^\w\x00-\x08\x0b\x0c\x0e-\x1f]"
# Up to four words between, and up to five other characters at a time (a JSON key: "phone": ").
_PHONE_WORDS = re.compile(rf"(?:{_WORDS}){_GAP}{{0,5}}(?:\w+{_GAP}{{1,5}}){{0,4}}$", re.IGNORECASE)
SUPPORTED_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)


def _prefilter() -> str:
    """For the multi-pattern prefilter, a superset of what find() confirms, that stays quiet on the digit runs
    of hex ids and hashes: 7 digits with at least one separator among them, or after + or 00, or a phone word
    shortly before digits."""
    # A no-break space is two bytes to Hyperscan, so it is an alternative, not a class member.
    gap, separator = "(?:[ .\\-/()]|\u00a0){0,3}", "(?:[ .\\-/()]|\u00a0){1,3}"

    def digits(count: int) -> str:  # Hyperscan rejects a {0} repeat
        return rf"\d(?:{gap}\d){{{count - 1}}}" if count > 1 else r"\d"

    separated = "|".join(f"{digits(before)}{separator}{digits(7 - before)}" for before in range(1, 7))
    # find() looks 40 characters back from bare digits for a phone word: up to 160 bytes of UTF-8, and not
    # across the framing of a serialized span (a key's "phone" is not in its value's text).
    within_value = r"[^\x00-\x08\x0b\x0c\x0e-\x1f]{0,160}"
    return rf"{separated}|\+\(?\d{{7}}|00[1-9]\d{{6}}|(?i:{_WORDS}){within_value}\d{{7}}"


PREFILTER = _prefilter()


class PhoneFinder:
    def __init__(self, regions: tuple[str, ...] = DEFAULT_REGIONS) -> None:
        # Per region: its trunk prefix and the lengths its national numbers can have.
        self._plans: list[tuple[str, str, frozenset[int]]] = []
        for region in regions:
            metadata = PhoneMetadata.metadata_for_region(region)
            if metadata is None:
                raise ValueError(f"unknown phone region: {region}")
            lengths = metadata.general_desc.possible_length if metadata.general_desc else ()
            self._plans.append((region, metadata.national_prefix or "", frozenset(lengths)))
        self._valid_cached = lru_cache(maxsize=4096)(self._valid)

    def _regions_for(self, digits: str) -> list[str]:
        """The regions whose national numbers can be this long (after their trunk prefix): the rest need no
        parse at all, which keeps a non-phone cheap."""
        fitting = []
        for region, prefix, lengths in self._plans:
            national = digits[len(prefix) :] if prefix and digits.startswith(prefix) else digits
            if len(national) in lengths or len(digits) in lengths:
                fitting.append(region)
        return fitting

    def find(self, text: str) -> Iterator[Span]:
        found_end = -(1 << 30)
        for match in CANDIDATES.finditer(text):
            run, start = match.group(), match.start()
            if _NOT_A_PHONE.fullmatch(run) or _IBAN_BEFORE.search(text, max(0, start - 40), start):
                continue
            # 00: the international prefix, a format of its own.
            bare = _BARE.fullmatch(run) is not None and not run.lstrip("(").startswith("00")
            if bare and start - found_end > 40 and not _PHONE_WORDS.search(text, max(0, start - 40), start):
                continue
            for piece_start, piece_end in self._numbers(run):
                found_end = start + piece_end
                yield start + piece_start, found_end

    def _numbers(self, run: str) -> Iterator[Span]:
        """The run as one number, or numbers joined by slashes (415-555-0132/415-555-0133)."""
        if self._valid_cached(run):
            yield 0, len(run)
            return
        position = 0
        for piece in run.split("/") if "/" in run else ():
            stripped = piece.strip()
            offset = position + piece.index(stripped) if stripped else position
            if stripped and self._valid_cached(stripped):
                yield offset, offset + len(stripped)
            position += len(piece) + 1

    def _valid(self, candidate: str) -> bool:
        core = _TRUNK_AFTER_COUNTRY.sub(r"\1 ", _EXTENSION_TAIL.sub("", candidate))
        if _NANP_SHAPE.fullmatch(core):
            return True
        digits = re.sub(r"\D", "", core)
        if not 7 <= len(digits) <= 17:
            return False
        if core.startswith(("+", "00")):
            international = "+" + core[2:] if core.startswith("00") else core
            # A + or separated groups are a phone's own way of writing: a possible length for the country
            # is enough (made-up and unassigned numbers are still written as somebody's number). 00 and
            # digits alone are also how ids are padded: those must be valid numbers.
            if core.startswith("+") or not core.isdigit():
                return _possible(international, None)
            return _grouped_as_planned(international, None)
        regions = self._regions_for(digits)
        if core.startswith("("):  # an area code in brackets: a phone's way of writing too
            return any(_possible(core, region) for region in regions)
        return any(_grouped_as_planned(core, region) for region in regions)


def _possible(candidate: str, region: str | None) -> bool:
    """The whole candidate is a number of a length the country's plan allows (not only dialled locally)."""
    try:
        number = phonenumbers.parse(candidate, region)
    except NumberParseException:
        return False
    return phonenumbers.is_possible_number_with_reason(number) == ValidationResult.IS_POSSIBLE


def _grouped_as_planned(candidate: str, region: str | None) -> bool:
    """libphonenumber finds one valid number in the whole candidate, its digits grouped as the plan groups them."""
    match = next(iter(PhoneNumberMatcher(candidate, region, leniency=Leniency.STRICT_GROUPING)), None)
    return match is not None and match.start == 0 and match.end == len(candidate)
