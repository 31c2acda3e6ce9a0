"""A labelled set of personal data built from the public formats, seeded: phone numbers from the numbering
plans (libphonenumber's example numbers per region and type, varied and re-validated), card numbers from
the networks' IIN ranges and lengths with a Luhn check digit, IBANs for every country of the SWIFT registry
(python-stdnum's copy) with mod-97 check digits, US SSNs by the issuance rules, e-mail addresses with ASCII
and internationalised (punycode) domains. Each value is written in the formats people use (international,
national, dashes, dots, groups, none) and placed bare, in a sentence and in JSON; look-alikes (bad checksums,
numbers never issued, dates, times, decimals, ids, versions) must come through unchanged."""

import random
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from stdnum.us import ssn as stdnum_ssn

from failpath.redaction.validators import IBAN_STRUCTURES


@dataclass(frozen=True)
class Labelled:
    kind: str  # phone, credit_card, iban, us_ssn, email
    locale: str  # the region, network or country: figures are broken down by it, and by form
    form: str  # how it is written
    secret: str
    text: str


PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IE", "JP", "IN", "BR", "TR", "PH", "AU", "MX", "ZA")
_SENTENCES = (
    "{}",
    "Please call the customer at {} after 5pm.",
    '{{"tool": "lookup_customer", "arguments": {{"contact": "{}"}}}}',
    "Kontakt: {} (Mo-Fr)",
)


def _varied_numbers(region: str, rng: random.Random, count: int) -> list[phonenumbers.PhoneNumber]:
    """Valid numbers of the region: its example mobile and fixed-line numbers with their last digits varied."""
    numbers: list[phonenumbers.PhoneNumber] = []
    for kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        national = str(example.national_number)
        wanted = len(numbers) + count // 2
        for _ in range(200):
            if len(numbers) >= wanted:
                break
            number = phonenumbers.parse(f"+{example.country_code}{national[:-4]}{rng.randrange(10_000):04d}", None)
            if phonenumbers.is_valid_number(number):
                numbers.append(number)
    return numbers


def phones(rng: random.Random, per_region: int = 6) -> list[Labelled]:
    cases = []
    for region in PHONE_REGIONS:
        for number in _varied_numbers(region, rng, per_region):
            international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
            national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
            e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
            forms = {
                "e164": e164,
                "international": international,
                "international-dashes": international.replace(" ", "-"),
                "00-prefix": "00" + e164[1:],
                "national": national,
                "national-dashes": re.sub(r"[ ]+", "-", national.replace("(", "").replace(")", "")),
                "national-dots": re.sub(r"[ -]+", ".", national.replace("(", "").replace(")", "")),
            }
            for form, value in forms.items():
                cases.append(Labelled("phone", region, form, value, rng.choice(_SENTENCES).format(value)))
            digits_only = re.sub(r"\D", "", national)
            context = rng.choice(("Phone: {}", "mobile {}", "call me on {}"))
            cases.append(Labelled("phone", region, "digits-with-context", digits_only, context.format(digits_only)))
    # North American numbers written as people write them, with extensions.
    for _ in range(per_region * 4):
        area, exchange, line = rng.randrange(201, 990), rng.randrange(201, 990), rng.randrange(10_000)
        for form, value in {
            "us-parentheses": f"({area}) {exchange}-{line:04d}",
            "us-extension": f"({area}){exchange}-{line:04d}x{rng.randrange(1, 999)}",
            "us-dots": f"{area}.{exchange}.{line:04d}",
            "us-plus1": f"+1-{area}-{exchange}-{line:04d}",
            "us-tel-uri": f"tel:+1-{area}-{exchange}-{line:04d}",
        }.items():
            secret = value.removeprefix("tel:")
            cases.append(Labelled("phone", "US", form, secret, rng.choice(_SENTENCES).format(value)))
    return cases


# A few prefixes of every network from its published IIN ranges, with the lengths it issues.
CARD_SAMPLES = {
    "visa": (("4",), (13, 16, 19)),
    "mastercard": (("51", "55", "2221", "2720"), (16,)),
    "amex": (("34", "37"), (15,)),
    "diners": (("36", "300", "305", "38"), (14, 16)),
    "discover": (("6011", "65", "644", "622126"), (16, 19)),
    "jcb": (("3528", "3589"), (16, 19)),
    "jcb15": (("1800", "2131"), (15,)),
    "unionpay": (("62",), (16, 19)),
    "maestro": (("5018", "5020", "6759", "6304"), (12, 16, 19)),
    "dankort": (("5019",), (16,)),
    "mir": (("2200", "2204"), (16,)),
    "rupay": (("508", "60"), (16,)),
    "troy": (("9792",), (16,)),
    "uatp": (("1",), (15,)),
    "verve": (("506099", "650002"), (16, 19)),
    "elo": (("636368", "504175"), (16,)),
    "hipercard": (("606282",), (16,)),
    "humo": (("9860",), (16,)),
    "uzcard": (("8600",), (16,)),
    "napas": (("9704",), (16, 19)),
    "interpayment": (("636",), (16,)),
    "instapayment": (("637", "639"), (16,)),
    "lankapay": (("357111",), (16,)),
    "borica": (("2205",), (16,)),
}


def _luhn_digit(partial: str) -> str:
    total = 0
    for index, char in enumerate(reversed(partial)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def _card(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    return body + _luhn_digit(body)


def _grouped(number: str, separator: str) -> str:
    if len(number) == 15 and number[:2] in ("34", "37"):
        return separator.join((number[:4], number[4:10], number[10:]))
    return separator.join(number[index : index + 4] for index in range(0, len(number), 4))


def cards(rng: random.Random, per_network: int = 8) -> list[Labelled]:
    cases = []
    for network, (prefixes, lengths) in CARD_SAMPLES.items():
        for index in range(per_network):
            number = _card(prefixes[index % len(prefixes)], lengths[index % len(lengths)], rng)
            forms = {"compact": number, "spaces": _grouped(number, " "), "dashes": _grouped(number, "-")}
            for form, value in forms.items():
                text = rng.choice(("{}", "Card number: {}", '{{"card": "{}", "exp": "04/29"}}')).format(value)
                cases.append(Labelled("credit_card", network, form, value, text))
    return cases


_CHARSETS = {"n": "0123456789", "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "c": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def _iban(country: str, structure: str, rng: random.Random) -> str:
    bban = "".join(
        rng.choice(_CHARSETS[kind]) for size, kind in re.findall(r"(\d+)!([nac])", structure) for _ in range(int(size))
    )
    numeric = int("".join(str(int(char, 36)) for char in bban + country + "00"))
    return f"{country}{98 - numeric % 97:02d}{bban}"


def ibans(rng: random.Random, per_country: int = 2) -> list[Labelled]:
    cases = []
    for country, structure in sorted(IBAN_STRUCTURES.items()):
        for _ in range(per_country):
            compact = _iban(country, structure, rng)
            grouped = " ".join(compact[index : index + 4] for index in range(0, len(compact), 4))
            for form, value in {"compact": compact, "spaces": grouped, "dashes": grouped.replace(" ", "-")}.items():
                for template in ("{}", "Please transfer the deposit to {} (ref. INV-2291).", "{} ALL FEES PAID"):
                    cases.append(Labelled("iban", country, form, value, template.format(value)))
    return cases


def _ssn(rng: random.Random) -> str:
    while True:
        number = f"{rng.randrange(1, 900):03d}{rng.randrange(1, 100):02d}{rng.randrange(1, 10_000):04d}"
        if stdnum_ssn.is_valid(number):
            return number


def ssns(rng: random.Random, count: int = 60) -> list[Labelled]:
    cases = []
    for _ in range(count):
        number = _ssn(rng)
        area, group, serial = number[:3], number[3:5], number[5:]
        for form, value, template in (
            ("dashes", f"{area}-{group}-{serial}", rng.choice(("{}", "Customer record: {}", '{{"ssn": "{}"}}'))),
            ("spaces", f"{area} {group} {serial}", rng.choice(("{}", "SSN {}"))),
            ("dots-with-context", f"{area}.{group}.{serial}", "SSN: {}"),
            ("digits-with-context", number, rng.choice(("SSN {}", "social security number {}"))),
        ):
            cases.append(Labelled("us_ssn", "US", form, value, template.format(value)))
    return cases


_NAMES = ("jane.doe", "j_smith+billing", "mueller.karl", "tanaka-yuki", "o.connor", "li.wei2024", "x")
_DOMAINS = {
    "ascii": ("example.com", "mail.example.co.uk", "corp-mail.example.io"),
    "punycode-domain": ("xn--mnchen-3ya.de", "xn--bcher-kva.example", "mail.xn--fiqs8s.cn"),
    "punycode-tld": ("example.xn--p1ai", "shop.xn--80asehdb", "xn--e1afmkfd.xn--p1ai"),
    "long-tld": ("example.museum", "example.technology", "example.photography"),
}


def emails(rng: random.Random, per_form: int = 20) -> list[Labelled]:
    cases = []
    for form, domains in _DOMAINS.items():
        for index in range(per_form):
            value = f"{_NAMES[index % len(_NAMES)]}@{domains[index % len(domains)]}"
            text = rng.choice(("{}", "Reply to <{}> please", '{{"to": ["{}"], "subject": "refund"}}')).format(value)
            cases.append(Labelled("email", domains[index % len(domains)].rsplit(".", 1)[1], form, value, text))
    return cases


def labelled(seed: int = 14) -> list[Labelled]:
    rng = random.Random(seed)
    return [*phones(rng), *cards(rng), *ibans(rng), *ssns(rng), *emails(rng)]


def look_alikes(seed: int = 41) -> list[tuple[str, str]]:
    """(what it resembles, text): values that must come through unchanged."""
    rng = random.Random(seed)
    cases = []
    for prefixes, lengths in CARD_SAMPLES.values():
        for index in range(6):
            number = _card(prefixes[index % len(prefixes)], lengths[index % len(lengths)], rng)
            wrong = _grouped(number[:-1] + str((int(number[-1]) + 1 + rng.randrange(9)) % 10), " ")  # Luhn fails
            cases.append(("credit_card", rng.choice(("{}", "order_id={}", "Card number: {}")).format(wrong)))
    for country, structure in sorted(IBAN_STRUCTURES.items()):
        good = _iban(country, structure, rng)
        check = (int(good[2:4]) + 1 + rng.randrange(90)) % 97 + 2
        bad = f"{good[:2]}{check:02d}{good[4:]}"
        if bad != good:
            cases.append(("iban", " ".join(bad[index : index + 4] for index in range(0, len(bad), 4))))
    for area in ("000", "666", "900", "987"):
        cases.append(("us_ssn", f"SSN: {area}-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)}"))
    cases += [("us_ssn", f"ref {rng.randrange(100, 899)}-00-{rng.randrange(1000, 9999)}") for _ in range(10)]
    cases += [("us_ssn", "078 00 1123"), ("us_ssn", "078-05-1120")]
    for _ in range(40):
        stamp = f"20{rng.randrange(20, 30)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        time = f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(10**6):06d}"
        cases += [
            ("date", f"{stamp}T{time}+00:00"),
            ("date", f"due {stamp}, paid {stamp.replace('-', '/')}"),
            ("decimal", f"score={rng.random() * 1000:.6f}"),
            ("id", f"order {rng.randrange(10**9, 10**10)}"),
            ("id", f"tool call {rng.randrange(10**9, 10**10)} returned text {rng.randrange(10**7, 10**8)}"),
            ("id", f"ticket #{rng.randrange(10**6, 10**7)} and job {rng.randrange(10**11, 10**12)}"),
            ("version", f"v{rng.randrange(10)}.{rng.randrange(100)}.{rng.randrange(1000)}"),
            ("amount", f"total {rng.randrange(1, 999)} {rng.randrange(1000):03d} {rng.randrange(1000):03d},00 EUR"),
            ("epoch", f"ts={rng.randrange(1_600_000_000_000, 1_800_000_000_000)}"),
            ("uuid", f"{rng.getrandbits(128):032x}"),
            ("ipv4-like", f"build {rng.randrange(1, 9)}.{rng.randrange(20)}.{rng.randrange(50)}.{rng.randrange(9000)}"),
        ]
    return cases
