"""Fake but plausible personal data for the demo bank, from small embedded lists.

Four countries (GB, DE, FR, NL), each with its own names, streets, cities, postcode and phone
formats. Email addresses use the reserved ``example.*`` domains (RFC 2606), so no real mailbox
can ever be written to. IBANs carry valid ISO 13616 check digits over made-up bank codes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

COUNTRIES = ("GB", "DE", "FR", "NL")
COUNTRY_WEIGHTS = (0.40, 0.25, 0.20, 0.15)
CURRENCIES = ("GBP", "EUR", "EUR", "EUR")

FIRST_NAMES: dict[str, Sequence[str]] = {
    "GB": (
        "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Mia", "Charlie", "Emily",
        "Thomas", "Sophie", "James", "Grace", "William", "Lily", "Daniel", "Chloe", "Samuel",
        "Hannah", "Joseph", "Ella", "Mohammed", "Priya", "Aisha", "Rhys", "Fiona", "Callum",
    ),
    "DE": (
        "Lukas", "Anna", "Leon", "Marie", "Finn", "Sophie", "Jonas", "Lena", "Paul", "Laura",
        "Felix", "Hannah", "Maximilian", "Lea", "Jürgen", "Katrin", "Stefan", "Sabine", "Tobias",
        "Julia", "Matthias", "Claudia", "Emre", "Ayşe",
    ),
    "FR": (
        "Gabriel", "Louise", "Léo", "Emma", "Raphaël", "Jade", "Arthur", "Alice", "Louis", "Chloé",
        "Hugo", "Léa", "Jules", "Manon", "François", "Camille", "Nicolas", "Élodie", "Mathieu",
        "Inès", "Yanis", "Sarah", "Antoine", "Margaux",
    ),
    "NL": (
        "Daan", "Emma", "Sem", "Julia", "Lucas", "Mila", "Finn", "Tess", "Levi", "Sophie",
        "Bram", "Fenna", "Jesse", "Sanne", "Thijs", "Lotte", "Ruben", "Anouk", "Joost", "Femke",
        "Mehmet", "Noor", "Pieter", "Marieke",
    ),
}  # fmt: skip

LAST_NAMES: dict[str, Sequence[str]] = {
    "GB": (
        "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
        "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
        "Wood", "Jackson", "Clarke", "Khan", "Murphy", "Campbell", "Hughes", "Edwards", "Ali",
    ),
    "DE": (
        "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
        "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder",
        "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Yilmaz", "Lange",
    ),
    "FR": (
        "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
        "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
        "Vincent", "Fournier", "Morel", "Girard", "Benali", "Lambert",
    ),
    "NL": (
        "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen",
        "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters",
        "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra", "Yildiz", "Kok",
    ),
}  # fmt: skip

STREETS: dict[str, Sequence[str]] = {
    "GB": (
        "High Street", "Station Road", "Church Lane", "Victoria Road", "Park Avenue",
        "Mill Lane", "King Street", "Queens Road", "The Crescent", "Manor Way", "Elm Grove",
        "Albert Road",
    ),
    "DE": (
        "Hauptstraße", "Schulstraße", "Gartenstraße", "Bahnhofstraße", "Lindenweg",
        "Bergstraße", "Kirchstraße", "Am Markt", "Goethestraße", "Rosenweg", "Waldstraße",
        "Mozartstraße",
    ),
    "FR": (
        "rue de la République", "avenue Victor Hugo", "rue des Lilas", "boulevard Voltaire",
        "rue Pasteur", "place de l'Église", "rue du Moulin", "avenue Jean Jaurès",
        "rue de la Gare", "allée des Tilleuls", "rue Nationale", "chemin des Vignes",
    ),
    "NL": (
        "Kerkstraat", "Dorpsstraat", "Stationsweg", "Molenweg", "Julianastraat", "Schoolstraat",
        "Prinsengracht", "Wilhelminalaan", "Lindenlaan", "Beatrixstraat", "Nieuwstraat",
        "Havenkade",
    ),
}  # fmt: skip

# city, weight, postcode spec: GB outward codes; DE/FR lowest and highest number; NL range.
CITIES: dict[str, Sequence[tuple[str, float, tuple[str | int, ...]]]] = {
    "GB": (
        ("London", 0.34, ("SW", "SE", "N", "E", "W", "NW")),
        ("Manchester", 0.12, ("M",)),
        ("Birmingham", 0.12, ("B",)),
        ("Leeds", 0.09, ("LS",)),
        ("Glasgow", 0.09, ("G",)),
        ("Bristol", 0.08, ("BS",)),
        ("Edinburgh", 0.08, ("EH",)),
        ("Liverpool", 0.08, ("L",)),
    ),
    "DE": (
        ("Berlin", 0.30, (10115, 14199)),
        ("Hamburg", 0.18, (20095, 22769)),
        ("München", 0.17, (80331, 81929)),
        ("Köln", 0.12, (50667, 51149)),
        ("Frankfurt am Main", 0.10, (60306, 60599)),
        ("Leipzig", 0.07, (4103, 4357)),
        ("Stuttgart", 0.06, (70173, 70629)),
    ),
    "FR": (
        ("Paris", 0.36, (75001, 75020)),
        ("Lyon", 0.16, (69001, 69009)),
        ("Marseille", 0.16, (13001, 13016)),
        ("Toulouse", 0.11, (31000, 31500)),
        ("Bordeaux", 0.08, (33000, 33800)),
        ("Nantes", 0.07, (44000, 44300)),
        ("Lille", 0.06, (59000, 59800)),
    ),
    "NL": (
        ("Amsterdam", 0.33, (1011, 1109)),
        ("Rotterdam", 0.22, (3011, 3089)),
        ("Den Haag", 0.17, (2491, 2597)),
        ("Utrecht", 0.14, (3511, 3585)),
        ("Eindhoven", 0.08, (5611, 5658)),
        ("Groningen", 0.06, (9711, 9747)),
    ),
}

EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_BANK_CODES = {"GB": "ATLR", "DE": "10050042", "FR": "1799900042", "NL": "ATLR"}
_ACCOUNT_DIGITS = {"GB": 14, "DE": 10, "FR": 13, "NL": 10}


@dataclass(frozen=True)
class People:
    """Per-customer personal data, aligned with the population arrays."""

    first_name: list[str]
    last_name: list[str]
    email: list[str]
    phone: list[str]
    street_address: list[str]
    city: list[str]
    postcode: list[str]


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded.encode("ascii", "ignore").decode() if c.isalnum())


def _digits(value: int, width: int) -> str:
    return str(value % 10**width).zfill(width)


def _gb_postcode(spec: tuple[str | int, ...], r: Sequence[int]) -> str:
    area = str(spec[r[0] % len(spec)])
    return f"{area}{1 + r[1] % 20} {r[2] % 10}{_LETTERS[r[3] % 20]}{_LETTERS[r[4] % 20]}"


def _range_postcode(spec: tuple[str | int, ...], r: Sequence[int]) -> str:
    low, high = int(spec[0]), int(spec[1])
    return str(low + r[1] % (high - low + 1)).zfill(5)


def _nl_postcode(spec: tuple[str | int, ...], r: Sequence[int]) -> str:
    low, high = int(spec[0]), int(spec[1])
    return f"{low + r[1] % (high - low + 1)} {_LETTERS[r[3] % 20]}{_LETTERS[r[4] % 20]}"


_POSTCODES: dict[str, Callable[[tuple[str | int, ...], Sequence[int]], str]] = {
    "GB": _gb_postcode,
    "DE": _range_postcode,
    "FR": _range_postcode,
    "NL": _nl_postcode,
}


def _phone(country: str, r: Sequence[int]) -> str:
    if country == "GB":
        return f"+44 7{_digits(r[5], 3)} {_digits(r[6], 6)}"
    if country == "DE":
        return f"+49 1{('51', '52', '60', '70', '76')[r[5] % 5]} {_digits(r[6], 7)}"
    if country == "FR":
        pairs = _digits(r[6], 8)
        return f"+33 {6 + r[5] % 2} " + " ".join(pairs[i : i + 2] for i in range(0, 8, 2))
    return f"+31 6 {_digits(r[6], 8)}"


def _street(country: str, street: str, r: Sequence[int]) -> str:
    number = 1 + r[7] % 180
    if country == "GB":
        flat = f"Flat {1 + r[5] % 12}, " if r[4] % 7 == 0 else ""
        return f"{flat}{number} {street}"
    if country == "FR":
        return f"{number} {street}"
    return f"{street} {number}"


def _email(first: str, last: str, r: Sequence[int]) -> str:
    f, last_ = _ascii(first).lower(), _ascii(last).lower()
    style = r[0] % 5
    local = (f"{f}.{last_}", f"{f[0]}{last_}", f"{f}{last_}", f"{f}_{last_}", f"{last_}.{f}")[style]
    if r[1] % 3 == 0:
        local += str(r[2] % 100)
    return f"{local}@{EMAIL_DOMAINS[r[3] % len(EMAIL_DOMAINS)]}"


def make_people(rng: np.random.Generator, country: NDArray[np.int64]) -> People:
    """Names, contact details and addresses for customers of the given country codes."""
    import numpy as np

    n = len(country)
    draws = rng.integers(0, 2**31 - 1, size=(n, 8)).tolist()
    city_u = rng.random(n).tolist()
    city_cdf = {cc: np.cumsum([w for _, w, _ in CITIES[cc]]) for cc in COUNTRIES}
    out = People([], [], [], [], [], [], [])
    used: set[str] = set()
    for i, code in enumerate(country.tolist()):
        cc, r = COUNTRIES[code], draws[i]
        first = FIRST_NAMES[cc][r[0] % len(FIRST_NAMES[cc])]
        last = LAST_NAMES[cc][r[1] % len(LAST_NAMES[cc])]
        cdf = city_cdf[cc]
        pick = min(int(np.searchsorted(cdf, city_u[i] * cdf[-1])), len(cdf) - 1)
        city, _, spec = CITIES[cc][pick]
        email = _email(first, last, r[2:6])
        local, domain = email.split("@")
        suffix = 1
        while email in used:  # unique the way real providers do it: a number suffix
            suffix += 1
            email = f"{local}{suffix}@{domain}"
        used.add(email)
        out.first_name.append(first)
        out.last_name.append(last)
        out.email.append(email)
        out.phone.append(_phone(cc, r))
        out.street_address.append(_street(cc, STREETS[cc][r[3] % len(STREETS[cc])], r))
        out.city.append(city)
        out.postcode.append(_POSTCODES[cc](spec, r))
    return out


def make_ibans(rng: np.random.Generator, country: NDArray[np.int64]) -> list[str]:
    """One IBAN per entry, with correct mod-97 check digits and a fictional bank code."""
    numbers = rng.integers(0, 10**13, size=len(country)).tolist()
    ibans = []
    for code, number in zip(country.tolist(), numbers, strict=True):
        cc = COUNTRIES[code]
        bban = _BANK_CODES[cc] + _digits(number, _ACCOUNT_DIGITS[cc])
        as_digits = "".join(str(int(c, 36)) for c in bban + cc + "00")
        ibans.append(f"{cc}{98 - int(as_digits) % 97:02d}{bban}")
    return ibans
