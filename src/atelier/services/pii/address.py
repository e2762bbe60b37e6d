"""Postal addresses by shape: a house number next to a street word, or a postcode with a town
and a number, in the ways a dozen countries write them. A postcode alone, a town alone or a
country is not an address (it does not point at a home)."""

from __future__ import annotations

import re

# Street words as a whole word (English, French, Spanish, Italian, Portuguese, Polish...) ...
_STREET_WORDS = (
    "street st road rd avenue ave av lane ln drive dr boulevard blvd bd way court ct place pl "
    "terrace close crescent square sq highway hwy parkway pkwy row mews "
    "rue allée allee impasse chemin quai cours "
    "calle avenida avda paseo plaza camino carrera ronda "
    "via viale piazza corso vicolo largo "
    "rua travessa praça praca alameda "
    "ul ulica aleja al "
    "weg allee platz gasse ring damm ufer chaussee "
    "laan gracht plein kade singel dreef "
    "gata vägen vagen gatan vej gade "
    "marg salai nagar"  # India: road, road (Tamil), neighbourhood
)
_STREET = re.compile(
    r"\b(?:" + "|".join(re.escape(w) for w in _STREET_WORDS.split()) + r")\b\.?"
    r"|(?<!\w)C/\s?(?!o\b)(?=[A-ZÀ-Þ])",  # Spanish "C/ Mayor" (calle), not "c/o"
    re.IGNORECASE,
)
# ... or as the end of one word (German Hauptstraße, Dutch Kerkstraat, Swedish Storgatan).
_STREET_SUFFIX = re.compile(
    r"\w(?:straße|strasse|str\.|straat|weg|gatan|gata|vägen|vej|gade|gasse|platz|allee|laan|"
    r"gracht|plein|kade|ulica|utca)\b",
    re.IGNORECASE,
)
_HOUSE_NUMBER = re.compile(r"(?<![\w-])\d{1,5}(?:\s?[a-zA-Z])?(?:[/-]\d{1,4})?(?![\w-])")
_POSTCODES = re.compile(
    r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b"  # GB
    r"|\b[A-Z]{2} \d{5}(?:-\d{4})?\b"  # US state and ZIP
    r"|\b\d{4} ?[A-Z]{2}\b"  # NL
    r"|\b[A-Z]\d[A-Z] ?\d[A-Z]\d\b"  # CA
    r"|\b\d{3}-\d{4}\b"  # JP
    r"|\b\d{5}-\d{3}\b"  # BR
    r"|(?<=[a-z] )[1-9]\d{5}\b"  # IN: a town, then its six-digit PIN ("Chennai 600002")
    r"|\b\d{2}-\d{3}\b"  # PL
    r"|\b\d{3} \d{2}\b"  # SE
    r"|\b(?:[A-Z]-)?\d{4,5}\s+[A-ZÀ-Þ][\w-]+"  # DE, FR, ES, IT, AT, CH, DK, NO, BE, AU + town
)
_JAPANESE = re.compile(r"[都道府県].*[市区町村].*\d")


def postal_address(value: str) -> str | None:
    """ "street" (a street word and a house number), "postcode" (a postcode, a number and town
    words) or None."""
    if len(value) < 8 or len(value) > 200:
        return None
    if _JAPANESE.search(value):
        return "street"
    has_number = _HOUSE_NUMBER.search(value) is not None
    if not has_number:
        return None
    if _STREET.search(value) or _STREET_SUFFIX.search(value):
        words = re.findall(r"[^\W\d_]{2,}", value)
        return "street" if words else None
    postcode = _POSTCODES.search(value)
    if postcode:
        rest = (value[: postcode.start()] + value[postcode.end() :]).strip(" ,")
        if _HOUSE_NUMBER.search(rest) and len(re.findall(r"[^\W\d_]{2,}", rest)) >= 2:
            return "postcode"
    return None
