"""Synthetic personal data for data-protection probes: valid-looking, never real, never reported.

Phone numbers (mainland China mobile format), resident ID numbers with a
correct ISO 7064 MOD 11-2 check character and 16-digit bank card numbers
with a correct Luhn digit (never mistaken for an 18-character ID). ID
numbers carry birth dates in 1900–1904, so no living person holds them. A
check that uses these values must never put them in evidence or an
assertion message: report counts, not values.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_check_character(first17: str) -> str:
    """The check character of an 18-character resident ID number."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def luhn_digit(partial: str) -> str:
    """The Luhn check digit to append to ``partial``."""
    total = 0
    for index, char in enumerate(reversed(partial)):
        digit = int(char)
        if index % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str((10 - total % 10) % 10)


@dataclass(frozen=True)
class PersonalRecord:
    """One synthetic person."""

    phone: str
    id_card: str
    bank_card: str

    def values(self) -> tuple[str, str, str]:
        return (self.phone, self.id_card, self.bank_card)


def synthetic_people(count: int, rng: random.Random | None = None) -> list[PersonalRecord]:
    """``count`` synthetic people (a fresh random source unless one is given)."""
    rng = rng or random.Random()
    people = []
    for _ in range(count):
        phone = "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))
        birth = f"190{rng.randint(0, 4)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        first17 = "110101" + birth + f"{rng.randint(0, 999):03d}"
        card = "62" + "".join(rng.choice("0123456789") for _ in range(13))
        people.append(PersonalRecord(phone, first17 + id_check_character(first17),
                                     card + luhn_digit(card)))
    return people


def probe_document(people: list[PersonalRecord]) -> str:
    """A small CSV-like text holding the people's data, as a customer file would."""
    lines = ["name,mobile,id_number,bank_card"]
    lines += [f"probe-person-{i},{p.phone},{p.id_card},{p.bank_card}"
              for i, p in enumerate(people)]
    return "\n".join(lines) + "\n"
