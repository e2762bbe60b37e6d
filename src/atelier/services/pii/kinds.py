"""What a classification says about one column: the kind of personal data and how sure it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class PiiKind(StrEnum):
    """The kinds of personal data a column can hold (the tag a finding proposes)."""

    PERSON_NAME = "person_name"
    EMAIL = "email"
    PHONE = "phone"
    POSTAL_ADDRESS = "postal_address"
    DATE_OF_BIRTH = "date_of_birth"
    NATIONAL_ID = "national_id"
    PAYMENT_CARD = "payment_card"
    IBAN = "iban"
    IP_ADDRESS = "ip_address"
    FREE_TEXT_WITH_PII = "free_text_with_pii"


@dataclass(frozen=True)
class ColumnFinding:
    """One column classified as one kind.

    ``confidence`` is between 0 and 1 (see docs/personal-data.md for how it is made);
    ``matched`` of ``checked`` sampled non-empty values passed the kind's recogniser;
    ``formats`` names what matched (countries of IBANs and phones, card brands, the identifier
    schemes such as ``fr.nir``), most frequent first. ``evidence`` is one sentence for people;
    it never quotes a value, so a finding can be stored and shown without leaking the data.
    """

    column: str
    kind: PiiKind
    confidence: float
    evidence: str
    matched: int = 0
    checked: int = 0
    name_signal: bool = False
    formats: tuple[str, ...] = field(default_factory=tuple)
