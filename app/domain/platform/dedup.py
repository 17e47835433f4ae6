"""Matching keys for de-duplication: normalised phone, e-mail, company name and unified social
credit code, and fuzzy matching."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from rapidfuzz import fuzz, process
from stdnum.cn import uscc as uscc_standard
from stdnum.exceptions import ValidationError

from app.domain.platform.errors import FieldError, InvalidInput

K = TypeVar("K", bound=Hashable)

# Longest first, so "股份有限公司" is stripped whole rather than leaving "股份".
_LEGAL_SUFFIXES = sorted(
    (
        "集团股份有限公司",
        "股份有限公司",
        "有限责任公司",
        "集团有限公司",
        "有限公司",
        "分公司",
        "集团",
        "公司",
        "中国",
        "coltd",
        "limited",
        "ltd",
        "co",
        "incorporated",
        "inc",
        "corporation",
        "corp",
        "company",
        "llc",
        "gmbh",
        "plc",
    ),
    key=len,
    reverse=True,
)
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise_phone(raw: str, default_region: str = "CN") -> str | None:
    """E.164 for a valid number in any common notation, else None."""
    digits = re.sub(r"[^\d+]", "", raw)
    # "8613800138000" (country code without "+" or "00") parses as a national number in CN and
    # fails; a 13-digit string starting with 86 followed by a mobile prefix is the Chinese form.
    if re.fullmatch(r"86(1\d{10})", digits):
        digits = "+" + digits
    elif digits.startswith("00"):
        digits = "+" + digits[2:]
    try:
        number = phonenumbers.parse(digits, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str | None:
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.normalized.lower()


def normalise_company(name: str) -> str:
    """Case-folded, full-width folded, punctuation-free, legal suffixes removed.

    "上海申华建材有限公司", "上海申华建材股份有限公司" and "（上海）申华建材" compare as near-equal;
    "ACME Co., Ltd." and "Acme Limited" as equal.
    """
    text = _NOT_WORD.sub("", unicodedata.normalize("NFKC", name).casefold())
    stripped = True
    while stripped:
        stripped = False
        for suffix in _LEGAL_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text = text[: -len(suffix)]
                stripped = True
                break
    return text


def prefix_range(prefix: str) -> tuple[str, str | None]:
    """(low, high): the strings starting with `prefix` are those >= low and < high (None: no
    upper bound) in code-point order, which is UTF-8 byte order, as SQLite and a "C" collation
    compare. Bounds an index range scan where a LIKE prefix may not."""
    stem = prefix
    while stem:
        following = ord(stem[-1]) + 1
        if 0xD800 <= following <= 0xDFFF:  # surrogates are not characters
            following = 0xE000
        if following <= 0x10FFFF:
            return prefix, stem[:-1] + chr(following)
        stem = stem[:-1]  # the last code point has no successor: carry to the one before
    return prefix, None


def normalise_contact(phone: str | None, email: str | None) -> tuple[str | None, str | None]:
    """(E.164 phone, normalised e-mail), or InvalidInput naming every field that cannot be read."""
    errors = []
    phone_key = normalise_phone(phone) if phone else None
    if phone and phone_key is None:
        errors.append(FieldError("phone", "phone.invalid", "not a valid phone number"))
    email_key = normalise_email(email) if email else None
    if email and email_key is None:
        errors.append(FieldError("email", "email.invalid", "not a valid e-mail address"))
    if errors:
        raise InvalidInput("Some contact details are not valid.", code="contact.invalid", errors=errors)
    return phone_key, email_key


def normalise_uscc(raw: str) -> str | None:
    """The unified social credit code (GB 32100-2015) in upper case without spaces, or None when
    its length, characters or check digit are wrong (python-stdnum's cn.uscc implements the
    standard's weights and alphabet; a hand-written copy would be one more thing to get wrong)."""
    try:
        return str(uscc_standard.validate(raw))
    except ValidationError:
        return None


# Customers that shared a name key before it was unique keep "#<code>" after it (migration 0025):
# a normalised name never holds "#", so the mark cannot be confused with a name.
LEGACY_DUPLICATE_MARK = "#"


def comparable_name_key(name_key: str) -> str:
    """A stored name key without the legacy-duplicate mark, for fuzzy comparison."""
    return name_key.split(LEGACY_DUPLICATE_MARK, 1)[0]


@dataclass(frozen=True)
class CustomerKeys:
    """What identifies a company: any one equal to another live customer's is a duplicate."""

    name: str | None
    uscc: str | None = None
    phone: str | None = None
    email: str | None = None


def customer_keys(
    name: str | None, uscc: str | None = None, phone: str | None = None, email: str | None = None
) -> CustomerKeys:
    """Normalised keys, or InvalidInput naming every field that cannot be read."""
    errors = []
    uscc_key = normalise_uscc(uscc) if uscc else None
    if uscc and uscc_key is None:
        errors.append(
            FieldError(
                "uscc",
                "uscc.invalid",
                "not a unified social credit code: 18 characters of 0-9 and A-Y without I, O, S, V, Z, "
                "ending in the GB 32100-2015 check character",
            )
        )
    try:
        phone_key, email_key = normalise_contact(phone, email)
    except InvalidInput as invalid:
        errors.extend(invalid.errors)
        phone_key = email_key = None
    if errors:
        raise InvalidInput(
            "Some identifying details are not valid.", code="customer.invalid_keys", errors=errors
        )
    return CustomerKeys(
        # A name of punctuation only normalises to "": equal to another such name, still a key.
        name=normalise_company(name) if name is not None else None,
        uscc=uscc_key,
        phone=phone_key,
        email=email_key,
    )


def company_similarity(a: str, b: str) -> float:
    """0-100. fuzz.ratio (normalised Indel distance) works on CJK text, which has no spaces to split
    into tokens; both names are normalised first so suffixes and punctuation do not count."""
    return float(fuzz.ratio(normalise_company(a), normalise_company(b)))


@dataclass(frozen=True)
class Match(Generic[K]):
    key: K
    name: str
    score: float


def find_similar_companies(
    name_key: str, candidates: Iterable[tuple[K, str]], *, threshold: float, limit: int
) -> list[Match[K]]:
    """Candidates whose normalised name scores at least `threshold` against `name_key`, best first."""
    choices = dict(candidates)
    if not name_key or not choices:
        return []
    found = process.extract(name_key, choices, scorer=fuzz.ratio, score_cutoff=threshold, limit=limit)
    return [Match(key=key, name=choice, score=float(score)) for choice, score, key in found]
