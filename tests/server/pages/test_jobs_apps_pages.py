"""The jobs and apps pages act through the services: the same checks as the API, and the
same audit entries, with where the request came from."""

from __future__ import annotations

import shlex
import sys
from datetime import timedelta

from atelier.services.auth import Principal, scopes
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, Accounts

SLEEP = shlex.join([sys.executable, "-c", "import time; time.sleep(60)"])
SCRIPT = "import streamlit as st\nst.title('hello')\n"


def person(workbench: Workbench, name: str) -> Principal:
    user = workbench.users.get(name)
    return Principal(user.id, user.name, user.role, "local")


def test_jobs_submitted_and_cancelled_from_the_portal_are_audited(  # type: ignore[no-untyped-def]
    client, accounts: Accounts, workbench: Workbench
) -> None:
    sci = accounts.headers("scientist")
    refused = client.post("/jobs", headers=accounts.headers("viewer"), data={"target": SLEEP})
    assert refused.status_code == 403 and workbench.jobs.list() == []

    made = client.post("/jobs", headers=sci, data={"target": SLEEP}, follow_redirects=False)
    assert made.status_code == 303, made.text
    job_id = int(made.headers["location"].rsplit("/", 1)[1])
    try:
        # Another scientist may not cancel it; the refusal is the service's, audited.
        workbench.users.create("eve", "scientist", PASSWORD)
        eve = {"Authorization": f"Bearer {workbench.tokens.create('eve', 'own', 1)[1]}"}
        assert client.post(f"/jobs/{job_id}/cancel", headers=eve).status_code == 403
        assert not workbench.jobs.get(job_id).final
        done = client.post(f"/jobs/{job_id}/cancel", headers=sci, follow_redirects=False)
        assert done.status_code == 303
        assert workbench.jobs.get(job_id).state == "cancelled"
    finally:
        if not workbench.jobs.get(job_id).final:
            workbench.jobs.cancel(job_id, principal=person(workbench, "scientist1"))
    entries = {
        (e.action, e.actor, e.success): e
        for action in ("job.submit", "job.cancel")
        for e in workbench.audit.entries(limit=20, action=action)
    }
    assert set(entries) == {
        ("job.submit", "scientist1", True),
        ("job.cancel", "eve", False),
        ("job.cancel", "scientist1", True),
    }
    assert {e.client for e in entries.values()} == {"testclient"}


def test_app_pages_read_logs_and_feedback_through_the_service(  # type: ignore[no-untyped-def]
    client, accounts: Accounts, workbench: Workbench
) -> None:
    owner = person(workbench, "scientist1")
    workbench.apps.deploy("hello", SCRIPT, owner, client="test")
    sci = accounts.headers("scientist")

    logs = client.get("/apps/hello/-/logs", headers=sci)
    assert logs.status_code == 200 and "not started yet" in logs.text
    assert 'data-testid="app-logs"' in logs.text
    feedback = client.get("/apps/hello/-/feedback", headers=sci)
    assert feedback.status_code == 200

    # Another scientist sees the app but not its logs (a script may print anything); a
    # viewer, even one it is shared with, gets neither page; nor does a job's token.
    workbench.users.create("eve", "scientist", PASSWORD)
    eve = {"Authorization": f"Bearer {workbench.tokens.create('eve', 'own', 1)[1]}"}
    refused = client.get("/apps/hello/-/logs", headers=eve)
    assert refused.status_code == 403 and "only the owner" in refused.text
    assert "hello" in client.get("/apps/hello/-/feedback", headers=eve).text
    workbench.apps.share("hello", owner, everyone=True)
    viewer = accounts.headers("viewer")
    assert client.get("/apps/hello/-/logs", headers=viewer).status_code == 403
    assert client.get("/apps/hello/-/feedback", headers=viewer).status_code == 403
    _, job_token = workbench.tokens.create_for(
        "scientist1", "job 1", scopes.JOB, timedelta(hours=1)
    )
    job = {"Authorization": f"Bearer {job_token}"}
    assert client.get("/apps/hello/-/logs", headers=job).status_code == 403

    workbench.apps.pause("hello", owner)
    paused = client.get("/apps/hello/-/logs", headers=sci)
    assert paused.status_code == 200 and "paused" in paused.text
    missing = client.get("/apps/nope/-/logs", headers=sci)
    assert missing.status_code == 404
