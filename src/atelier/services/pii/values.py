"""Recognisers of one value: each returns what it recognised (a format label) or None.

Checksums come from ``python-stdnum`` (Luhn, IBAN's mod 97, each country's identifier rules) and
phone numbers from ``phonenumbers`` (Google's libphonenumber metadata, by region); e-mail and IP
addresses use a strict pattern and the standard library. Values that only *could* be an
identifier (nine bare digits pass the US SSN rules nine times in ten) are marked weak: a column
counts them only when its name also says so.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime

from atelier.services.pii.names import GIVEN_NAMES, HONORIFICS, LEGAL_FORMS, SURNAMES

EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
)


def email(value: str) -> str | None:
    return "email" if EMAIL.fullmatch(value) else None


_IP_CHARS = re.compile(r"[0-9a-fA-F:.]{2,45}(?:%[\w.-]{1,16})?")
# An address with its port, as servers log a peer: "203.0.113.7:51234", "[2001:db8::1]:443".
_WITH_PORT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9a-fA-F:.]{2,45}(?:%[\w.-]{1,16})?)\]")


def ip_address(value: str) -> str | None:
    host, colon, port = value.rpartition(":")
    if (
        colon
        and port.isdigit()
        and int(port) <= 65535
        and (with_port := _WITH_PORT.fullmatch(host))
    ):
        value = with_port.group(1) or with_port.group(2)
    if not _IP_CHARS.fullmatch(value) or ("." not in value and ":" not in value):
        return None
    try:
        parsed = ipaddress.ip_address(value)
    except ValueError:
        return None
    # A bare "1.2.3.4"-style version number is an address too; "::" or "0.0.0.0" is nobody's.
    return None if parsed.is_unspecified else f"ipv{parsed.version}"


_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}")


def iban(value: str) -> str | None:
    from stdnum import iban as stdnum_iban

    compact = value.replace(" ", "").replace("-", "").upper()
    if not _IBAN.fullmatch(compact) or not stdnum_iban.is_valid(compact):
        return None
    return compact[:2]


_SPACES = re.compile(r"\s+")
_CARD = re.compile(r"\d{4}(?:[ -]?\d{2,4}){2,4}(?:[ -]?\d{1,3})?")
# (brand, prefixes, lengths): the issuer ranges of ISO/IEC 7812 the big networks publish.
_BRANDS: tuple[tuple[str, tuple[str, ...], tuple[int, ...]], ...] = (
    ("amex", ("34", "37"), (15,)),
    ("visa", ("4",), (13, 16, 19)),
    ("mastercard", tuple(str(p) for p in range(51, 56)), (16,)),
    ("mastercard", tuple(str(p) for p in range(2221, 2721)), (16,)),
    ("discover", ("6011", "65", *(str(p) for p in range(644, 650))), (16, 19)),
    ("jcb", tuple(str(p) for p in range(3528, 3590)), (16, 17, 18, 19)),
    ("diners", ("36", "38", "39", *(str(p) for p in range(300, 306))), (14, 16)),
    ("unionpay", ("62",), (16, 17, 18, 19)),
    ("maestro", ("50", "56", "57", "58", "6304", "6759", "6761", "6762", "6763"), (12, 13, 16, 19)),
)


def payment_card(value: str) -> str | None:
    from stdnum import luhn

    value = _SPACES.sub(" ", value)
    if not _CARD.fullmatch(value):
        return None
    digits = value.replace(" ", "").replace("-", "")
    if not 12 <= len(digits) <= 19 or not luhn.is_valid(digits):
        return None
    for brand, prefixes, lengths in _BRANDS:
        if len(digits) in lengths and digits.startswith(prefixes):
            return brand
    return None


_PHONE = re.compile(r"\+?[\d\s().\-/]{6,24}")
PHONE_REGIONS = (
    "US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "SE", "NO", "DK", "FI", "PL",
    "PT", "IE", "IN", "BR", "MX", "JP", "CN", "AU", "CA", "ZA",
)  # fmt: skip


def phone(
    value: str, regions: Sequence[str] = PHONE_REGIONS, *, grouped: bool = True
) -> tuple[str, bool] | None:
    """(region, strong) of a valid phone number. Strong: written as a phone number is (an
    international prefix, a trunk 0, separators); weak: a bare run of digits.

    A national number valid in several regions ("090-1236-3542": Japan, Britain, Italy...)
    is the first region's that groups its digits as written, else the first region's; with
    ``grouped`` False, the first region's (quicker: one region tried where it is valid)."""
    import phonenumbers

    candidate = _phone_candidate(value)
    if candidate is None:
        return None
    text, strong, international = candidate
    groups = _GROUPS.findall(text) if grouped and not international else []
    first: str | None = None
    same_groups: str | None = None
    for region in (None,) if international else regions:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if region is None:
            if phonenumbers.is_valid_number(number):
                return phonenumbers.region_code_for_number(number) or "?", strong
        elif phonenumbers.is_valid_number_for_region(number, region):
            if len(groups) < 2:
                return region, strong
            written = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
            if written == text:  # the region's own way of writing it, separators included
                return region, strong
            if same_groups is None and _GROUPS.findall(written) == groups:
                same_groups = region
            first = first or region
    found = same_groups or first
    return (found, strong) if found else None


_GROUPS = re.compile(r"\d+")
_DIGIT = re.compile(r"\d")
_SHAPES = 50  # ways of writing per column looked at by their grouping; then first region


# A decimal number ("46.833680", "-30.6"), or an IPv4 address or network ("10.8.93.0/24").
_NOT_PHONE = re.compile(r"-?\d+\.\d+|\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?")
_EXTENSION = re.compile(r"\s*(?:ext\.?|extension|x|#|dw\.?|poste)\s*\d{1,6}$", re.IGNORECASE)


def _phone_candidate(value: str) -> tuple[str, bool, bool] | None:
    value = _EXTENSION.sub("", value)
    if not _PHONE.fullmatch(value) or _NOT_PHONE.fullmatch(value) or _isbn(value):
        return None
    digits = re.sub(r"\D", "", value)
    international = value.startswith("+") or value.startswith("00")
    if not (7 if international else 8) <= len(digits) <= 15 or as_date(value) is not None:
        return None
    strong = international or digits.startswith("0") or digits != value
    text = ("+" + value[2:] if value.startswith("00") else value) if international else value
    return text, strong, international


def _isbn(value: str) -> bool:
    """An ISBN as printed: hyphenated groups ending with a one-digit check ("0-306-40615-2")."""
    if value.count("-") not in (3, 4) or len(value.rsplit("-", 1)[1]) != 1:
        return False
    from stdnum import isbn

    return bool(isbn.is_valid(value))


class PhoneColumn:
    """Phone recognition for one column: regions that matched are tried first, and a column
    whose first twenty candidates are mostly not phone numbers is not tried further (trying
    every region on every value of an id column is what would make classification slow)."""

    def __init__(self) -> None:
        self.regions = list(PHONE_REGIONS)
        self.tried = 0
        self.hits = 0
        # The region of each way of writing a number ("ddd-dddd-dddd"), found once by the
        # grouping of its digits: a column writes its numbers in a few ways.
        self.shapes: dict[str, str | None] = {}

    def __call__(self, value: str) -> tuple[str, bool] | None:
        if self.tried >= 20 and self.hits < 0.2 * self.tried:
            return None
        candidate = _phone_candidate(value)
        if candidate is None:
            return None
        self.tried += 1
        shape = _DIGIT.sub("d", candidate[0])
        if shape in self.shapes:
            region = self.shapes[shape]
            regions = self.regions if region is None else [region, *self.regions]
            found = phone(value, regions, grouped=False)
        else:
            found = phone(value, self.regions, grouped=len(self.shapes) < _SHAPES)
            self.shapes[shape] = found[0] if found else None
        if found is not None:
            self.hits += 1
            region = found[0]
            if region in self.regions and self.regions[0] != region:
                self.regions.remove(region)
                self.regions.insert(0, region)
        return found


_NINO = r"(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]"
_NIR = r"[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}"
_CF = r"[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]"


def _validators() -> list[tuple[str, re.Pattern[str], Callable[[str], bool], bool]]:
    """(scheme, shape, checksum, strong) per identifier; the shape is tried first (cheap)."""
    from stdnum.be import nn
    from stdnum.br import cpf
    from stdnum.ca import sin
    from stdnum.ch import ssn as ch_ssn
    from stdnum.cn import ric
    from stdnum.de import idnr
    from stdnum.dk import cpr
    from stdnum.es import dni, nie
    from stdnum.fi import hetu
    from stdnum.fr import nir
    from stdnum.gb import nhs
    from stdnum.in_ import aadhaar
    from stdnum.it import codicefiscale
    from stdnum.kr import rrn
    from stdnum.mx import curp
    from stdnum.nl import bsn
    from stdnum.no import fodselsnummer
    from stdnum.pl import pesel
    from stdnum.se import personnummer
    from stdnum.us import ssn
    from stdnum.za import idnr as za_idnr

    def nino(value: str) -> bool:
        return True  # the shape below is the whole rule (HMRC publishes no check digit)

    def z(pattern: str) -> re.Pattern[str]:
        return re.compile(pattern, re.IGNORECASE)

    return [
        ("us.ssn", z(r"\d{3}-\d{2}-\d{4}"), ssn.is_valid, True),
        ("us.ssn", z(r"\d{9}"), ssn.is_valid, False),
        ("gb.nino", z(_NINO), nino, True),
        ("gb.nhs", z(r"\d{3}[ -]?\d{3}[ -]?\d{4}"), nhs.is_valid, True),
        ("fr.nir", z(_NIR), nir.is_valid, True),
        ("de.idnr", z(r"\d{2} ?\d{3} ?\d{3} ?\d{3}"), idnr.is_valid, True),
        ("nl.bsn", z(r"\d{4}\.?\d{2}\.?\d{3}|\d{9}"), bsn.is_valid, True),
        ("es.dni", z(r"\d{8}-?[A-Z]"), dni.is_valid, True),
        ("es.nie", z(r"[XYZ]-?\d{7}-?[A-Z]"), nie.is_valid, True),
        ("it.codicefiscale", z(_CF), codicefiscale.is_valid, True),
        ("se.personnummer", z(r"(?:\d{2})?\d{6}[-+]\d{4}|\d{12}"), personnummer.is_valid, True),
        ("se.personnummer", z(r"\d{10}"), personnummer.is_valid, False),
        ("dk.cpr", z(r"\d{6}-\d{4}"), cpr.is_valid, True),
        ("fi.hetu", z(r"\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]"), hetu.is_valid, True),
        ("no.fodselsnummer", z(r"\d{6} ?\d{5}"), fodselsnummer.is_valid, True),
        ("pl.pesel", z(r"\d{11}"), pesel.is_valid, True),
        ("be.nn", z(r"\d{2}\.?\d{2}\.?\d{2}-?\d{3}\.?\d{2}"), nn.is_valid, True),
        ("ch.ssn", z(r"756\.?\d{4}\.?\d{4}\.?\d{2}"), ch_ssn.is_valid, True),
        ("in.aadhaar", z(r"[2-9]\d{3} ?\d{4} ?\d{4}"), aadhaar.is_valid, True),
        ("br.cpf", z(r"\d{3}\.\d{3}\.\d{3}-\d{2}|\d{11}"), cpf.is_valid, True),
        ("ca.sin", z(r"\d{3}[ -]?\d{3}[ -]?\d{3}"), sin.is_valid, True),
        ("cn.ric", z(r"\d{17}[\dX]"), ric.is_valid, True),
        ("kr.rrn", z(r"\d{6}-?\d{7}"), rrn.is_valid, True),
        ("mx.curp", z(r"[A-Z]{4}\d{6}[HM][A-Z]{5}[0-9A-Z]\d"), curp.is_valid, True),
        ("za.idnr", z(r"\d{13}"), za_idnr.is_valid, True),
    ]  # fmt: skip


_VALIDATORS: list[tuple[str, re.Pattern[str], Callable[[str], bool], bool]] = []
# Separators people put in identifiers in ways the schemes do not prescribe ("12.345.678-Z",
# "123 456 789", "538676179-02"): such a value is also tried without them, and counts as the
# bare form would. Not for the schemes whose check other numbers share when their separators
# are dropped: a hyphenated ISBN-10 is a valid NHS number, digits only.
_SEPARATORS = re.compile(r"[\s./-]+")
_NOT_COMPACTED = frozenset({"gb.nhs", "us.ssn", "ca.sin", "de.idnr"})


def national_id(value: str) -> tuple[str, bool] | None:
    """(scheme, strong) of the first identifier scheme whose shape and checksum the value has."""
    if not 9 <= len(value) <= 22:
        return None
    if not _VALIDATORS:
        _VALIDATORS.extend(_validators())
    found = _scheme(value)
    if found is None or not found[1]:
        compact = _SEPARATORS.sub("", value)
        if compact != value and len(compact) >= 9:
            found = _scheme(compact, _NOT_COMPACTED) or found
    return found


def _scheme(value: str, skip: frozenset[str] = frozenset()) -> tuple[str, bool] | None:
    weak: tuple[str, bool] | None = None
    for scheme, shape, valid, strong in _VALIDATORS:
        if scheme not in skip and shape.fullmatch(value) and _safe(valid, value):
            if strong:
                return scheme, True
            weak = weak or (scheme, False)
    return weak


def _safe(valid: Callable[[str], bool], value: str) -> bool:
    try:
        return bool(valid(value))
    except Exception:
        return False


_DATE_SHAPES = (
    (re.compile(r"\d{4}-\d{2}-\d{2}"), ("%Y-%m-%d",)),
    (re.compile(r"\d{1,2}/\d{1,2}/\d{4}"), ("%d/%m/%Y", "%m/%d/%Y")),
    (re.compile(r"\d{1,2}\.\d{1,2}\.\d{4}"), ("%d.%m.%Y",)),
    (re.compile(r"\d{4}/\d{2}/\d{2}"), ("%Y/%m/%d",)),
    (re.compile(r"\d{1,2}-\d{1,2}-\d{4}"), ("%d-%m-%Y", "%m-%d-%Y")),
    # "19800517": counted as a birth date only where the column's name says so (the caller).
    (re.compile(r"(?:19|20)\d{6}"), ("%Y%m%d",)),
)
# English month names, read once the commas, dots and dashes are spaces: "17 May 1980",
# "17-May-1980", "May 17, 1980", "17 Sept. 1980".
_MONTH_DATE = re.compile(r"\d{1,2}[ -][A-Za-z]{3,9}\.?[ -]\d{4}|[A-Za-z]{3,9}\.? \d{1,2},? \d{4}")
_MONTH_FORMATS = ("%d %B %Y", "%d %b %Y", "%B %d %Y", "%b %d %Y")


def as_date(value: object) -> date | None:
    """A calendar date from a date, a midnight timestamp or a date written in a common way."""
    if isinstance(value, datetime):
        if (value.hour, value.minute, value.second, value.microsecond) != (0, 0, 0, 0):
            return None
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not 8 <= len(value) <= 19:
        return None
    if len(value) <= 10:
        for shape, formats in _DATE_SHAPES:
            if shape.fullmatch(value):
                return _parse(value, formats)
    if _MONTH_DATE.fullmatch(value):
        plain = " ".join(value.replace(",", " ").replace(".", " ").replace("-", " ").split())
        return _parse(plain.replace("Sept ", "Sep "), _MONTH_FORMATS)
    return None


def _parse(value: str, formats: Sequence[str]) -> date | None:
    for fmt in formats:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


_NAME_TOKEN = re.compile(r"[^\W\d_]+(?:['\u2019.-][^\W\d_]*)*\.?")
# Lowercase words inside names ("van der Berg", "da Silva", "bin Rashid").
_PARTICLES = frozenset(
    ("van", "von", "der", "den", "de", "del", "della", "di", "da", "dos", "das", "du", "le",
     "la", "el", "al", "bin", "ibn", "ter", "ten", "zu", "y", "e")
)  # fmt: skip


def person_name(value: str) -> tuple[bool, bool] | None:
    """(shape, known): the value is written like a name (one to five capitalised words, or
    "Surname, Given"), and whether one of its words is a common given name or surname.

    A name written all in lower case ("maria garcia") counts only with two words or more, one
    of them known; it is "known" when two are. A value with a company's legal form ("GmbH",
    "Ltd", "S.p.A.") or an ampersand is a company, not a person."""
    tokens = value.replace(",", " ").split()
    if not 1 <= len(tokens) <= 5 or len(value) > 60 or "&" in value:
        return None
    lower = value.islower()
    if lower and len(tokens) < 2:
        return None
    known = 0
    for token in tokens:
        word = token.lower()
        if word in _PARTICLES or word.rstrip(".") in HONORIFICS:
            continue
        if not _NAME_TOKEN.fullmatch(token) or not (lower or token[0].isupper()):
            return None
        plain = _fold(word).strip(".")
        if plain.replace(".", "") in LEGAL_FORMS:
            return None
        parts = (plain, *plain.split("-")) if "-" in plain else (plain,)
        known += any(_known(p) for p in parts)
    if lower:
        return (True, known >= 2) if known else None
    return True, known > 0


# Feminine forms of Slavic and Baltic surnames: Kowalska of Kowalski, Petrova of Petrov,
# Nováková of Novák.
_FEMININE = (("ska", "ski"), ("cka", "cki"), ("dzka", "dzki"), ("ova", "ov"), ("eva", "ev"),
             ("ina", "in"), ("ova", ""))  # fmt: skip


def _known(word: str) -> bool:
    if word in GIVEN_NAMES or word in SURNAMES:
        return True
    return any(
        word.endswith(she) and word[: -len(she)] + he in SURNAMES
        for she, he in _FEMININE
        if len(word) > len(she) + 2
    )


def _fold(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().replace("'", "")
