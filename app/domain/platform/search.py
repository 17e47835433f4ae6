"""Text search over records: reading a phone number typed any way, and ranking the hits."""

from __future__ import annotations

import re
from enum import IntEnum, StrEnum

from app.domain.platform.dedup import normalise_phone

# Digits with the separators people type in phone numbers: "138 0013 8000", "138-0013-8000",
# "(021) 5080.1234", "+86 138...".
_PHONE_LIKE = re.compile(r"^\+?[\d\s\-().]+$")
# Fewer digits than this match too many numbers to mean one.
MIN_PHONE_DIGITS = 3


class SearchType(StrEnum):
    lead = "lead"
    customer = "customer"
    contact = "contact"
    opportunity = "opportunity"


class MatchKind(IntEnum):
    """How well a hit matched, best last: the ranking's first key."""

    substring = 1
    name_prefix = 2
    exact = 3


def phone_digits(text: str) -> str | None:
    """What a phone number typed any way has in common with the stored E.164 form ("+86..."), to
    find numbers containing it; None when the text is not a phone number (or too short to mean one).

    An international prefix "00" and a national trunk "0" (021-...) are not in the E.164 form; the
    country code ("+86", "86") is, so it stays."""
    text = text.strip()
    if not _PHONE_LIKE.fullmatch(text):
        return None
    digits = re.sub(r"\D", "", text)
    if digits.startswith("00"):
        digits = digits[2:]
    elif digits.startswith("0"):
        digits = digits[1:]
    return digits if len(digits) >= MIN_PHONE_DIGITS else None


def exact_phone(text: str) -> str | None:
    """The E.164 number the text names, if it is a whole valid phone number."""
    return normalise_phone(text) if _PHONE_LIKE.fullmatch(text.strip()) else None


def score(kind: MatchKind, query: str, name: str) -> float:
    """0-100: the match kind decides the band; within it, the closer the name's length to the
    text's, the higher (a short name that contains the text says more about it than a long one)."""
    coverage = min(len(query.strip()) / max(len(name), 1), 1.0)
    return round((kind - 1) * 33.3 + 30 * coverage + 3, 1)
