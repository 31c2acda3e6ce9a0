"""Checks that turn a pattern match into a finding: checksums, number ranges, placeholders."""

import ipaddress
import re
import string
from importlib import resources

from stdnum import iban as stdnum_iban
from stdnum.iso7064 import mod_97_10
from stdnum.us import ssn as stdnum_ssn

_NON_DIGIT = re.compile(r"\D")


def _iban_registry() -> dict[str, str]:
    """Country -> its BBAN's structure ("8!n10!n"), from the SWIFT registry python-stdnum ships (iban.dat)."""
    structures = {}
    for line in resources.files("stdnum").joinpath("iban.dat").read_text().splitlines():
        match = re.match(r'([A-Z]{2}) .*bban="([^"]+)"', line)
        if match:
            structures[match.group(1)] = match.group(2)
    return structures


IBAN_STRUCTURES = _iban_registry()
# Each BBAN structure as python-stdnum's iban.validate checks it ("4!n" -> four digits, a: A-Z, c: A-Za-z0-9),
# compiled once: stdnum looks the country up in its number database and compiles the structure on every
# call (most of the cost of confirming an IBAN).
_BBAN_FORMATS = {
    country: re.compile(
        re.sub(
            r"([1-9][0-9]*)!([nac])",
            lambda part: {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Za-z0-9]"}[part.group(2)] + f"{{{part.group(1)}}}",
            structure,
        )
    )
    for country, structure in IBAN_STRUCTURES.items()
}
_IBAN_LENGTHS = {
    country: 4 + sum(int(size) for size in re.findall(r"(\d+)!", bban)) for country, bban in IBAN_STRUCTURES.items()
}


# Letters as mod-97 reads them: A=10 ... Z=35 (ISO 7064), written out in decimal; digits as themselves.
_BASE36 = {letter: str(ord(letter) - 55) for letter in string.ascii_uppercase} | {d: d for d in string.digits}


def digits(text: str) -> str:
    return _NON_DIGIT.sub("", text)


def iban_length(country: str) -> int | None:
    """The registered length of the country's IBANs (SWIFT IBAN registry, through python-stdnum)."""
    return _IBAN_LENGTHS.get(country)


def iban(text: str) -> bool:
    """Registered country, its length and BBAN format, and the mod-97 check."""
    # Not the national check digits some countries add inside the BBAN: generated and test IBANs often get
    # those wrong, and the mod-97 check already stands for the whole number.
    # What stdnum_iban.validate(text, check_country=False) decides (tests/redaction/test_validators.py).
    # stdnum's compact and mod-97 go character by character in Python; for ASCII text (stdnum maps only the
    # backtick among ASCII characters) these give the same number and check, several times faster.
    if text.isascii() and "`" not in text:
        number = text.replace(" ", "").replace("-", "").replace(".", "").strip().upper()
    else:
        number = stdnum_iban.compact(text.replace("-", " "))
    bban = _BBAN_FORMATS.get(number[:2])
    if bban is None or bban.fullmatch(number[4:]) is None:
        return False
    rearranged = number[4:] + number[:4]
    if rearranged.isascii() and rearranged.isalnum():
        return int("".join(map(_BASE36.__getitem__, rearranged))) % 97 == 1  # (str.translate is slower here)
    return mod_97_10.is_valid(rearranged)


def us_ssn(text: str) -> bool:
    """Issued numbers only: no area 000, 666 or 9xx, group 00, serial 0000, nor the published advertising
    and test numbers."""
    number = digits(text)
    return len(number) == 9 and bool(stdnum_ssn.is_valid(number))


def ipv4(text: str) -> bool:
    """Any address but 0.0.0.0, with or without a CIDR prefix length: once the IP detectors are on, private
    and loopback addresses are masked too (they still name a host, a tenant, a person's machine)."""
    try:
        address = ipaddress.IPv4Interface(text).ip
    except ValueError:
        return False
    return not address.is_unspecified


def ipv6(text: str) -> bool:
    address_text = text.split("/", maxsplit=1)[0].split("%", maxsplit=1)[0]
    if address_text.count(":") < 2:
        return False
    try:
        address = ipaddress.IPv6Address(address_text)
    except ValueError:
        return False
    # A compressed form needs at least three groups, an IPv4 tail, a zone or a prefix length to be told apart
    # from "a::b" in prose; ::1 is the loopback address.
    groups = [group for group in address_text.split(":") if group]
    marked = len(groups) >= 3 or "." in address_text or text != address_text or address.is_loopback
    return not address.is_unspecified and marked


def mixed_token(text: str) -> bool:
    """Looks random: upper and lower case letters and a digit, not just hex (so not a git SHA)."""
    return (
        any(c.isupper() for c in text)
        and any(c.islower() for c in text)
        and any(c.isdigit() for c in text)
        and not all(c in "0123456789abcdefABCDEF" for c in text)
    )


def has_digit_or_symbol(text: str) -> bool:
    """A credential, not a word: 'authentication' after 'Basic' is prose."""
    return any(c.isdigit() or c in "._~+/=-" for c in text)


_PLACEHOLDER_WORDS = (
    "your", "example", "redacted", "placeholder", "changeme", "change_me", "replace", "dummy", "here",
    "abcdefgh", "12345678",
)  # fmt: skip


def not_placeholder(text: str) -> bool:
    """False for values that only stand for a secret: ${VAR}, <token>, {{ .Values.x }}, ****, xxxx, YOUR_KEY."""
    stripped = text.strip()
    if len(stripped) < 6 or stripped[0] in "$<{[*(#":
        return False
    if re.match(r"%\(|%\{|%\w+%$", stripped):  # %(name)s, %{VAR}, %VAR%
        return False
    lowered = stripped.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS):
        return False
    if "xxxx" in lowered or "****" in stripped or "..." in stripped or "####" in stripped:
        return False
    # A run of one repeated character (aaaaaa, 000000) is a filler, not a secret.
    return not re.search(r"(.)\1{5,}", stripped)


def assigned_secret(text: str) -> bool:
    """The value of a password=/token: assignment: not a placeholder, a number, a call or a path."""
    if not not_placeholder(text):
        return False
    stripped = text.strip()
    if stripped.isdigit() or stripped.lower() in ("true", "false", "null", "none", "nil", "undefined"):
        return False
    if re.match(r"^[A-Za-z_][\w.]*[(\[]", stripped):  # os.getenv("X"), env("X"), os.environ["X"]
        return False
    if stripped.startswith(("/", "./", "~/", "http://", "https://")):
        return False
    # CONSTANT_NAMES and dotted.config.paths are references to a secret, not the secret.
    return not re.fullmatch(r"[A-Z][A-Z0-9_]*_[A-Z0-9_]+|[a-z_]+(?:\.[a-z_]+)+", stripped)
