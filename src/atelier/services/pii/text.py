"""Personal data inside free text: each recogniser runs on the pieces of a sentence that could
be what it looks for (a word with an @, a run of digits, two capital letters and digits...).

Names in prose are found only after an honorific or an introduction ("Mr Smith", "Frau Müller",
"my name is Ana"): recognising any name anywhere needs a language model, which Atelier does not
download (see docs/personal-data.md).
"""

from __future__ import annotations

import re

from atelier.services.pii import values
from atelier.services.pii.address import postal_address
from atelier.services.pii.names import HONORIFICS

_EMAIL = re.compile(values.EMAIL.pattern)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_DIGITS = re.compile(r"(?<![\w.])\+?\d[\d .()/-]{5,22}\d(?![\w])")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b(?!/\d)")  # a network ("/24") is nobody's
_ID = re.compile(r"\b[A-Z0-9][A-Z0-9 .-]{7,20}[A-Z0-9]\b", re.IGNORECASE)
# The honorific capitalised and the name after it too ("Frau Müller", not "300 ms later").
_HONORIFIC = re.compile(
    r"\b(?:" + "|".join(h.capitalize() for h in HONORIFICS) + r")\.?\s+[A-ZÀ-Þ][\w'\u2019-]+"
)
_INTRODUCTION = re.compile(
    r"\b(?i:my name is|je m'appelle|ich heiße|ich heisse|me llamo|mi chiamo|mijn naam is|"
    r"meu nome é)\s+[A-ZÀ-Þ][\w'\u2019-]+"
)
# An address written so that harvesters miss it: "john at example dot com", "anna [at] mail
# [dot] de", "k.tanaka(at)web(dot)jp". A bracketed "at" or a spelt-out "dot" must be there:
# prose such as "arrived at noon." or "available at docs.python.org" is not an address.
_AT = r"\s*[\[({<]\s*at\s*[\])}>]\s*|\s+at\s+"
_DOT_WORD = r"\s*[\[({<]\s*dot\s*[\])}>]\s*|\s+dot\s+"
_OBFUSCATED = re.compile(
    rf"(?<![\w.+-])([\w.+-]{{1,64}})({_AT})"
    rf"([a-z0-9-]{{1,63}}(?:(?:{_DOT_WORD}|\.)[a-z0-9-]{{1,63}})+)",
    re.IGNORECASE,
)
_DOTS = re.compile(_DOT_WORD, re.IGNORECASE)
_BORN = re.compile(r"\b(?:born|geboren|né|née|nacido|nacida|nato|nata|geboren op)\b", re.I)


def pii_in_text(text: str) -> str | None:
    """The first kind of personal data found in the text, or None."""
    if "@" in text and _EMAIL.search(text):
        return "email"
    if _obfuscated_email(text):
        return "email"
    for match in _IBAN.finditer(text):
        if values.iban(match.group()):
            return "iban"
    for match in _DIGITS.finditer(text):
        candidate = match.group().strip()
        if values.payment_card(candidate):
            return "payment_card"
        if values.national_id(candidate):
            found = values.national_id(candidate)
            if found and found[1]:
                return "national_id"
        found_phone = values.phone(candidate, grouped=False)
        if found_phone and found_phone[1] and (candidate.startswith("+") or _grouped(candidate)):
            return "phone"
    for match in _ID.finditer(text):
        found = values.national_id(match.group())
        if found and found[1] and not match.group().isdigit():
            return "national_id"
    for match in _IPV4.finditer(text):
        if values.ip_address(match.group()):
            return "ip_address"
    if _HONORIFIC.search(text) or _INTRODUCTION.search(text):
        return "person_name"
    if _BORN.search(text) and re.search(r"\d{4}", text):
        return "date_of_birth"
    for line in re.split(r"[\n;]", text):
        if postal_address(line.strip()) == "street" and len(line) < 120:
            return "postal_address"
    return None


def _grouped(candidate: str) -> bool:
    """Written in groups like a phone number ("030 1234567", "(415) 555-0132")."""
    return len(re.findall(r"\d+", candidate)) >= 2 or candidate.startswith("0")


def _obfuscated_email(text: str) -> bool:
    position = 0
    while match := _OBFUSCATED.search(text, position):
        user, at, domain = match.groups()
        address = f"{user}@{_DOTS.sub('.', domain)}"
        tld = address.rsplit(".", 1)[-1]
        if (
            (at.strip().lower() != "at" or _DOTS.search(domain))
            and tld.isalpha()
            and len(tld) <= 6
            and values.EMAIL.fullmatch(address)
        ):
            return True
        position = match.end(2)  # the address may begin inside this match's domain
    return False
