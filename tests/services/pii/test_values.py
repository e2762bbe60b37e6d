"""Each recogniser on real formats from several countries, and on what only looks like them."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from atelier.services.pii import values
from atelier.services.pii.address import postal_address
from atelier.services.pii.kinds import PiiKind
from atelier.services.pii.names import name_signals
from atelier.services.pii.text import pii_in_text


@pytest.mark.parametrize(
    "value",
    ["ada@example.com", "o.brien+news@bank-example.co.uk", "J.Müller@web.de".replace("ü", "u")],
)
def test_emails(value: str) -> None:
    assert values.email(value) == "email"


@pytest.mark.parametrize("value", ["ada@", "@example.com", "ada at example.com", "a@b", "x@y.c"])
def test_not_emails(value: str) -> None:
    assert values.email(value) is None


@pytest.mark.parametrize(
    ("value", "region"),
    [
        ("+44 20 7946 0958", "GB"),  # London, international
        ("030 12345678", "DE"),  # Berlin, national
        ("0151 23456789", "DE"),  # German mobile
        ("01 42 68 53 00", "FR"),
        ("(415) 555-0132", "US"),
        ("+81 3-1234-5678", "JP"),
        ("0046 8 123 456 78", "SE"),  # 00 instead of +
        ("+1 415-555-0132 ext. 12", "US"),
    ],
)
def test_phones(value: str, region: str) -> None:
    found = values.phone(value)
    assert found is not None and found[1] is True
    if value.startswith(("+", "00")):
        assert found[0] == region  # a national number may be valid in several regions
    assert values.phone(value, [region]) == (region, True)


@pytest.mark.parametrize("value", ["2024-03-15", "1.2.3.4567", "12345", "SKU-48213", "v1.12.3"])
def test_not_phones(value: str) -> None:
    assert values.phone(value) is None


def test_bare_digits_are_a_weak_phone() -> None:
    assert values.phone("4155550132") == ("US", False)


@pytest.mark.parametrize(
    ("value", "country"),
    [
        ("DE89 3704 0044 0532 0130 00", "DE"),
        ("GB82WEST12345698765432", "GB"),
        ("fr14 2004 1010 0505 0001 3m02 606", "FR"),
        ("NL91ABNA0417164300", "NL"),
    ],
)
def test_ibans(value: str, country: str) -> None:
    assert values.iban(value) == country


@pytest.mark.parametrize(
    "value", ["DE89 3704 0044 0532 0130 01", "GB00WEST12345698765432", "DEUTDEFF"]
)
def test_not_ibans(value: str) -> None:
    assert values.iban(value) is None  # one digit off fails the mod-97 check


@pytest.mark.parametrize(
    ("value", "brand"),
    [
        ("4111 1111 1111 1111", "visa"),
        ("5500-0000-0000-0004", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3530111333300000", "jcb"),
    ],
)
def test_cards(value: str, brand: str) -> None:
    assert values.payment_card(value) == brand


@pytest.mark.parametrize(
    "value",
    [
        "4111 1111 1111 1112",  # Luhn fails
        "356938035643809",  # an IMEI: passes Luhn, 15 digits starting 35 is no card brand
        "4006381333931",  # an EAN-13 barcode
        "**** **** **** 1234",
    ],
)
def test_not_cards(value: str) -> None:
    assert values.payment_card(value) is None


@pytest.mark.parametrize(
    ("value", "scheme"),
    [
        ("536-90-4399", "us.ssn"),
        ("AB 12 34 56 C", "gb.nino"),
        ("943 476 5919", "gb.nhs"),
        ("295109912611193", "fr.nir"),
        ("36 574 261 809", "de.idnr"),
        ("111222333", "nl.bsn"),
        ("54362315K", "es.dni"),
        ("X2482300W", "es.nie"),
        ("RCCMNL83S18D969H", "it.codicefiscale"),
        ("880320-0016", "se.personnummer"),
        ("44051401458", "pl.pesel"),
        ("756.9217.0769.85", "ch.ssn"),
        ("390.533.447-05", "br.cpf"),
    ],
)
def test_national_ids(value: str, scheme: str) -> None:
    assert values.national_id(value) == (scheme, True)


def test_bare_nine_digits_are_only_a_weak_ssn() -> None:
    assert values.national_id("536904399") == ("us.ssn", False)


@pytest.mark.parametrize("value", ["12345678901", "ORD-2024-000123", "SN202412345678"])
def test_not_national_ids(value: str) -> None:
    assert values.national_id(value) is None


@pytest.mark.parametrize(("value", "version"), [("192.0.2.44", "ipv4"), ("2001:db8::1", "ipv6")])
def test_ip_addresses(value: str, version: str) -> None:
    assert values.ip_address(value) == version


@pytest.mark.parametrize("value", ["1.12.3", "0.0.0.0", "999.1.1.1", "deadbeef", "10:30"])
def test_not_ip_addresses(value: str) -> None:
    assert values.ip_address(value) is None


@pytest.mark.parametrize(
    "value", [date(1980, 5, 17), "1980-05-17", "17.05.1980", "05/17/1980", datetime(1980, 5, 17)]
)
def test_dates(value: object) -> None:
    assert values.as_date(value) == date(1980, 5, 17)


def test_a_timestamp_with_a_time_of_day_is_no_date() -> None:
    assert values.as_date(datetime(1980, 5, 17, 14, 3)) is None


@pytest.mark.parametrize(
    ("value", "known"),
    [
        ("María José García", True),
        ("van den Berg, Anouk", True),
        ("JEAN-PIERRE DUBOIS", True),
        ("Dr. Hans-Peter Müller", True),
        ("Tavita Faleolo", False),  # written like a name, in no word list
    ],
)
def test_names(value: str, known: bool) -> None:
    assert values.person_name(value) == (True, known)


@pytest.mark.parametrize("value", ["Ergonomic Chair 300", "SKU-48213", "premium", "a@b.com"])
def test_not_names(value: str) -> None:
    assert values.person_name(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "221B Baker Street, London NW1 6XE",
        "1600 Pennsylvania Avenue NW, Washington, DC 20500",
        "Hauptstraße 5, 10115 Berlin",
        "12 rue de la Paix, 75002 Paris",
        "Calle Mayor 5, 28013 Madrid",
        "Via Roma 10, 00184 Roma",
        "Kerkstraat 12, 1017 GC Amsterdam",
        "Storgatan 3, 111 22 Stockholm",
        "東京都千代田区千代田1-1",
    ],
)
def test_addresses(value: str) -> None:
    assert postal_address(value) is not None


@pytest.mark.parametrize(
    "value", ["NW1 6XE", "10115", "Berlin", "1017 GC", "Version 2.1.4 released"]
)
def test_not_addresses(value: str) -> None:
    assert postal_address(value) is None  # a postcode or a town alone points at no home


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Please reply to ada@example.com instead.", "email"),
        ("Call back on +44 20 7946 0958 after 5pm.", "phone"),
        ("Transfer to DE89 3704 0044 0532 0130 00 cancelled.", "iban"),
        ("Card 4111 1111 1111 1111 reported stolen.", "payment_card"),
        ("Verified identity with SSN 536-90-4399.", "national_id"),
        ("Bitte Frau Schneider zurückrufen.", "person_name"),
        ("Login from 192.0.2.44 blocked.", "ip_address"),
    ],
)
def test_personal_data_in_text(text: str, kind: str) -> None:
    assert pii_in_text(text) == kind


@pytest.mark.parametrize(
    "text",
    [
        "Great product, arrived in two days and works as described.",
        "Version 2.1.4 of the firmware fixed the pairing problem.",
        "Ordered 12 units for the office, order 4000012345 arrived in good shape.",
        "The price of 19.99 is fair for this quality.",
    ],
)
def test_text_without_personal_data(text: str) -> None:
    assert pii_in_text(text) is None


@pytest.mark.parametrize(
    ("column", "kind", "strong"),
    [
        ("customerEmail", PiiKind.EMAIL, True),
        ("geburtsdatum", PiiKind.DATE_OF_BIRTH, True),
        ("Telefonnummer", PiiKind.PHONE, True),
        ("card_pan", PiiKind.PAYMENT_CARD, True),
        ("name", PiiKind.PERSON_NAME, False),
    ],
)
def test_name_signals(column: str, kind: PiiKind, strong: bool) -> None:
    assert name_signals(column).get(kind) is strong


@pytest.mark.parametrize(
    "column", ["company", "zip", "shipping_method", "tip_amount", "description_id"]
)
def test_short_keywords_need_a_whole_word(column: str) -> None:
    signals = name_signals(column)
    assert PiiKind.PAYMENT_CARD not in signals and PiiKind.IP_ADDRESS not in signals


# -- formats of more countries, and what only looks like them -----------------------------


@pytest.mark.parametrize(
    ("value", "scheme"),
    [
        ("12.345.678-Z", "es.dni"),  # dots and a dash, as Spanish forms print it
        ("12345678-z", "es.dni"),  # lower case letter
        ("X-1234567-L", "es.nie"),
        ("1234.56.782", "nl.bsn"),
        ("123456789-09", "br.cpf"),  # check digits after a dash, no dots
        ("19811218-9876", "se.personnummer"),  # with the century
        ("198112189876", "se.personnummer"),
        ("44051401359", "pl.pesel"),
        ("131052-308T", "fi.hetu"),
        ("15108695088", "no.fodselsnummer"),
        ("211062-5629", "dk.cpr"),
        ("rssmra85t10a562s", "it.codicefiscale"),  # lower case
    ],
)
def test_national_ids_of_more_countries(value: str, scheme: str) -> None:
    assert values.national_id(value) == (scheme, True)


@pytest.mark.parametrize(
    "value",
    [
        "0-306-40615-2",  # ISBN-10 with hyphens: its check is the NHS number's, not compacted
        "3-16-148410-0",
        "12.345.678-A",  # a DNI with the wrong letter
        "123456789-00",  # a CPF with wrong check digits
        "SO-2024-000123",
        "2024-03-05T14:22:01Z",
    ],
)
def test_not_national_ids_though_separated_like_them(value: str) -> None:
    found = values.national_id(value)
    assert found is None or not found[1]


@pytest.mark.parametrize(
    ("value", "region"),
    [
        ("+91 98765 43210", "IN"),
        ("098765 43210", "IN"),
        ("+91-98765-43210", "IN"),  # dashed, as typed into messaging apps
        ("(11) 96127-0848", "BR"),
        ("0412 326 843", None),  # Australian mobile: valid for AU (and maybe another region)
        ("+48 512 330 565", "PL"),
        ("090-1236-3542", "JP"),
        ("+234-803-123-4567", "NG"),
    ],
)
def test_phones_of_more_countries(value: str, region: str | None) -> None:
    found = values.phone(value)
    assert found is not None and found[1]
    assert region is None or found[0] == region


@pytest.mark.parametrize(
    "value", ["46.833680", "-30.632896", "10.80.93.0/24", "192.168.1.20", "1.2.3.4/32"]
)
def test_decimals_and_networks_are_not_phones(value: str) -> None:
    assert values.phone(value) is None
    assert values.PhoneColumn()(value) is None


@pytest.mark.parametrize(
    ("value", "version"),
    [
        ("203.0.113.7:51234", "ipv4"),  # as servers log a peer
        ("[2001:db8::1]:443", "ipv6"),
        ("fe80::218c:562f%eth0", "ipv6"),  # link-local with its zone
        ("::ffff:192.0.2.1", "ipv6"),
        ("2001:DB8:85A3::8A2E:370:7334", "ipv6"),  # upper case
    ],
)
def test_ip_addresses_with_ports_and_zones(value: str, version: str) -> None:
    assert values.ip_address(value) == version


@pytest.mark.parametrize(
    "value", ["10.0.0.0/24", "1.2.3.4:99999", "web-01:8080", "[nothing]:443", "12:30:45"]
)
def test_not_ip_addresses_with_ports(value: str) -> None:
    assert values.ip_address(value) is None


@pytest.mark.parametrize(
    "value",
    ["17 May 1980", "May 17, 1980", "17-May-1980", "17 Sept. 1980", "19800517", "Sep 17 1980"],
)
def test_dates_written_out_or_as_digits(value: str) -> None:
    found = values.as_date(value)
    assert found is not None and found.year == 1980 and found.day == 17


@pytest.mark.parametrize("value", ["20241301", "12345678", "Mayday 1, 2000", "17 Mai 1980x"])
def test_not_dates(value: str) -> None:
    assert values.as_date(value) is None


def test_cards_typed_with_irregular_spaces() -> None:
    assert values.payment_card("4111  1111 1111  1111") == "visa"
    assert values.payment_card("5500 0000\t0000 0004") == "mastercard"
    assert values.payment_card("4111  1111 1111  1112") is None  # Luhn still checked


@pytest.mark.parametrize(
    ("value", "known"),
    [
        ("maria garcia", True),  # lower case: two known words
        ("li wei", True),
        ("anna kowalska", True),  # the feminine form of Kowalski
        ("kwame asamoah", False),  # one known word: a name only where the column says so
        ("Kowalska, Agnieszka", True),
        ("Takahashi Haruto", True),  # Japanese, family name first
        ("Wang Xiaoming", True),
        ("Petrova Olga", True),
        ("Nguyen Thanh", True),
    ],
)
def test_names_of_more_countries_and_in_lower_case(value: str, known: bool) -> None:
    assert values.person_name(value) == (True, known)


@pytest.mark.parametrize(
    "value",
    [
        "Müller GmbH",
        "Smith & Sons Ltd",
        "Nowak Sp. z o.o.",
        "Rossi Costruzioni S.p.A.",
        "Van Dijk Transport B.V.",
        "Garcia Logistics S.L.",
        "Andersson Bygg AB",
        "gold",  # one lower-case word
        "premium plus",  # lower case, no known name
        "rose",
    ],
)
def test_companies_and_lower_case_words_are_not_names(value: str) -> None:
    assert values.person_name(value) is None


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("personnr", PiiKind.NATIONAL_ID),
        ("henkilotunnus", PiiKind.NATIONAL_ID),
        ("fecha_nac", PiiKind.DATE_OF_BIRTH),
    ],
)
def test_more_column_names(column: str, kind: PiiKind) -> None:
    assert name_signals(column).get(kind) is True


@pytest.mark.parametrize("value", ["0-306-40615-2", "978-3-16-148410-0", "0-19-852663-6"])
def test_isbns_are_not_phones(value: str) -> None:
    assert values.phone(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "C/ Princesa, 98, 8º D, 28049 Madrid",  # Spain: "C/" for calle, floor and door
        "Via dei Mille 23/B, 80121 Napoli NA",
        "ul. Marszałkowska 84/92, 00-514 Warszawa",
        "Flat 8D, Green Park Residency, Anna Salai, Chennai 600002",  # India: salai, PIN
        "12 Nehru Marg, Jaipur 302001",
        "Unit 5, 23 Smith St, Fitzroy VIC 3065",
        "1234 Rue Sainte-Catherine O, Montréal QC H3B 1K9",
        "Apt 3, 14 Main Street, Dublin 2, D02 X285",
        "Mariahilfer Straße 49/4/9, 1060 Wien",
        "Av. da Liberdade, 110, 3º Esq., 1250-096 Lisboa",
        "Nørrebrogade 20, 2. tv, 2200 København N",
    ],
)
def test_addresses_of_more_countries(value: str) -> None:
    assert postal_address(value) is not None


@pytest.mark.parametrize(
    "value",
    ["00-514", "H3B 1K9", "560001", "100-0001", "01310-100", "D02 X285", "Chennai 600002",
     "Order 123456 shipped", "c/o Acme 5 widgets", "Gate 23, Terminal 2"],
)  # fmt: skip
def test_postcodes_alone_and_other_numbers_are_not_addresses(value: str) -> None:
    assert postal_address(value) is None
