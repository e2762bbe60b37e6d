"""Several servers on several machines: a running job's log and samples are written on its
machine (they reach the bucket when it ends), so a server of another machine passes the
request on to a server of the job's machine. Here that server is a stand-in that echoes what
it was sent, at the address a live ``server:`` lease of the job's machine names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from atelier.backends.metadata import JobRecord
from atelier.server.gateway.proxy import FORWARDED_HEADER
from atelier.services.leases import SERVER_LEASE, Leases
from atelier.services.workbench import Workbench
from tests.conftest import Accounts
from tests.server.gateway.servers import Seen, free_port, serve, upstream_app

OTHER = "node-b"


@dataclass
class Other:
    address: str
    job: int


@pytest.fixture
def other(workbench: Workbench) -> Iterator[Other]:
    """A job running on machine ``node-b``, whose server answers at ``address``."""
    port = free_port()
    address = f"http://127.0.0.1:{port}"
    with workbench.db.session() as session:
        record = JobRecord(
            name="train.py",
            kind="script",
            profile="small",
            backend="local",
            command=["python", "train.py"],
            state="running",
            workdir=str(workbench.workspace.root),
            submitted_by="scientist1",
            host=OTHER,
        )
        session.add(record)
        session.flush()
        job = record.id
    leases = Leases(workbench.db)
    holder = f"{OTHER}:4242:ab"
    assert leases.acquire(SERVER_LEASE + holder, holder, address=address)
    assert leases.acquire(f"job:{job}", f"{OTHER}:4243:cd")
    with serve(upstream_app(Seen()), port=port):
        yield Other(address, job)


def _mark(workbench: Workbench) -> str:
    return workbench.leases.holder


@pytest.mark.parametrize("path", ["logs?offset=7", "samples"])
def test_a_running_jobs_files_are_asked_of_its_machines_server(
    client: Any, workbench: Workbench, accounts: Accounts, other: Other, path: str
) -> None:
    answer = client.get(f"/api/v1/jobs/{other.job}/{path}", headers=accounts.headers("scientist"))
    assert answer.status_code == 200, answer.text
    seen = answer.json()  # what the job's machine's server was sent
    assert seen["path"] == f"/api/v1/jobs/{other.job}/{path.split('?')[0]}"
    assert seen["query"] == path.partition("?")[2]
    # It checks the caller again: the same credentials, marked as passed on.
    assert seen["headers"]["authorization"] == accounts.headers("scientist")["Authorization"]
    assert seen["headers"][FORWARDED_HEADER] == _mark(workbench)


def test_the_caller_is_checked_here_before_anything_is_passed_on(
    client: Any, accounts: Accounts, other: Other
) -> None:
    for headers in (accounts.headers("viewer"), {}, {"Authorization": "Bearer atl_1_nope"}):
        answer = client.get(f"/api/v1/jobs/{other.job}/logs", headers=headers)
        assert answer.status_code in (401, 403), answer.text
        assert "path" not in answer.json()


def test_a_request_passed_on_once_is_answered_not_passed_on(
    client: Any, accounts: Accounts, other: Other
) -> None:
    headers = {**accounts.headers("scientist"), FORWARDED_HEADER: "node-c:1:ef"}
    answer = client.get(f"/api/v1/jobs/{other.job}/logs", headers=headers)
    assert answer.status_code == 409
    assert OTHER in answer.json()["detail"] and other.address in answer.json()["detail"]


def test_without_a_server_on_its_machine_or_once_ended_the_job_is_read_here(
    client: Any, workbench: Workbench, accounts: Accounts, other: Other
) -> None:
    scientist = accounts.headers("scientist")
    leases = Leases(workbench.db)
    for lease in leases.live(SERVER_LEASE + OTHER + ":"):
        leases.release(lease.name, lease.holder)
    answer = client.get(f"/api/v1/jobs/{other.job}/logs", headers=scientist)
    assert answer.status_code == 200 and answer.json() == {
        "text": "",
        "offset": 0,
        "state": "running",
        "final": False,
    }
    holder = f"{OTHER}:4242:ab"
    assert leases.acquire(SERVER_LEASE + holder, holder, address=other.address)
    with workbench.db.session() as session:
        record = session.get(JobRecord, other.job)
        assert record is not None
        record.state = "succeeded"
    answer = client.get(f"/api/v1/jobs/{other.job}/logs", headers=scientist)
    assert answer.status_code == 200 and answer.json()["final"] is True
