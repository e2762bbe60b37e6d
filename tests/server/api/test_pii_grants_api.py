"""``/api/v1/pii/grants`` and ``/pii/rules`` on SQLite and PostgreSQL: admins grant and revoke,
everyone else is refused (audited), code tokens never reach grants, the key is never shown."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from typing import Any

import pytest

from atelier.services.auth.scopes import WORK
from atelier.services.pii.policies import policies_of
from atelier.services.workbench import Workbench
from tests.conftest import Accounts


def test_grants_over_http(
    client: Any, accounts: Accounts, workbench: Workbench, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin, scientist, viewer = (accounts.headers(r) for r in ("admin", "scientist", "viewer"))
    seen: list[str] = []

    def call(method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
        response = client.request(method, f"/api/v1{path}", headers=headers, **kwargs)
        seen.append(response.text)
        return response

    body = {"user": "scientist1", "table": "bank.customers", "reason": "fraud case 42", "days": 7}
    made = call("POST", "/pii/grants", admin, json=body)
    assert made.status_code == 201, made.text
    grant = made.json()
    assert grant["user"] == "scientist1" and grant["active"] and grant["granted_by"] == "admin1"

    # A scientist granting themselves (or anyone) raw access is refused, and it is audited.
    refused = call("POST", "/pii/grants", scientist, json={**body, "kind": None, "days": 1})
    assert refused.status_code == 403
    assert "scientist1 (scientist) may not grant raw access" in refused.json()["detail"]
    assert call("POST", "/pii/grants", viewer, json=body).status_code == 403
    assert call("DELETE", f"/pii/grants/{grant['id']}", scientist).status_code == 403

    # A token made for code (a job, a notebook, an app) never reaches grants, even an admin's.
    _, code = workbench.tokens.create_for("admin1", "job 7", WORK, timedelta(hours=1))
    as_code = {"Authorization": f"Bearer {code}"}
    assert call("POST", "/pii/grants", as_code, json=body).status_code == 403
    assert call("GET", "/pii/grants", as_code).status_code == 403
    assert call("GET", "/pii/rules", as_code).status_code == 200  # rules are no secret

    # Everyone lists their own; only admins everyone's.
    assert [g["id"] for g in call("GET", "/pii/grants", scientist).json()] == [grant["id"]]
    assert call("GET", "/pii/grants", viewer).json() == []
    assert call("GET", "/pii/grants?user=admin1", scientist).status_code == 403
    assert len(call("GET", "/pii/grants?user=scientist1", admin).json()) == 1

    # Bad input: one clear line each.
    for bad, message in (
        ({**body, "reason": ""}, "a grant needs a reason"),
        ({**body, "days": 3650}, "a grant lasts at most 90 days"),
        ({**body, "days": None, "expires_at": "2001-01-01T00:00:00Z"}, "is in the past"),
        ({**body, "user": "viewer1"}, "viewer1 is a viewer"),
        ({**body, "table": "x'; --"}, "is not a table name"),
        ({"user": "scientist1", "table": "t", "days": 1}, "reason"),
    ):
        answer = call("POST", "/pii/grants", admin, json=bad)
        assert answer.status_code in (400, 422) and message in answer.json()["detail"], answer.text

    rules = {r["kind"]: r for r in call("GET", "/pii/rules", viewer).json()}
    assert rules["email"]["rule"] == "pseudonym" and rules["phone"]["rule"] == "partial:4"

    revoked = call("DELETE", f"/pii/grants/{grant['id']}", admin)
    assert revoked.status_code == 200 and not revoked.json()["active"]
    assert call("GET", "/pii/grants", scientist).json() == []
    assert call("DELETE", "/pii/grants/999", admin).status_code == 404

    audit = call("GET", "/audit?limit=50", admin).json()
    pii = [(e["action"], e["actor"], e["success"]) for e in audit if e["action"].startswith("pii")]
    assert pii == [
        ("pii.revoke", "admin1", True),
        ("pii.revoke", "scientist1", False),
        ("pii.grant", "scientist1", False),
        ("pii.grant", "admin1", True),
    ]

    # The pseudonym key is in no response, no audit entry and no log line.
    key = policies_of(workbench).masker()._key
    everything = "\n".join(seen) + caplog.text + str([e.detail for e in workbench.audit.entries()])
    for shown in (key.hex(), base64.b64encode(key).decode()):
        assert shown not in everything
