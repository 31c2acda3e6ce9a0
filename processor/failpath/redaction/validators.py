"""Checks that turn a pattern match into a finding: checksums, number ranges, placeholders."""

import ipaddress
import re

_NON_DIGIT = re.compile(r"\D")

# Length of an IBAN per country (ISO 13616), for the countries most seen in European traffic and more.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
    "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip


def digits(text: str) -> str:
    return _NON_DIGIT.sub("", text)


def luhn(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_number(text: str) -> bool:
    number = digits(text)
    return 13 <= len(number) <= 19 and luhn(number)


def iban(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def us_ssn(text: str) -> bool:
    number = digits(text)
    area, group, serial = number[:3], number[3:5], number[5:]
    return len(number) == 9 and area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def phone(text: str) -> bool:
    return 8 <= len(digits(text)) <= 15


_RFC1918 = tuple(ipaddress.IPv4Network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def ipv4(text: str) -> bool:
    """Addresses that can point at a person; private, loopback and multicast ranges cannot."""
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        return False
    if address.is_loopback or address.is_unspecified or address.is_multicast or address.is_link_local:
        return False
    return not any(address in network for network in _RFC1918)


def ipv6(text: str) -> bool:
    if text.count(":") < 2 or len([group for group in text.split(":") if group]) < 3:
        return False
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified or address.is_link_local)


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
