# ruff: noqa: E501 - one column per line reads best as a table
"""A second held-out corpus: columns written before the classifier was changed for them.

Its columns are written as data arrives in practice rather than as the classifier expects it:
identifiers of more countries (codice fiscale, DNI and NIE, BSN, PESEL, personnummer with the
century, CPF, HETU, CPR, fødselsnummer), phone numbers from India, Brazil, Australia, Poland,
Japan and Latin America in their national ways, Japanese names in romaji (family name first),
names in lower case, addresses from a dozen more countries with flats and floors, e-mails with
plus-tags and subdomains, IPv6 and addresses with ports, dates of birth as text and as
``yyyymmdd`` integers, and obfuscated addresses in free text ("john at example dot com").
Decoys: product and company names in a ``name`` column, booleans named ``email_sent``,
UUIDs, ISO timestamps, order numbers, ISBN-10, coordinates as text, hashes, version strings,
postcodes alone, amounts with currency signs, epoch seconds, VAT numbers with check digits,
dates of buildings spread over decades.

Every column has irregularities: NULLs, empty strings, surrounding spaces (``messy``). Values
are made with python-stdnum and phonenumbers so that each identifier and phone number is valid.
Generation is deterministic (seed).
"""

from __future__ import annotations

import hashlib
import random
import string
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.pii.corpus import ROWS, Column, _digits, _until

JP_FAMILY = "Takahashi Yamada Fujiwara Ishikawa Kobayashi Nakajima Morita Hasegawa Kimura Shimizu Okada Murakami Endo Aoki Sakamoto Ogawa Kondo Ishii Maeda Fujita"
JP_GIVEN = "Haruto Hanako Mitsuki Rin Sota Yuna Daichi Kaito Misaki Shun Ayaka Tsubasa Riku Nanami Kenta Emi Sho Mao Takeru Asuka"
PL_NAMES = [
    ("Agnieszka", "Kowalska"),
    ("Grzegorz", "Wiśniewski"),
    ("Małgorzata", "Wójcik"),
    ("Krzysztof", "Zieliński"),
    ("Bożena", "Szymańska"),
    ("Wojciech", "Dąbrowski"),
    ("Jadwiga", "Kozłowska"),
    ("Przemysław", "Jankowski"),
    ("Urszula", "Mazur"),
    ("Zbigniew", "Krawczyk"),
]
ZH_NAMES = "Wang Xiaoming|Li Na|Zhang Wei|Liu Yang|Chen Jie|Zhao Lei|Huang Min|Zhou Xin|Wu Hao|Xu Jing|Sun Li|Ma Chao|Zhu Yan|Hu Bo|Guo Qiang|He Ping"
NL_GIVEN = "Sanne Bram Joris Mirjam Wessel Annemieke Gijs Hanneke Stijn Roos Maarten Ingeborg Floor Koen Marloes Tijmen"
FR_GIVEN = "Aurélien Clémence Mathéo Solène Gwenaël Anaïs Loïc Maëva Timothée Bérénice Élodie Jérémie Noémie Frédéric"
LOWER_NAMES = "maria garcia|john smith|li wei|ahmed hassan|anna kowalska|pedro alves|emma johansson|lucas martin|fatima zahra|olga petrova|kwame mensah|sofia rossi|david cohen|ngozi okafor|tom nguyen"
COMPANIES = [
    "Müller GmbH",
    "Smith & Sons Ltd",
    "Garcia Logistics S.L.",
    "Rossi Costruzioni S.p.A.",
    "Van Dijk Transport B.V.",
    "Dubois et Fils SARL",
    "Johnson Controls Inc.",
    "Tanaka Shoji K.K.",
    "Nowak Sp. z o.o.",
    "Andersson Bygg AB",
]
PRODUCTS = [
    "Kaffeemaschine Classic",
    "Blue Denim Jacket",
    "Organic Green Tea 250g",
    "USB-C Hub 7-in-1",
    "Lampe de bureau LED",
    "Zapatillas Running Pro",
    "Set di pentole 10 pezzi",
    "Wireless Mouse M185",
    "Yoga Mat Deluxe",
    "Stainless Bottle 750ml",
    "Kinderfahrrad 16 Zoll",
    "Noise Cancelling Headphones",
]
NOTES_CLEAN = [
    "Shipment 4711 delayed at port 3, new ETA 2024-05-06.",
    "Customer asked for an invoice copy, sent from the portal.",
    "Password reset link expired, issued a new one.",
    "Upgraded plan to Business, billing from next cycle.",
    "Duplicate ticket, closed in favour of #88213.",
    "Return label printed, parcel to be collected Tuesday.",
    "Cliente pide factura con el nuevo CIF de la empresa.",
    "Il pacco è arrivato danneggiato, rimborso approvato.",
]


def messy(
    rng: random.Random,
    make: Callable[[], Any],
    nulls: float = 0.05,
    empty: float = 0.03,
    spaces: float = 0.1,
) -> Callable[[], Any]:
    """Values as they arrive: some NULL, some empty, some with spaces around (text only)."""

    def value() -> Any:
        roll = rng.random()
        if roll < nulls:
            return None
        if roll < nulls + empty:
            return ""
        made = make()
        if isinstance(made, str) and rng.random() < spaces:
            return rng.choice([" ", "  ", "\t"]) + made + rng.choice(["", " ", "  "])
        return made

    return value


def _phone(rng: random.Random, regions: list[str], style: str) -> str:
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    while True:
        region = rng.choice(regions)
        kind = rng.choice([PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE])
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        national = str(example.national_number)
        keep = max(3, len(national) - 5)
        number = phonenumbers.parse(
            f"+{example.country_code}{national[:keep]}{_digits(rng, len(national) - keep)}", None
        )
        if not phonenumbers.is_valid_number(number):
            continue
        if style == "national":
            return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
        if style == "international":
            return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
        if style == "dashed":  # +91-98765-43210 as people type it
            return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL).replace(
                " ", "-"
            )
        if style == "bare":  # the national number without its trunk prefix
            return str(number.national_number)
        raise ValueError(style)


def _in_mobile(rng: random.Random) -> str:
    number = rng.choice("6789") + _digits(rng, 9)
    return rng.choice(
        [
            f"+91 {number[:5]} {number[5:]}",
            f"0{number[:5]} {number[5:]}",
            number,
            f"+91-{number}",
            f"91{number}",
            f"+91 {number}",
        ]
    )


def _birth(rng: random.Random) -> date:
    return date(1938, 1, 1) + timedelta(days=rng.randint(0, 365 * 66))


def _cf(rng: random.Random) -> str:
    from stdnum.it import codicefiscale

    born = _birth(rng)
    body = (f"{''.join(rng.choice('BCDFGLMNPRSTVZ') for _ in range(3))}{''.join(rng.choice('BCDFGLMNPRSTVZAEIOU') for _ in range(3))}"
            f"{born:%y}{'ABCDEHLMPRST'[born.month - 1]}{born.day + rng.choice([0, 40]):02d}{rng.choice('ABCDEFGHLMZ')}{_digits(rng, 3)}")  # fmt: skip
    return body + codicefiscale.calc_check_digit(body)


def _dni_nie(rng: random.Random) -> str:
    from stdnum.es import dni, nie

    if rng.random() < 0.35:
        prefix = rng.choice("XYZ")
        body = _digits(rng, 7)
        value = f"{prefix}{body}{nie.calc_check_digit(prefix + body)}"
        return rng.choice([value, f"{value[0]}-{value[1:8]}-{value[8]}", value.lower()])
    body = _digits(rng, 8)
    value = body + dni.calc_check_digit(body)
    return rng.choice(
        [
            value,
            f"{body}-{value[-1]}",
            f"{body[:2]}.{body[2:5]}.{body[5:]}-{value[-1]}",
            value.lower(),
        ]
    )


def _bsn(rng: random.Random) -> str:
    from stdnum.nl import bsn

    value = _until(rng, lambda: _digits(rng, 9), bsn.is_valid)
    return rng.choice(
        [value, f"{value[:4]}.{value[4:6]}.{value[6:]}", f"{value[:3]} {value[3:6]} {value[6:]}"]
    )


def _pesel(rng: random.Random) -> str:
    from stdnum.pl import pesel

    born = _birth(rng)
    month = born.month + (20 if born.year >= 2000 else 0)
    body = f"{born:%y}{month:02d}{born:%d}{_digits(rng, 4)}"
    return body + pesel.calc_check_digit(body)


def _personnummer(rng: random.Random) -> str:
    from stdnum import luhn

    born = _birth(rng)
    body = f"{born:%y%m%d}{_digits(rng, 3)}"
    full = body + luhn.calc_check_digit(body)
    return rng.choice(
        [f"{born:%Y}{full[2:6]}-{full[6:]}", f"{born:%Y}{full[2:]}", f"{full[:6]}-{full[6:]}", full]
    )


def _cpf(rng: random.Random) -> str:
    from stdnum.br import cpf

    body = _digits(rng, 9)
    value = body + cpf._calc_check_digits(body)
    return rng.choice(
        [f"{value[:3]}.{value[3:6]}.{value[6:9]}-{value[9:]}", value, f"{value[:9]}-{value[9:]}"]
    )


def _hetu(rng: random.Random) -> str:
    from stdnum.fi import hetu

    born = date(1945, 1, 1) + timedelta(days=rng.randint(0, 365 * 70))
    sign = "-" if born.year < 2000 else "A"
    serial = f"{rng.randint(2, 899):03d}"
    check = hetu._calc_checksum(f"{born:%d%m%y}{serial}")
    return f"{born:%d%m%y}{sign}{serial}{check}"


def _fnr(rng: random.Random) -> str:
    from stdnum.no import fodselsnummer

    def make() -> str:
        born = _birth(rng)
        body = f"{born:%d%m%y}{rng.randint(0, 499):03d}"
        first = fodselsnummer.calc_check_digit1(body)
        return body + first + fodselsnummer.calc_check_digit2(body + first)

    return _until(rng, make, fodselsnummer.is_valid)


def _cpr(rng: random.Random) -> str:
    from stdnum.dk import cpr

    return _until(rng, lambda: f"{_birth(rng):%d%m%y}-{_digits(rng, 4)}", cpr.is_valid)


def _iban(rng: random.Random) -> str:
    from stdnum import iban

    lengths = {
        "NO": 11,
        "FI": 14,
        "LU": 16,
        "MT": 27,
        "SA": 20,
        "TR": 22,
        "BR": 25,
        "HU": 24,
        "CZ": 20,
        "GR": 23,
        "RO": 20,
        "LT": 16,
    }

    def make() -> str:
        country = rng.choice(list(lengths))
        if country == "MT":
            bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + _digits(rng, 23)
        elif country == "RO":
            bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + _digits(rng, 16)
        elif country == "BR":
            bban = _digits(rng, 23) + rng.choice("CP") + rng.choice("123")
        elif country == "TR":
            bban = _digits(rng, 5) + "0" + _digits(rng, 16)
        else:
            bban = _digits(rng, lengths[country])
        value = f"{country}{iban.calc_check_digits(f'{country}00{bban}')}{bban}"
        return iban.format(value) if rng.random() < 0.5 else value

    return _until(rng, make, iban.is_valid)


def _card(rng: random.Random) -> str:
    from stdnum import luhn

    prefix, length = rng.choice(
        [
            ("4", 16),
            ("53", 16),
            ("2720", 16),
            ("37", 15),
            ("6011", 16),
            ("35", 16),
            ("36", 14),
            ("62", 19),
            ("4", 13),
        ]
    )
    body = prefix + _digits(rng, length - len(prefix) - 1)
    number = body + luhn.calc_check_digit(body)
    style = rng.random()
    if style < 0.3:
        return number
    if style < 0.6:
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    if style < 0.8:
        return "-".join(number[i : i + 4] for i in range(0, len(number), 4))
    return f"{number[:4]}  {number[4:8]} {number[8:12]}  {number[12:]}"  # typed by hand


ADDRESSES: dict[str, Callable[[random.Random], str]] = {
    "ES": lambda r: f"C/ {r.choice(['Mayor', 'Gran Vía', 'Serrano', 'Princesa'])}, {r.randint(1, 120)}, {r.randint(1, 8)}º {r.choice('ABCD')}, {r.randint(28001, 28080)} Madrid",
    "IT": lambda r: f"Via dei {r.choice(['Mille', 'Serragli', 'Coronari'])} {r.randint(1, 90)}/{r.choice('ABC')}, {r.choice(['80121 Napoli NA', '50124 Firenze FI', '00186 Roma RM'])}",
    "PL": lambda r: f"ul. {r.choice(['Marszałkowska', 'Piotrkowska', 'Długa', 'Floriańska'])} {r.randint(1, 120)}/{r.randint(1, 40)}, {r.choice(['00-514 Warszawa', '90-001 Łódź', '31-019 Kraków'])}",
    "IN": lambda r: f"Flat {r.randint(1, 12)}{r.choice('ABCD')}, {r.choice(['Sunrise Apartments', 'Green Park Residency', 'Lotus Towers'])}, {r.choice(['MG Road', 'Linking Road', 'Anna Salai'])}, {r.choice(['Bengaluru 560001', 'Mumbai 400050', 'Chennai 600002'])}",
    "AU": lambda r: f"Unit {r.randint(1, 30)}, {r.randint(1, 400)} {r.choice(['Smith St', 'Chapel St', 'George St'])}, {r.choice(['Fitzroy VIC 3065', 'Sydney NSW 2000', 'Brisbane QLD 4000'])}",
    "CA": lambda r: f"{r.randint(100, 9999)} {r.choice(['Rue Sainte-Catherine O', 'Yonge St', 'Robson St'])}, {r.choice(['Montréal QC H3B 1K9', 'Toronto ON M5B 2H1', 'Vancouver BC V6E 1C4'])}",
    "IE": lambda r: f"Apt {r.randint(1, 40)}, {r.randint(1, 200)} {r.choice(['Main Street', 'Grafton Street', 'Parnell Square'])}, Dublin {r.randint(1, 24)}, D0{r.randint(1, 9)} X{r.randint(100, 999)}",
    "AT": lambda r: f"{r.choice(['Mariahilfer Straße', 'Landstraßer Hauptstraße', 'Herrengasse'])} {r.randint(1, 200)}/{r.randint(1, 20)}/{r.randint(1, 9)}, 10{r.randint(10, 99)}0 Wien",
    "CH": lambda r: f"{r.choice(['Bahnhofstrasse', 'Rue du Rhône', 'Seefeldstrasse'])} {r.randint(1, 150)}, {r.choice(['8001 Zürich', '1204 Genève', '3011 Bern'])}",
    "PT": lambda r: f"Av. da {r.choice(['Liberdade', 'República', 'Boavista'])}, {r.randint(1, 300)}, {r.randint(1, 9)}º Esq., {r.choice(['1250-096 Lisboa', '4100-130 Porto'])}",
    "MX": lambda r: f"Av. {r.choice(['Insurgentes Sur', 'Reforma', 'Juárez'])} {r.randint(100, 3000)}, Col. {r.choice(['Roma Norte', 'Del Valle', 'Centro'])}, {r.randint(1000, 16999):05d} CDMX",
    "US": lambda r: f"{r.randint(100, 9999)} {r.choice(['N', 'S', 'E', 'W'])} {r.choice(['Main', 'Elm', '5th', 'Broadway'])} {r.choice(['St', 'Ave', 'Blvd'])} Apt {r.randint(1, 40)}, {r.choice(['Chicago, IL 60614', 'Seattle, WA 98101', 'Boston, MA 02118'])}",
    "DK": lambda r: f"{r.choice(['Nørrebrogade', 'Vesterbrogade', 'Strøget'])} {r.randint(1, 200)}, {r.randint(1, 5)}. tv, {r.choice(['2200 København N', '1620 København V'])}",
}  # fmt: skip

OBFUSCATED = [
    lambda r, u, d: f"pls write to {u} at {d} dot com, not the shop address",
    lambda r, u, d: f"contact: {u} [at] {d} [dot] com",
    lambda r, u, d: f"Mail me at {u}(at){d}(dot)org thanks",
    lambda r, u, d: f"my address is {u} AT {d} DOT net, reply there please",
]


def _obfuscated(r: random.Random) -> str:
    user = r.choice(["john", "maria.g", "k.tanaka", "anna_k", "pedro77", "lisa.m"])
    domain = r.choice(["example", "gmail", "proton", "fastmail", "web"])
    return r.choice(OBFUSCATED)(r, user, domain)


def _email(r: random.Random) -> str:
    first = r.choice(
        ["anna", "j", "pieter", "chloe", "rahul", "yuki", "mateo", "ines", "oskar", "leila"]
    )
    last = r.choice(
        [
            "kowalski",
            "doe",
            "de.jong",
            "martin",
            "iyer",
            "sato",
            "silva",
            "moreau",
            "berg",
            "haddad",
        ]
    )
    local = r.choice(
        [
            f"{first}.{last}",
            f"{first}.{last}+{r.choice(['invoices', 'news', 'shop', 'test2'])}",
            f"{first}{r.randint(1, 99)}",
            f"{first[0]}.{last}+{r.randint(1, 9)}",
        ]
    )
    domain = r.choice(
        [
            "mail.company.co.uk",
            "students.uni-wien.ac.at",
            "gmail.com",
            "eu.corp-example.com",
            "alumni.sorbonne.fr",
            "dept.cs.ox.ac.uk",
            "outlook.jp",
            "yahoo.com.br",
        ]
    )
    value = f"{local}@{domain}"
    return value.upper() if r.random() < 0.05 else value


def _ipv6(r: random.Random) -> str:
    choice = r.random()
    if choice < 0.4:
        return f"2a02:{r.getrandbits(16):x}:{r.getrandbits(16):x}:{r.getrandbits(16):x}::{r.getrandbits(16):x}"
    if choice < 0.6:
        return ":".join(f"{r.getrandbits(16):04x}" for _ in range(8))
    if choice < 0.75:
        return f"::ffff:{r.randint(1, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
    if choice < 0.85:
        return f"fe80::{r.getrandbits(16):x}:{r.getrandbits(16):x}%eth0"
    return f"2001:{r.getrandbits(16):X}:{r.getrandbits(16):X}::{r.getrandbits(8):X}"


def _isbn10(r: random.Random) -> str:
    from stdnum import isbn

    body = rng_digits = _digits(r, 9)
    value = rng_digits + isbn._calc_isbn10_check_digit(body)
    return r.choice([value, f"{value[0]}-{value[1:4]}-{value[4:9]}-{value[9]}"])


def _iva(r: random.Random) -> str:
    from stdnum.it import iva

    return _until(
        r,
        lambda: _digits(r, 7) + f"{r.randint(1, 100):03d}" + r.choice(string.digits),
        iva.is_valid,
    )


def fresh(seed: int = 23, rows: int = ROWS) -> list[Column]:
    """The second held-out corpus (see the module's docstring)."""
    r = random.Random(seed)

    def col(
        name: str, kind: str | None, note: str, make: Callable[[], Any], **irregular: float
    ) -> Column:
        value = messy(r, make, **irregular)
        return Column(name, [value() for _ in range(rows)], frozenset({kind} if kind else ()), note)

    def jp() -> str:
        return f"{r.choice(JP_FAMILY.split())} {r.choice(JP_GIVEN.split())}"

    return [
        # national identifiers
        col("codice_fiscale_cliente", "national_id", "Italian fiscal codes, some lower case", lambda: _cf(r) if r.random() < 0.8 else _cf(r).lower()),
        col("documento", "national_id", "Spanish DNI and NIE, dashes, dots, lower case", lambda: _dni_nie(r)),
        col("burgerservicenummer", "national_id", "Dutch BSN, plain, dotted and spaced", lambda: _bsn(r)),
        col("bsn_int", "national_id", "Dutch BSN stored as integers (leading zero lost)", lambda: int(_bsn(r).replace(".", "").replace(" ", ""))),
        col("nr_pesel", "national_id", "Polish PESEL, born in both centuries", lambda: _pesel(r)),
        col("personnr", "national_id", "Swedish personnummer, 10 and 12 digits", lambda: _personnummer(r)),
        col("cpf_cliente", "national_id", "Brazilian CPF, formatted and bare", lambda: _cpf(r)),
        col("henkilotunnus", "national_id", "Finnish HETU", lambda: _hetu(r)),
        col("fnr", "national_id", "Norwegian fødselsnummer, no keyword", lambda: _fnr(r)),
        col("cpr_nr", "national_id", "Danish CPR", lambda: _cpr(r)),
        col("id_doc", "national_id", "mixed PESEL, CF, HETU, weak column name", lambda: r.choice([_pesel, _cf, _hetu])(r)),
        # phones
        col("mobile_no", "phone", "Indian mobiles, six ways", lambda: _in_mobile(r)),
        col("celular", "phone", "Brazilian national format", lambda: _phone(r, ["BR"], "national")),
        col("ph", "phone", "Australian national format, short column name", lambda: _phone(r, ["AU"], "national")),
        col("telefon_kontaktowy", "phone", "Polish, international and national", lambda: _phone(r, ["PL"], r.choice(["international", "national"]))),
        col("denwa", "phone", "Japanese national format", lambda: _phone(r, ["JP"], "national")),
        col("telefono", "phone", "Argentina, Colombia, Chile, Peru national", lambda: _phone(r, ["AR", "CO", "CL", "PE"], "national")),
        col("whatsapp", "phone", "dashed international, 6 regions", lambda: _phone(r, ["IN", "NG", "KE", "PH", "TR", "ID"], "dashed")),
        # names
        col("nombre_completo", "person_name", "Japanese names in romaji, family name first", jp),
        col("customer_name", "person_name", "lower case names, many countries", lambda: r.choice(LOWER_NAMES.split("|"))),
        col("pacjent", "person_name", "Polish 'Surname, Given'", lambda: "{1}, {0}".format(*r.choice(PL_NAMES))),
        col("name", "person_name", "Chinese names in pinyin, weak column name", lambda: r.choice(ZH_NAMES.split("|"))),
        col("voornaam", "person_name", "Dutch given names", lambda: r.choice(NL_GIVEN.split())),
        col("prenom_client", "person_name", "French given names with accents", lambda: r.choice(FR_GIVEN.split())),
        col("attendee", "person_name", "mixed full names, no keyword", lambda: r.choice([jp(), " ".join(r.choice(PL_NAMES)), r.choice(ZH_NAMES.split("|")), f"{r.choice(NL_GIVEN.split())} {r.choice(['de Boer', 'van Leeuwen', 'Hendriks', 'Verhoeven'])}"])),
        # e-mail
        col("email_address", "email", "plus-tags and subdomains, some upper case", lambda: _email(r)),
        col("login", "email", "e-mails as logins, no keyword", lambda: _email(r)),
        # addresses
        col("direccion_envio", "postal_address", "13 countries, flats and floors", lambda: ADDRESSES[r.choice(list(ADDRESSES))](r)),
        col("addr_line", "postal_address", "ES, IT, PL, PT", lambda: ADDRESSES[r.choice(["ES", "IT", "PL", "PT"])](r)),
        col("residence", "postal_address", "IN, AU, CA, IE", lambda: ADDRESSES[r.choice(["IN", "AU", "CA", "IE"])](r)),
        col("wohnort", "postal_address", "AT, CH, DK", lambda: ADDRESSES[r.choice(["AT", "CH", "DK"])](r)),
        # dates of birth
        col("birth_date", "date_of_birth", "mixed text formats", lambda: r.choice([f"{_birth(r):%d/%m/%Y}", f"{_birth(r):%Y-%m-%d}", f"{_birth(r):%d %B %Y}", f"{_birth(r):%B %d, %Y}"])),
        col("geboortedatum", "date_of_birth", "Dutch dd-mm-yyyy", lambda: f"{_birth(r):%d-%m-%Y}"),
        col("dob_int", "date_of_birth", "yyyymmdd integers", lambda: int(f"{_birth(r):%Y%m%d}")),
        col("fecha_nac", "date_of_birth", "midnight UTC timestamps", lambda: datetime.combine(_birth(r), datetime.min.time(), tzinfo=UTC)),
        # cards, IBANs, IPs
        col("cc_num", "payment_card", "9 brands, hand-typed spacing", lambda: _card(r)),
        col("iban", "iban", "12 less common IBAN countries", lambda: _iban(r)),
        col("client_addr", "ip_address", "IPv6: compressed, full, mapped, link-local", lambda: _ipv6(r)),
        col("peer", "ip_address", "IPv4 with ports", lambda: f"{r.randint(1, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}:{r.randint(1024, 65535)}"),
        # free text
        col("message", "free_text_with_pii", "obfuscated e-mails in 1 of 4 messages", lambda: _obfuscated(r) if r.random() < 0.25 else r.choice(NOTES_CLEAN)),
        col("chat", "free_text_with_pii", "Spanish and Indian phones inside sentences", lambda: r.choice([f"llámame al {_phone(r, ['ES'], 'national')} por la tarde", f"call me on {_in_mobile(r)} after 6", f"mi número es {_phone(r, ['MX'], 'national')}"]) if r.random() < 0.3 else r.choice(NOTES_CLEAN)),
        # decoys
        col("product_name", None, "product names", lambda: r.choice(PRODUCTS)),
        col("name_", None, "company names with surnames in them", lambda: r.choice(COMPANIES)),
        col("email_sent", None, "booleans", lambda: r.random() < 0.7),
        col("email_opt_in", None, "Y/N flags", lambda: r.choice(["Y", "N", "y", "n"])),
        col("email_template", None, "template keys", lambda: r.choice(["welcome_v2", "reset_password", "invoice_monthly", "cart_reminder_3d"])),
        col("phone_verified", None, "booleans as text", lambda: r.choice(["true", "false"])),
        col("request_id", None, "upper-case UUIDs in braces", lambda: "{" + str(uuid.UUID(int=r.getrandbits(128))).upper() + "}"),
        col("event_time", None, "ISO timestamps with Z", lambda: (datetime(2023, 1, 1) + timedelta(seconds=r.randint(0, 6 * 10**7))).strftime("%Y-%m-%dT%H:%M:%SZ")),
        col("epoch_s", None, "epoch seconds", lambda: r.randint(1_600_000_000, 1_750_000_000)),
        col("sales_order", None, "order numbers", lambda: f"SO-{r.randint(2021, 2025)}-{r.randint(1, 999999):06d}"),
        col("order_number", None, "8-digit integers", lambda: r.randint(10**7, 10**8 - 1)),
        col("isbn10", None, "ISBN-10, X check digits", lambda: _isbn10(r)),
        col("lat", None, "latitudes as text", lambda: f"{r.uniform(-60, 70):.6f}"),
        col("coords", None, "lat/long pairs", lambda: f"({r.uniform(-60, 70):.4f}, {r.uniform(-180, 180):.4f})"),
        col("sha1", None, "SHA-1 hex", lambda: hashlib.sha1(str(r.random()).encode(), usedforsecurity=False).hexdigest()),
        col("password_hash", None, "bcrypt hashes", lambda: "$2b$12$" + "".join(r.choice(string.ascii_letters + string.digits + "./") for _ in range(53))),
        col("app_version", None, "version strings", lambda: f"v{r.randint(1, 5)}.{r.randint(0, 20)}.{r.randint(0, 9)}{r.choice(['', '-beta', '-rc1'])}"),
        col("postal_code", None, "postcodes alone: NL, CA, PL, IN, JP, BR", lambda: r.choice([f"{r.randint(1000, 9999)} {r.choice(['AB', 'KL', 'XZ'])}", "H3B 1K9", f"{r.randint(0, 99):02d}-{r.randint(0, 999):03d}", f"{r.randint(110001, 855999)}", f"{r.randint(100, 999)}-{r.randint(0, 9999):04d}", f"{r.randint(1000, 99999):05d}-{r.randint(0, 999):03d}"])),
        col("amount", None, "amounts with currency", lambda: r.choice([f"€{r.randint(1, 9999):,},{r.randint(0, 99):02d}".replace(",", ".", 1), f"${r.randint(1, 99999) / 100:.2f}", f"{r.randint(1, 500)},{r.randint(0, 99):02d} zł", f"¥{r.randint(100, 99999):,}"])),
        col("partita_iva", None, "Italian VAT numbers (check digit)", lambda: _iva(r)),
        col("construction_date", None, "dates of buildings, 1900-1999", lambda: date(1900, 1, 1) + timedelta(days=r.randint(0, 36000))),
        col("account_number", None, "internal account references", lambda: f"ACC-{r.randint(1, 999999):06d}"),
        col("contact_method", None, "channel names", lambda: r.choice(["email", "phone", "sms", "post", "none"])),
        col("notes_internal", None, "notes without personal data", lambda: r.choice(NOTES_CLEAN)),
        col("subnet", None, "CIDR ranges", lambda: f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.0/24"),
    ]  # fmt: skip
