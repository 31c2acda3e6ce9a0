"""The IBAN check holds python-stdnum's BBAN structures compiled (stdnum looks them up and compiles them on
every call): it must decide exactly as stdnum's own iban.validate(check_country=False). The Luhn check of
card numbers sums the digits as bytes: it must decide as stdnum's luhn."""

import random
import string

from stdnum import iban as stdnum_iban
from stdnum import luhn as stdnum_luhn

from failpath.redaction import card_networks, validators
from tests.support.personal_data import ibans


def _stdnum(text: str) -> bool:
    return bool(stdnum_iban.is_valid(text.replace("-", " "), check_country=False))


def test_iban_decides_as_stdnum() -> None:
    rng = random.Random(97)
    valid = [case.secret for case in ibans(rng, per_country=3)]
    texts = list(valid)
    for value in valid:
        chars = list(value)
        for _ in range(3):  # one character changed, two swapped, a character dropped or added
            spot = rng.randrange(len(chars))
            changed = [*chars]
            changed[spot] = rng.choice(string.ascii_uppercase + string.digits + " -")
            texts.append("".join(changed))
            other = rng.randrange(len(chars))
            swapped = [*chars]
            swapped[spot], swapped[other] = swapped[other], swapped[spot]
            texts.append("".join(swapped))
            texts.append(value[:spot] + value[spot + 1 :])
            texts.append(value[:spot] + rng.choice(string.digits) + value[spot:])
        texts.append(value.lower())
        texts.append("XX" + value[2:])
    texts += ["", "DE", "DE89", "DE89 ", "GB82 WEST", "0000000000000000", "DE89\n3704 0044 0532 0130 00"]
    # What stdnum cleans or refuses besides spaces and dashes: dots, edges of whitespace, Unicode dashes and
    # spaces, the backtick it reads as an apostrophe, digits of other scripts.
    first = valid[0]
    texts += [first.replace(" ", "."), f"\t{first} ", first.replace(" ", "\u2013"), first.replace(" ", "\u00a0")]
    texts += [first[:4] + "`" + first[4:], first[:2] + "\u0663\u0663" + first[4:], first.replace(" ", "\x1c")]
    assert sum(map(validators.iban, valid)) == len(valid)
    decided = [(text, validators.iban(text), _stdnum(text)) for text in texts]
    assert [case for case in decided if case[1] != case[2]] == []
    assert 0 < sum(ours for _, ours, _ in decided) < len(decided)


def test_luhn_decides_as_stdnum() -> None:
    rng = random.Random(10)
    numbers = ["4111111111111111", "4111111111111112", "0", "00", "18", "79927398713", "5500005555555559"]
    numbers += ["".join(rng.choices(string.digits, k=rng.randint(1, 25))) for _ in range(20_000)]
    assert [number for number in numbers if card_networks.luhn(number) != stdnum_luhn.is_valid(number)] == []
    assert 0 < sum(map(card_networks.luhn, numbers)) < len(numbers)
    # Digits of other scripts (which is_card_number lets through to the check) are read as code points, as
    # before the byte sums.
    for number in ("\u0664\u0661\u0661\u0661" * 4, "\uff14" + "1" * 15):
        assert card_networks.luhn(number) == card_networks._luhn_by_code_points(number)
