"""Device sign-in (``atelier login URL``) over the API and the portal, and its attacks: a
guessed or reused code, confirming without a session or without CSRF, an expired or denied
code, too many sign-ins from one address, and signing a token out."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from atelier.backends.metadata.models import DeviceLogin, utcnow
from tests.conftest import PASSWORD, Accounts

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(client: Any, name: str) -> None:
    """A portal session for ``name`` in ``client``'s cookie jar."""
    page = client.get("/login")
    csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    done = client.post(
        "/login",
        data={"name": name, "password": PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text


def start(client: Any, name: str = "ada@laptop") -> dict[str, Any]:
    started = client.post("/api/v1/device/code", json={"name": name})
    assert started.status_code == 201, started.text
    body: dict[str, Any] = started.json()
    return body


def poll(client: Any, device_code: str) -> Any:
    return client.post("/api/v1/device/token", json={"device_code": device_code})


def test_device_sign_in_end_to_end(client, accounts: Accounts, workbench) -> None:  # type: ignore[no-untyped-def]
    started = start(client)
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", started["user_code"])
    assert started["verification_url"] == "http://127.0.0.1/device"
    assert poll(client, started["device_code"]).status_code == 202

    # Without a session the page sends the person to log in first, and comes back.
    page = client.get(
        f"/device?code={started['user_code']}",
        headers={"Accept": "text/html"},
        follow_redirects=False,
    )
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=/device")
    # A token cannot confirm: the person signs in with their password.
    by_token = client.post(
        "/device",
        data={"code": started["user_code"], "action": "confirm"},
        headers=accounts.headers("scientist"),
    )
    assert by_token.status_code == 403 and "signed in with your password" in by_token.text

    sign_in(client, "scientist1")
    page = client.get(f"/device?code={started['user_code'].lower().replace('-', ' ')}")
    assert page.status_code == 200 and "ada@laptop" in page.text and "scientist1" in page.text
    csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    # A cross-site form (no CSRF token, or a forged one) confirms nothing.
    for forged in ({}, {"csrf_token": "forged"}):
        refused = client.post(
            "/device", data={"code": started["user_code"], "action": "confirm", **forged}
        )
        assert refused.status_code == 403
    assert poll(client, started["device_code"]).status_code == 202

    confirmed = client.post(
        "/device", data={"code": started["user_code"], "action": "confirm", "csrf_token": csrf}
    )
    assert confirmed.status_code == 200
    assert "ada@laptop is signed in as scientist1" in confirmed.text
    got = poll(client, started["device_code"])
    assert got.status_code == 200, got.text
    granted = got.json()
    assert granted["status"] == "approved" and granted["user"] == "scientist1"
    token = {"Authorization": f"Bearer {granted['token']}"}
    assert client.get("/api/v1/me", headers=token).json()["name"] == "scientist1"
    names = {t["name"] for t in client.get("/api/v1/tokens", headers=token).json()}
    assert "ada@laptop" in names

    # Used once: the device code and the user code are spent.
    assert poll(client, started["device_code"]).status_code == 410
    again = client.post(
        "/device", data={"code": started["user_code"], "action": "confirm", "csrf_token": csrf}
    )
    assert again.status_code == 404

    # Logout revokes the token on the server.
    assert client.delete("/api/v1/me/tokens/0", headers=token).status_code == 404
    viewers = client.get("/api/v1/tokens?all=true", headers=accounts.headers("admin")).json()
    viewer_key = next(t["key"] for t in viewers if t["user"] == "viewer1")
    # Another person's key is not found, whoever asks.
    assert client.delete(f"/api/v1/me/tokens/{viewer_key}", headers=token).status_code == 404
    out = client.delete(f"/api/v1/me/tokens/{granted['key']}", headers=token)
    assert out.status_code == 200 and out.json()["active"] is False
    assert client.get("/api/v1/me", headers=token).status_code == 401
    actions = [e.action for e in workbench.audit.entries(limit=10)]
    assert "device.confirm" in actions and "token.revoke" in actions


def test_device_codes_guessed_expired_denied_flooded(client, accounts, workbench) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, "viewer1")
    csrf = CSRF.search(client.get("/device").text).group(1)  # type: ignore[union-attr]

    # A guessed device code is unknown (and counts against the address).
    assert poll(client, "guessed-device-code").status_code == 404

    # An expired code is refused on both sides.
    old = start(client)
    with workbench.db.session() as session:
        session.execute(update(DeviceLogin).values(expires_at=utcnow() - timedelta(seconds=1)))
    late = client.post(
        "/device", data={"code": old["user_code"], "action": "confirm", "csrf_token": csrf}
    )
    assert late.status_code == 404
    assert poll(client, old["device_code"]).status_code == 410

    # Denied: the device learns it and gets nothing.
    denied = start(client)
    no = client.post(
        "/device", data={"code": denied["user_code"], "action": "deny", "csrf_token": csrf}
    )
    assert no.status_code == 200 and "denied" in no.text
    answer = poll(client, denied["device_code"])
    assert answer.status_code == 410 and "denied" in answer.json()["detail"]

    # Guessing user codes locks the person out of confirming after a few tries.
    statuses = [
        client.get(f"/device?code=BCDF-{guess}").status_code
        for guess in ("GHJK", "GHJM", "GHJN", "GHJP", "GHJQ", "GHJR", "GHJS")
    ]
    assert statuses[:5] == [404] * 5 and statuses[-1] == 429
    assert any(e.action == "sign_in.locked" for e in workbench.audit.entries(limit=20))

    # One address cannot flood the server with sign-ins.
    codes = [client.post("/api/v1/device/code", json={"name": "x"}) for _ in range(11)]
    assert codes[-1].status_code == 429
    assert {c.status_code for c in codes[:-2]} == {201}

    # Bad input is one clear line.
    bad = client.post("/api/v1/device/code", json={"name": ""})
    assert bad.status_code == 422 and "body.name" in bad.json()["detail"]
