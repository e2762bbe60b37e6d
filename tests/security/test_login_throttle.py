"""Attacks on sign-in: guessing passwords and token secrets must be slowed down to uselessness.

Each test plays an attacker against the in-process app (on SQLite and PostgreSQL): guessing one
account's password from one client and from many, spraying many accounts from one client,
forging X-Forwarded-For, telling real accounts from made-up ones, guessing a known token key's
secret. Locks expire by an injected clock, never by sleeping.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from atelier.backends.metadata.models import utcnow
from atelier.services.auth.throttle import Throttle, TooManyAttempts, client_key
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, Accounts

#: Fewer free attempts than the defaults (5 and 20), so that the attacks take few password
#: checks; the defaults themselves are tested in test_lock_lengths_double_up_to_the_cap.
FREE = 3
CLIENT_FREE = 4
WRONG = "not the password at all"
#: The attacks through HTTP run on SQLite; the counting itself on PostgreSQL too.
sqlite_only = pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)


@pytest.fixture(autouse=True)
def few_free_attempts(workbench: Workbench) -> None:
    workbench.throttle.free = FREE
    workbench.throttle.client_free = CLIENT_FREE


def peer(client: Any, address: str) -> TestClient:
    """Another client of the same app, connecting from ``address``."""
    return TestClient(client.app, base_url="http://127.0.0.1", client=(address, 40000))


def attempt(http: Any, name: str, password: str, **headers: str) -> Any:
    page = http.get("/login", headers=headers)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return http.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": match.group(1)},
        headers=headers,
        follow_redirects=False,
    )


def locks(workbench: Workbench) -> list[Any]:
    return [e for e in workbench.audit.entries(limit=1000) if e.action == "sign_in.locked"]


def shift_clock(workbench: Workbench, by: timedelta) -> None:
    workbench.throttle.clock = lambda: utcnow() + by


@sqlite_only
def test_guessing_one_password_from_one_client_locks_it(
    client, accounts: Accounts, workbench
) -> None:  # type: ignore[no-untyped-def]
    # Other spellings of the name count against the same account.
    for name in ["scientist1", "Scientist1", " scientist1", "SCIENTIST1 ", "scientist1"][
        : FREE + 1
    ]:
        refused = attempt(client, name, WRONG)
        assert refused.status_code == 401 and "Wrong user name or password." in refused.text
    locked = attempt(client, "scientist1", WRONG)
    assert locked.status_code == 429
    assert "Too many attempts, try again in" in locked.text
    assert int(locked.headers["Retry-After"]) >= 1
    # The right password is refused too while the lock holds, with the very same answer.
    right = attempt(client, "scientist1", PASSWORD)
    assert right.status_code == 429 and "set-cookie" not in {
        k.lower() for k, v in right.headers.items() if "atelier_session" in v
    }
    assert client.get("/api/v1/me").status_code == 401


@sqlite_only
def test_guessing_from_many_clients_locks_the_account(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    for n in range(FREE + 1):
        assert attempt(peer(client, f"203.0.113.{n + 1}"), "admin1", WRONG).status_code == 401
    # A fresh address, a right password: the account itself is locked.
    fresh = peer(client, "198.51.100.7")
    assert attempt(fresh, "admin1", PASSWORD).status_code == 429
    # Other accounts are not locked for that client.
    assert attempt(fresh, "scientist1", PASSWORD).status_code == 303


@sqlite_only
def test_spraying_many_accounts_from_one_client_locks_the_client(
    client, accounts: Accounts, workbench
) -> None:  # type: ignore[no-untyped-def]
    http = peer(client, "203.0.113.50")
    client_free = CLIENT_FREE
    for n in range(client_free + 1):
        # A forged X-Forwarded-For per attempt changes nothing: the client is the socket peer.
        response = attempt(http, f"user{n}", WRONG, **{"X-Forwarded-For": f"192.0.2.{n}"})
        assert response.status_code == 401
    locked = attempt(http, "scientist1", PASSWORD, **{"X-Forwarded-For": "192.0.2.200"})
    assert locked.status_code == 429
    # Someone else, elsewhere, still logs in.
    assert attempt(peer(client, "198.51.100.8"), "scientist1", PASSWORD).status_code == 303


@sqlite_only
def test_forwarded_for_counts_only_behind_a_trusted_proxy(
    client, accounts: Accounts, workbench
) -> None:  # type: ignore[no-untyped-def]
    workbench.settings.auth.trusted_proxies = ["10.0.0.1"]
    proxy = peer(client, "10.0.0.1")
    client_free = CLIENT_FREE
    # Behind the proxy, each forwarded address is its own client: no client lock.
    for n in range(client_free + 1):
        headers = {"X-Forwarded-For": f"192.0.2.{n}"}
        assert attempt(proxy, f"user{n}", WRONG, **headers).status_code == 401
    assert (
        attempt(proxy, "scientist1", PASSWORD, **{"X-Forwarded-For": "192.0.2.99"}).status_code
        == 303
    )
    # A hop the client wrote itself (left of the proxy's) is not believed.
    assert client_key("10.0.0.1", "6.6.6.6, 192.0.2.5", ["10.0.0.1"]) == "192.0.2.5"
    assert client_key("203.0.113.9", "192.0.2.5", ["10.0.0.1"]) == "203.0.113.9"
    assert client_key("10.0.0.2", "192.0.2.5, 10.0.0.1", ["10.0.0.0/8"]) == "192.0.2.5"


@sqlite_only
def test_unknown_and_known_users_get_the_same_answers(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    def answers(name: str, address: str) -> list[tuple[int, str]]:
        http = peer(client, address)
        seen = []
        for _ in range(FREE + 3):
            response = attempt(http, name, WRONG)
            # Only the form's secrets and the seconds left may differ.
            text = re.sub(r'value="[^"]*"', "", response.text)
            text = re.sub(r"in \d+ seconds?", "in N seconds", text)
            seen.append((response.status_code, text))
        return seen

    known = answers("admin1", "203.0.113.1")
    unknown = answers("nobody-here", "203.0.113.2")
    assert [code for code, _ in known] == [code for code, _ in unknown]
    assert [code for code, _ in known] == [401] * (FREE + 1) + [429] * 2
    for (_, a), (_, b) in zip(known, unknown, strict=True):
        assert a.replace("admin1", "NAME") == b.replace("nobody-here", "NAME")


@sqlite_only
def test_token_secret_guessing_for_a_known_key(client, accounts: Accounts, workbench) -> None:  # type: ignore[no-untyped-def]
    token = accounts.tokens["scientist"]
    _, key, _ = token.split("_", 2)
    forged = f"atl_{key}_{'x' * 43}"
    for n in range(FREE + 1):
        # From many clients: the key itself is what gets locked.
        http = peer(client, f"203.0.113.{n + 1}")
        response = http.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401
    right = peer(client, "198.51.100.9").get(
        "/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert right.status_code == 429
    assert int(right.headers["Retry-After"]) >= 1
    assert "try again in" in right.json()["detail"]
    # Other tokens still work.
    assert client.get("/api/v1/me", headers=accounts.headers("admin")).status_code == 200
    # The lock ends; the real token works again.
    shift_clock(workbench, timedelta(minutes=16))
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@sqlite_only
def test_token_guessing_from_one_client_locks_the_client(
    client, accounts: Accounts, workbench
) -> None:  # type: ignore[no-untyped-def]
    http = peer(client, "203.0.113.77")
    client_free = CLIENT_FREE
    keys = [workbench.tokens.create("admin1", f"t{n}", 1)[0].key for n in range(client_free + 1)]
    for key in keys:  # one guess per key: no key is locked, the client is
        forged = {"Authorization": f"Bearer atl_{key}_{'y' * 43}"}
        assert http.get("/api/v1/me", headers=forged).status_code == 401
    assert http.get("/api/v1/me", headers=accounts.headers("admin")).status_code == 429
    assert client.get("/api/v1/me", headers=accounts.headers("admin")).status_code == 200


@sqlite_only
def test_a_lock_is_audited_once(client, accounts: Accounts, workbench) -> None:  # type: ignore[no-untyped-def]
    http = peer(client, "203.0.113.3")
    for _ in range(FREE):
        attempt(http, "viewer1", WRONG)
    assert locks(workbench) == []
    attempt(http, "viewer1", WRONG)  # the sixth failure earns the first lock
    for _ in range(5):
        assert attempt(http, "viewer1", WRONG).status_code == 429
    found = locks(workbench)
    assert len(found) == 1
    entry = found[0]
    assert (entry.actor, entry.target, entry.success) == ("viewer1", "account:viewer1", False)
    assert entry.detail is not None and entry.detail["failures"] == FREE + 1


@sqlite_only
def test_locks_grow_expire_and_a_success_resets_the_account(
    client, accounts: Accounts, workbench
) -> None:  # type: ignore[no-untyped-def]
    http = peer(client, "203.0.113.4")
    for _ in range(FREE + 1):
        attempt(http, "scientist1", WRONG)
    assert attempt(http, "scientist1", PASSWORD).status_code == 429
    # Two seconds later the lock is over; the next failure locks for four.
    shift_clock(workbench, timedelta(seconds=3))
    assert attempt(http, "scientist1", WRONG).status_code == 401
    assert attempt(http, "scientist1", PASSWORD).status_code == 429
    account = [e for e in reversed(locks(workbench)) if e.target == "account:scientist1"]
    assert [e.detail["seconds"] for e in account if e.detail] == [2, 4]
    # After it, the right password gets in and the account starts afresh.
    shift_clock(workbench, timedelta(seconds=8))
    assert attempt(http, "scientist1", PASSWORD).status_code == 303
    http = peer(client, "203.0.113.40")  # (the first address has used up its own free attempts)
    for _ in range(FREE):
        assert attempt(http, "scientist1", WRONG).status_code == 401
    assert attempt(http, "scientist1", PASSWORD).status_code == 303


@sqlite_only
def test_login_link_guessing_locks_the_client(client, workbench) -> None:  # type: ignore[no-untyped-def]
    http = peer(client, "203.0.113.5")
    client_free = CLIENT_FREE
    for n in range(client_free + 1):
        assert http.get(f"/login/link?code=guess{n}").status_code == 401
    code = workbench.sessions.create_link(workbench.owner().name)
    assert http.get(f"/login/link?code={code}", follow_redirects=False).status_code == 429
    assert (
        peer(client, "198.51.100.10")
        .get(f"/login/link?code={code}", follow_redirects=False)
        .status_code
        == 303
    )


def test_locks_hold_across_server_processes(workbench: Workbench) -> None:
    for _ in range(FREE + 1):
        workbench.throttle.fail([("account", "ada")])
    other = Workbench(workbench.workspace)  # another server process on the same database
    try:
        with pytest.raises(TooManyAttempts) as refused:
            other.throttle.check([("account", "ada")])
        assert 1 <= refused.value.retry_after <= 2
    finally:
        other.close()


def test_parallel_guesses_cannot_slip_past_the_count(workbench: Workbench) -> None:
    throttle = Throttle(workbench.db, free=FREE, client_free=100, max_lock=timedelta(minutes=15))
    passed: list[int] = []
    start = threading.Barrier(16)

    def guess() -> None:
        start.wait()
        try:
            throttle.begin([("account", "bob")])
        except TooManyAttempts:
            return
        passed.append(1)

    threads = [threading.Thread(target=guess) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Five free attempts and the one that set the lock; every other one was refused.
    assert len(passed) == FREE + 1


def test_lock_lengths_double_up_to_the_cap(workspace) -> None:  # type: ignore[no-untyped-def]
    wb = Workbench(workspace)
    throttle = wb.throttle  # the defaults: 5 free attempts, 20 per client, 15 minutes at most
    wb.close()
    assert throttle.lock_for("account", 5) is None
    assert throttle.lock_for("account", 6) == timedelta(seconds=2)
    assert throttle.lock_for("account", 7) == timedelta(seconds=4)
    assert throttle.lock_for("account", 35) == timedelta(minutes=15)
    assert throttle.lock_for("account", 10**6) == timedelta(minutes=15)
    assert throttle.lock_for("client", 6) is None  # clients get more free attempts
    assert throttle.lock_for("client", 21) == timedelta(seconds=2)


@sqlite_only
def test_the_apps_origin_is_no_oracle_for_token_guesses(
    client, accounts: Accounts, workbench
) -> None:  # type: ignore[no-untyped-def]
    from atelier.server.apps_origin import create_apps_app

    token = accounts.tokens["scientist"]
    forged = {"Authorization": f"Bearer atl_{token.split('_')[1]}_{'x' * 43}"}
    apps = TestClient(
        create_apps_app(workbench), base_url="http://127.0.0.1:8701", client=("203.0.113.60", 1)
    )
    # The apps origin takes no bearer tokens: a right and a wrong secret get the same answer as
    # no token at all, so guessing there teaches nothing (and the API's back-off is the only
    # door for tokens).
    anonymous = apps.get("/apps/anything/", follow_redirects=False)
    for headers in (forged, {"Authorization": f"Bearer {token}"}):
        answer = apps.get("/apps/anything/", headers=headers, follow_redirects=False)
        assert (answer.status_code, answer.text) == (anonymous.status_code, anonymous.text)


@sqlite_only
def test_trusted_proxies_are_addresses_or_networks() -> None:
    from atelier.config.loader import load_settings
    from atelier.errors import ConfigError

    environ = {"ATELIER_AUTH_TRUSTED_PROXIES": "10.0.0.1, 10.1.0.0/16"}
    assert load_settings(None, environ).auth.trusted_proxies == ["10.0.0.1", "10.1.0.0/16"]
    assert load_settings(None, {}).auth.trusted_proxies == []  # nobody is believed by default
    with pytest.raises(ConfigError, match=r"'proxy\.local' is not an IP address or network"):
        load_settings(None, {"ATELIER_AUTH_TRUSTED_PROXIES": "proxy.local"})
