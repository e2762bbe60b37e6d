"""Personal data inside free text: addresses written so that harvesters miss them, phone
numbers of more countries in sentences, and prose that only looks like it holds them."""

from __future__ import annotations

import pytest

from atelier.services.pii.text import pii_in_text


@pytest.mark.parametrize(
    "text",
    [
        "pls write to lisa.m at fastmail dot com, not the shop address",
        "contact: anna_k [at] gmail [dot] com",
        "Mail me at k.tanaka(at)web(dot)org thanks",
        "my address is john AT web DOT net, reply there please",
        "escríbeme a pedro77 {at} proton {dot} es",
        "Kontakt: j.mueller (at) uni-heidelberg (dot) de",
        "reach me at anna[at]mail.example.co.uk",  # a bracketed "at" and real dots
    ],
)
def test_obfuscated_emails(text: str) -> None:
    assert pii_in_text(text) == "email"


@pytest.mark.parametrize(
    "text",
    [
        "we arrived at noon.Then we left",
        "the docs are available at docs.python.org for details",
        "look at the dot product of both vectors",
        "meet at office dot 5 on Tuesday",
        "Shipment 4711 delayed at port 3, new ETA 2024-05-06.",
        "Il pacco è arrivato danneggiato, rimborso approvato.",
        "connect at 10.0.0.0/8 is refused by the firewall",
    ],
)
def test_prose_without_personal_data(text: str) -> None:
    assert pii_in_text(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "llámame al 612 34 56 78 por la tarde",  # Spain
        "call me on +91 98765 43210 after 6",  # India
        "mi número es 55 1234 5678",  # Mexico City, national
        "ligue para (11) 96127-0848 amanhã",  # Brazil
    ],
)
def test_phones_of_more_countries_in_sentences(text: str) -> None:
    assert pii_in_text(text) in {"phone", "national_id"}


def test_hostile_text_is_read_in_reasonable_time() -> None:
    # Long runs of what the obfuscated-address pattern looks for, without an address.
    text = ("a at " + "b." * 2000 + " ") * 3 + "x [at] " + "y dot " * 2000
    assert pii_in_text(text[:4000]) in {None, "email"}
