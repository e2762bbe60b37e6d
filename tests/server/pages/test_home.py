"""The home page is the person's own: the tables they queried or uploaded, their projects,
jobs, apps and the feedback waiting on them; a colleague's work never shows; a viewer sees the
apps shared with them and nothing else."""

from __future__ import annotations

import re

import pyarrow as pa

from atelier.backends.metadata.models import (
    AppFeedback,
    AppRecord,
    AppShare,
    JobRecord,
    ProjectMember,
    ProjectRecord,
)
from atelier.services.auth import Principal
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, Accounts

HTML = {"Accept": "text/html,application/xhtml+xml"}


def who(wb: Workbench, name: str) -> Principal:
    user = wb.users.get(name)
    return Principal(user.id, user.name, user.role, "token")


def section(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">(.*?)</section>', html, re.S)
    assert found, f"no section {testid}"
    return found.group(1)


def _work(wb: Workbench) -> None:
    """scientist1's and bob's work, written by the services or as the metadata rows they
    write (jobs and apps need processes this test does not need)."""
    wb.users.create("bob", "scientist", PASSWORD)
    me, bob = who(wb, "scientist1"), who(wb, "bob")

    wb.ingest.upload(pa.table({"id": [1, 2]}), "mine_upload", principal=me)
    wb.ingest.upload(pa.table({"id": [1]}), "bobs_table", principal=bob)
    wb.query.run("SELECT count(*) FROM bobs_table", principal=me).to_arrow()
    wb.query.run("SELECT * FROM main.bobs_table, main.mine_upload", principal=bob).to_arrow()
    with wb.db.session() as session:
        for name, owner in (("churn-sam", "scientist1"), ("secret", "bob")):
            record = ProjectRecord(name=name, path=f"/nowhere/{name}", created_by=owner)
            session.add(record)
            session.flush()
            user = wb.users.get(owner)
            session.add(ProjectMember(project_id=record.id, user_id=user.id, role="owner"))
        for name, owner in (("train churn", "scientist1"), ("bob's job", "bob")):
            session.add(
                JobRecord(
                    name=name, kind="command", profile="small", backend="local",
                    command=["true"], state="succeeded", workdir="/nowhere", submitted_by=owner,
                )
            )  # fmt: skip
        apps = {}
        for name, owner in (("churn-demo", "scientist1"), ("bob-demo", "bob")):
            apps[name] = AppRecord(name=name, kind="model", title=f"{name} title", owner=owner)
            session.add(apps[name])
        session.flush()
        viewer = wb.users.get("viewer1")
        session.add(AppShare(app_id=apps["churn-demo"].id, user_id=viewer.id))
        for app, verdict, comment in (
            ("churn-demo", "wrong", "Customer 7 never left"),
            ("churn-demo", "right", ""),
            ("bob-demo", "wrong", "bob's secret comment"),
        ):
            session.add(
                AppFeedback(
                    app_id=apps[app].id, prediction_id="p1", model="churn", model_version=1,
                    verdict=verdict, comment=comment, user="viewer1",
                )
            )  # fmt: skip
        session.commit()


def test_home_shows_ones_own_work_and_viewers_their_apps(
    client, accounts: Accounts, workbench: Workbench
) -> None:  # type: ignore[no-untyped-def]
    _work(workbench)
    html = client.get("/", headers={**accounts.headers("scientist"), **HTML}).text
    tables = section(html, "home-tables")
    # Queried (bobs_table) and uploaded (mine_upload); each links to its page.
    assert 'href="/data/tables/main.bobs_table"' in tables and "queried" in tables
    assert 'href="/data/tables/main.mine_upload"' in tables and "uploaded" in tables
    projects = section(html, "home-projects")
    assert "churn-sam" in projects and "secret" not in projects
    jobs = section(html, "home-jobs")
    assert "train churn" in jobs and "bob&#39;s job" not in jobs and "succeeded" in jobs
    apps = section(html, "home-apps")
    assert "churn-demo title" in apps and "bob-demo" not in apps
    feedback = section(html, "home-feedback")
    assert "2 entries, 1 marked wrong" in feedback and "Customer 7 never left" in feedback
    assert 'href="/apps/churn-demo/-/feedback"' in feedback
    assert "bob&#39;s secret comment" not in html and "bob-demo" not in html
    # MLflow is not running in-process: the page says so rather than waiting for it.
    assert "once experiment tracking runs" in section(html, "home-runs")
    assert "{# activity #}" not in html  # the slot is a template comment

    # A viewer sees the apps shared with them, nothing of anyone's work.
    html = client.get("/", headers={**accounts.headers("viewer"), **HTML}).text
    shared = section(html, "home-shared-apps")
    assert 'href="/apps/churn-demo"' in shared and "bob-demo" not in html
    for private in ("home-tables", "home-projects", "home-jobs", "home-feedback", "Customer 7"):
        assert private not in html
    # Another viewer, with nothing shared, is told so.
    workbench.users.create("vic", "viewer", PASSWORD)
    token = workbench.tokens.create("vic", "t", 1)[1]
    other = client.get("/", headers={"Authorization": f"Bearer {token}", **HTML}).text
    assert "No app is shared with you yet" in other and "churn-demo" not in other
