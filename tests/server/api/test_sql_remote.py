"""Raw personal data stays on the server: what ``POST /api/v1/sql``, its downloads and the
table routes give a scientist with a raw grant, with and without an export grant, a viewer,
and the code the server runs itself (notebook and job tokens) — from the server host, through
a proxy, with forged headers, and from elsewhere."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from atelier.contract import ARROW_STREAM
from atelier.server.api import deps
from atelier.server.app import create_app
from atelier.services.auth import Principal
from atelier.services.auth import scopes as token_scopes
from atelier.services.pii.grants import grants_of
from atelier.services.workbench import Workbench
from tests.conftest import Accounts, RunningServer

SQL = "SELECT id, email FROM bank.customers ORDER BY id"
EMAILS = ["ann@example.com", "bob@example.org"]
LAPTOP = ("203.0.113.7", 51000)
LOOPBACK = ("127.0.0.1", 51000)


@pytest.fixture
def customers(workbench: Workbench, accounts: Accounts) -> None:
    """bank.customers with a tagged e-mail column; scientist1 holds a raw grant on it (no
    export)."""
    workbench.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA bank; CREATE TABLE bank.customers AS SELECT * FROM (VALUES "
            f"(1, '{EMAILS[0]}'), (2, '{EMAILS[1]}')) t(id, email)"
        ),
        author="admin1",
    )
    admin = Principal(workbench.users.get("admin1").id, "admin1", "admin", "token")
    workbench.pii_tags.confirm(admin, "bank.customers", "email", "email")
    grants_of(workbench).grant(
        admin, "scientist1", table="bank.customers", reason="case 12", days=1
    )


def _client(workbench: Workbench, address: tuple[str, int]) -> Iterator[TestClient]:
    with TestClient(
        create_app(workbench), base_url="http://127.0.0.1", client=address
    ) as test_client:
        yield test_client


@pytest.fixture
def laptop(workbench: Workbench) -> Iterator[TestClient]:
    yield from _client(workbench, LAPTOP)


@pytest.fixture
def local(workbench: Workbench) -> Iterator[TestClient]:
    """Requests whose peer is the server host's loopback address."""
    yield from _client(workbench, LOOPBACK)


def _code_token(workbench: Workbench, label: str, scopes: frozenset[str]) -> dict[str, str]:
    _, token = workbench.tokens.create_for("scientist1", label, scopes, timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


def notebook(workbench: Workbench) -> dict[str, str]:
    return _code_token(workbench, "notebook scientist1", token_scopes.NOTEBOOK)


def emails_of_sql(client: TestClient, headers: dict[str, str]) -> list[str]:
    response = client.post("/api/v1/sql", json={"sql": SQL}, headers=headers)
    assert response.status_code == 200, response.text
    return [row[1] for row in response.json()["rows"]]


def emails_of_csv(client: TestClient, headers: dict[str, str]) -> list[str]:
    response = client.post(
        "/api/v1/sql/download", params={"format": "csv"}, json={"sql": SQL}, headers=headers
    )
    assert response.status_code == 200, response.text
    return [row["email"] for row in csv.DictReader(io.StringIO(response.text))]


def emails_of_parquet(client: TestClient, headers: dict[str, str]) -> list[str]:
    response = client.post(
        "/api/v1/sql/download", params={"format": "parquet"}, json={"sql": SQL}, headers=headers
    )
    assert response.status_code == 200, response.text
    table = pq.read_table(io.BytesIO(response.content))
    return [str(v) for v in table.column("email").to_pylist()]


def emails_of_sample(client: TestClient, headers: dict[str, str]) -> list[str]:
    response = client.get("/api/v1/tables/bank.customers", headers=headers)
    assert response.status_code == 200, response.text
    return [str(row.get("email")) for row in _sample_rows(response.json())]


def _sample_rows(detail: dict[str, object]) -> list[dict[str, object]]:
    sample = detail["sample"]
    assert isinstance(sample, dict | list), sample
    if isinstance(sample, dict):  # {"columns": [...], "rows": [[...]]}
        names = [c["name"] if isinstance(c, dict) else c for c in sample["columns"]]
        return [dict(zip(names, row, strict=True)) for row in sample["rows"]]
    return list(sample)


def raw(emails: list[str]) -> bool:
    return sorted(emails) == sorted(EMAILS)


def masked(emails: list[str]) -> bool:
    return len(emails) == 2 and not any(e in EMAILS for e in emails)


# -- a person's clients: remote -------------------------------------------------------------


def test_raw_grant_without_export_is_masked_for_every_remote_read(
    workbench: Workbench,
    accounts: Accounts,
    customers: None,
    laptop: TestClient,
    local: TestClient,
) -> None:
    headers = accounts.headers("scientist")
    for client in (laptop, local):  # a person's own token is remote even from the host
        assert masked(emails_of_sql(client, headers))
        assert masked(emails_of_csv(client, headers))
        assert masked(emails_of_parquet(client, headers))
        assert masked(emails_of_sample(client, headers))


def test_export_grant_gives_raw_values_in_responses_and_downloads(
    workbench: Workbench, accounts: Accounts, customers: None, laptop: TestClient
) -> None:
    admin = Principal(workbench.users.get("admin1").id, "admin1", "admin", "token")
    grants_of(workbench).grant(
        admin, "scientist1", table="bank.customers", reason="export", days=1, export=True
    )
    headers = accounts.headers("scientist")
    assert raw(emails_of_sql(laptop, headers))
    assert raw(emails_of_csv(laptop, headers))
    assert raw(emails_of_parquet(laptop, headers))
    # Each raw read is audited as leaving the server, from the laptop's address; each file
    # is also a download entry.
    reads = workbench.audit.entries(action="pii.raw_read")
    assert len(reads) == 3 and all(e.detail["remote"] is True for e in reads)
    assert all(e.client == LAPTOP[0] for e in reads)
    downloads = workbench.audit.entries(action="sql.download")
    assert sorted(e.detail["format"] for e in downloads) == ["csv", "parquet"]
    assert all(e.client == LAPTOP[0] and e.actor == "scientist1" for e in downloads)


def test_viewers_and_admins_without_a_grant(
    accounts: Accounts, customers: None, local: TestClient
) -> None:
    viewer = accounts.headers("viewer")
    for path, params in (("/api/v1/sql", {}), ("/api/v1/sql/download", {"format": "csv"})):
        refused = local.post(path, params=params, json={"sql": SQL}, headers=viewer)
        assert refused.status_code == 403, refused.text
        assert not any(e in refused.text for e in EMAILS)
    # Admins are not exempt: no grant, masked.
    assert masked(emails_of_csv(local, accounts.headers("admin")))


# -- code the server runs: a notebook's or a job's token -------------------------------------


def test_notebook_token_from_the_server_host_reads_raw_with_a_grant(
    workbench: Workbench, customers: None, local: TestClient
) -> None:
    headers = notebook(workbench)
    assert raw(emails_of_sql(local, headers))
    assert raw(emails_of_sample(local, headers))
    job = _code_token(workbench, "job 7", token_scopes.JOB)
    assert raw(emails_of_sql(local, job))
    # A download is a file leaving the server, whoever asks: masked without export.
    assert masked(emails_of_csv(local, headers))
    assert masked(emails_of_parquet(local, headers))

    # The raw SQL reads are audited as on the server, with the caller's address and token.
    reads = [e for e in workbench.audit.entries(action="pii.raw_read") if e.detail["read"] == "sql"]
    assert len(reads) == 2 and all(e.client == "127.0.0.1" for e in reads)
    assert all(e.detail["remote"] is False for e in reads)
    assert {e.detail["token"] for e in reads} == {"notebook scientist1", "job 7"}


def test_notebook_token_without_a_grant_stays_masked_on_the_server(
    workbench: Workbench, accounts: Accounts, customers: None, local: TestClient
) -> None:
    _, token = workbench.tokens.create_for(
        "admin1", "notebook admin1", token_scopes.NOTEBOOK, timedelta(hours=1)
    )
    assert masked(emails_of_sql(local, {"Authorization": f"Bearer {token}"}))


def test_notebook_token_copied_to_a_laptop_is_masked(
    workbench: Workbench, customers: None, laptop: TestClient
) -> None:
    headers = notebook(workbench)
    assert masked(emails_of_sql(laptop, headers))
    assert masked(emails_of_sample(laptop, headers))


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-For": "127.0.0.1"},
        {"X-Forwarded-For": ""},
        {"x-forwarded-host": "localhost"},
        {"Forwarded": "for=127.0.0.1"},
        {"X-Real-IP": "127.0.0.1"},
        {"Via": "1.1 proxy"},
    ],
)
def test_a_forwarding_header_makes_a_notebook_token_remote(
    workbench: Workbench, customers: None, local: TestClient, header: dict[str, str]
) -> None:
    # A reverse proxy on the host connects from loopback and says who its client is; a forged
    # header claiming loopback must not help either.
    assert masked(emails_of_sql(local, {**notebook(workbench), **header}))


def test_only_the_servers_own_code_tokens_count(
    workbench: Workbench, customers: None, local: TestClient
) -> None:
    # An app's token (its pages serve other people) and a token named like a notebook's but
    # scoped otherwise are remote from the host too.
    app = _code_token(workbench, "app churn", token_scopes.APP)
    assert masked(emails_of_sql(local, app))
    odd = _code_token(workbench, "notebook scientist1", token_scopes.APP)
    assert masked(emails_of_sql(local, odd))


def test_one_of_the_hosts_own_addresses_counts_as_the_server(
    workbench: Workbench, customers: None
) -> None:
    own = sorted(str(a) for a in deps.own_addresses() if not a.is_loopback)
    if not own:
        pytest.skip("this machine has no address besides loopback")
    for client in _client(workbench, (own[0], 51000)):
        assert raw(emails_of_sql(client, notebook(workbench)))


def test_on_server_decision() -> None:
    from starlette.requests import Request

    def request(address: str | None, headers: dict[str, str] | None = None) -> Request:
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/api/v1/sql",
            "headers": raw_headers,
            "client": (address, 1) if address else None,
            "server": ("10.9.8.7", 8700),
        }
        return Request(scope)

    nb = Principal(
        1, "sam", "scientist", "token", scopes=token_scopes.NOTEBOOK, label="notebook sam"
    )
    person = Principal(1, "sam", "scientist", "token")
    session = Principal(1, "sam", "scientist", "session")
    assert deps.on_server(request("127.0.0.1"), nb)
    assert deps.on_server(request("127.8.0.1"), nb)
    assert deps.on_server(request("::1"), nb)
    assert deps.on_server(request("::ffff:127.0.0.1"), nb)
    # The connection's own local address: the host talking to itself.
    assert deps.on_server(request("10.9.8.7"), nb)
    assert not deps.on_server(request("10.9.8.6"), nb)
    assert not deps.on_server(request(None), nb)
    assert not deps.on_server(request("testclient"), nb)
    assert not deps.on_server(request("127.0.0.1", {"X-Forwarded-Proto": "https"}), nb)
    assert not deps.on_server(request("127.0.0.1"), person)
    assert not deps.on_server(request("127.0.0.1"), session)


def test_a_download_cut_off_mid_way_raises_and_leaves_no_file(
    server: RunningServer, accounts: Accounts, tmp_path: Path
) -> None:
    from atelier.errors import AtelierError
    from atelier.sdk.remote import RemoteClient

    folder = tmp_path / "downloads"
    folder.mkdir()
    ws = RemoteClient(server.url, accounts.tokens["scientist"])
    try:
        done = ws.sql_download("SELECT range AS n FROM range(300000)", folder / "n.parquet")
        assert done["rows"] == 300000 and done["format"] == "parquet"
        assert pq.read_table(folder / "n.parquet").num_rows == 300000

        # Rows have gone out when the timeout stops the query: the server drops the
        # connection, the SDK reports the query's error from its history, no file is left.
        endless = "SELECT range AS n FROM range(10000000000)"
        with pytest.raises(AtelierError, match=r"query \d+ stopped: .*timeout"):
            ws.sql_download(endless, folder / "endless.parquet", timeout=1)
        assert sorted(p.name for p in folder.iterdir()) == ["n.parquet"]
    finally:
        ws.close()


def test_an_apps_token_may_not_download(
    workbench: Workbench, customers: None, local: TestClient
) -> None:
    app = _code_token(workbench, "app churn", token_scopes.APP)
    refused = local.post(
        "/api/v1/sql/download", params={"format": "csv"}, json={"sql": SQL}, headers=app
    )
    assert refused.status_code == 403 and "may not reach" in refused.text


def test_training_sets_follow_the_same_decision(
    workbench: Workbench,
    accounts: Accounts,
    customers: None,
    local: TestClient,
    laptop: TestClient,
) -> None:
    workbench.warehouse.run_write(
        lambda c: c.execute(
            "CREATE TABLE bank.contacts AS SELECT id, TIMESTAMP '2024-01-01' AS ts, email "
            "FROM bank.customers; CREATE TABLE bank.labels AS SELECT id, "
            "TIMESTAMP '2024-02-01' AS ts FROM bank.customers"
        ),
        author="admin1",
    )
    admin = Principal(workbench.users.get("admin1").id, "admin1", "admin", "token")
    workbench.pii_tags.confirm(admin, "bank.contacts", "email", "email")
    grants_of(workbench).grant(admin, "scientist1", kind="email", reason="case 12", days=1)
    definitions = {
        "entities": [{"name": "customer", "keys": ["id"]}],
        "views": [
            {
                "name": "contact",
                "entity": "customer",
                "source": "bank.contacts",
                "timestamp": "ts",
                "features": ["email"],
            }
        ],
    }
    applied = local.post(
        "/api/v1/features/apply",
        json={"definitions": definitions, "dry_run": False},
        headers=accounts.headers("scientist"),
    )
    assert applied.status_code == 200, applied.text

    def emails(client: TestClient, headers: dict[str, str]) -> list[str]:
        response = client.post(
            "/api/v1/features/training-set",
            json={"entities": "bank.labels", "features": ["contact:email"], "timestamp": "ts"},
            headers={**headers, "Accept": ARROW_STREAM},
        )
        assert response.status_code == 200, response.text
        table = pa.ipc.open_stream(response.content).read_all()
        return [str(v) for v in table.column("email").to_pylist()]

    assert raw(emails(local, notebook(workbench)))
    assert masked(emails(laptop, notebook(workbench)))
    assert masked(emails(local, accounts.headers("scientist")))
