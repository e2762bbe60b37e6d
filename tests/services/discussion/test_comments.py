"""Comments: who reads and writes them, mentions, edits and deletions, references."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from atelier.backends.metadata import AuditEvent
from atelier.errors import InvalidInput, NotFound, PermissionDenied
from atelier.services.activity.runs import FRESH_SECONDS
from atelier.services.auth import Principal
from tests.services.discussion.conftest import Scene, Statements
from tests.services.tracking.mlflow_env import kept_mlflow_uris


def test_a_non_member_neither_reads_nor_writes_a_private_projects_run(scene: Scene) -> None:
    d, p = scene.wb.discussion, scene.people
    posted = d.post(p["ada"], "run", scene.private_run, "first look at recall")
    assert posted.project == "churn"
    with pytest.raises(PermissionDenied, match="not a member of project 'churn'"):
        d.thread(p["bob"], "run", scene.private_run)
    with pytest.raises(PermissionDenied):
        d.post(p["bob"], "run", scene.private_run, "let me in")
    with pytest.raises(PermissionDenied):
        d.post(p["bob"], "experiment", scene.private_experiment, "and here?")
    with pytest.raises(PermissionDenied):
        d.get(p["bob"], posted.id)
    # The member and an admin read it; the refused post left nothing.
    assert [c.body for c in d.thread(p["ada"], "run", scene.private_run)] == [
        "first look at recall"
    ]
    assert [c.author for c in d.thread(p["root"], "run", scene.private_run)] == ["ada"]


def test_a_viewer_comments_only_on_the_apps_shared_with_them(scene: Scene) -> None:
    d, val = scene.wb.discussion, scene.people["val"]
    assert d.post(val, "app", "demo", "the form is clear").author == "val"
    with pytest.raises(NotFound, match="no app 'secret' is shared with you"):
        d.post(val, "app", "secret", "hello?")
    with pytest.raises(NotFound):
        d.thread(val, "app", "secret")
    with pytest.raises(PermissionDenied, match="viewers only use the apps shared with them"):
        d.post(val, "run", scene.open_run, "I am not supposed to be here")
    with pytest.raises(PermissionDenied):
        d.thread(val, "experiment", scene.open_experiment)


def test_only_the_author_edits_and_the_author_or_an_admin_deletes(scene: Scene) -> None:
    d, p = scene.wb.discussion, scene.people
    mine = d.post(p["ada"], "run", scene.open_run, "draft")
    with pytest.raises(PermissionDenied, match="only its author may edit it"):
        d.edit(p["bob"], mine.id, "hijacked")
    with pytest.raises(PermissionDenied, match="only its author may edit it"):
        d.edit(p["root"], mine.id, "hijacked by an admin")
    with pytest.raises(PermissionDenied, match="only its author or an admin may delete it"):
        d.delete(p["bob"], mine.id)
    edited = d.edit(p["ada"], mine.id, "final")
    assert edited.body == "final" and edited.edited_at is not None
    gone = d.delete(p["root"], mine.id, client="test")
    assert gone.deleted and gone.body == "" and gone.deleted_by == "root"
    with scene.wb.db.session() as session:
        audited = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "comment.delete")
        ).all()
    assert [(e.actor, e.target) for e in audited] == [("root", str(mine.id))]
    with pytest.raises(InvalidInput, match="was deleted"):
        d.edit(p["ada"], mine.id, "back from the dead")


def test_a_mention_reaches_the_mentioned_users_feed_only_if_they_may_see(scene: Scene) -> None:
    wb, p = scene.wb, scene.people
    wb.discussion.post(p["bob"], "experiment", scene.open_experiment, "@ada look at run:abc1")
    ada_feed = wb.activity.feed(p["ada"])
    mention = next(i for i in ada_feed if i.kind == "mention")
    assert mention.actor == "bob" and "mentioned you" in mention.summary
    assert mention.link == f"/experiments/{scene.open_experiment}"
    assert not [i for i in wb.activity.feed(p["root"]) if i.kind == "mention"]
    # bob is not in churn: mentioning him there tells him nothing, and he sees none of it.
    secret = wb.discussion.post(p["ada"], "run", scene.private_run, "@bob secret plans")
    assert secret.mentions == ()
    assert not [i for i in wb.activity.feed(p["bob"]) if i.project == "churn"]
    with pytest.raises(PermissionDenied):
        wb.activity.project_feed("churn", p["bob"])
    assert any(i.kind == "comment" for i in wb.activity.project_feed("churn", p["ada"]))
    # A viewer mentioned on a run (which viewers cannot see) is not told either.
    assert wb.discussion.post(p["bob"], "run", scene.open_run, "@val hi").mentions == ()


def test_comments_are_for_people_not_code(scene: Scene) -> None:
    ada = scene.people["ada"]
    code = Principal(
        ada.user_id,
        "ada",
        "scientist",
        "token",
        scopes=frozenset({"tracking"}),
        label="notebook ada",
    )
    with pytest.raises(PermissionDenied, match="for code"):
        scene.wb.discussion.post(code, "run", scene.open_run, "from a kernel")
    with pytest.raises(PermissionDenied, match="for code"):
        scene.wb.activity.feed(code)


def test_bad_subjects_and_bodies_are_refused_in_one_line(scene: Scene) -> None:
    d, ada = scene.wb.discussion, scene.people["ada"]
    with pytest.raises(InvalidInput, match="subject kind 'notebook' is not one of"):
        d.post(ada, "notebook", "x", "hi")
    with pytest.raises(InvalidInput, match="is not valid"):
        d.post(ada, "table", "../etc/passwd", "hi")
    with pytest.raises(InvalidInput, match="needs some text"):
        d.post(ada, "run", scene.open_run, "   ")
    with pytest.raises(InvalidInput, match="too long"):
        d.post(ada, "run", scene.open_run, "x" * 10_001)
    with pytest.raises(NotFound, match="no run"):
        d.post(ada, "run", "0" * 32, "hi")
    with pytest.raises(NotFound):
        d.post(ada, "table", "bank.nothing_here", "hi")


def test_feedback_on_an_app_reaches_its_owner_only(scene: Scene) -> None:
    from datetime import UTC, datetime

    from atelier.services.apps import FeedbackEntry

    wb, p = scene.wb, scene.people
    app = wb.apps.registry.get("demo")
    entry = FeedbackEntry(
        1,
        "demo",
        "pred-1",
        "churn",
        1,
        "wrong",
        "yes",
        "off by one",
        "val",
        datetime.now(UTC),
        {},
        None,
        None,
    )
    wb.activity.feedback_given(app, entry)
    got = [i for i in wb.activity.feed(p["ada"]) if i.kind == "app.feedback"]
    assert got and got[0].actor == "val" and "off by one" in got[0].summary
    assert not [i for i in wb.activity.feed(p["bob"]) if i.kind == "app.feedback"]


def test_runs_started_in_my_projects_reach_my_feed_once(scene: Scene) -> None:
    wb, p = scene.wb, scene.people
    runs = [i for i in wb.activity.project_feed("churn", p["ada"]) if i.kind == "run"]
    assert [(i.subject_id, i.actor) for i in runs] == [(scene.private_run, "ada")]
    assert runs[0].link == f"/discussion/run/{scene.private_run}"
    assert "in experiment churn-trials" in runs[0].summary
    again = [i for i in wb.activity.feed(p["ada"]) if i.kind == "run"]
    assert [i.id for i in again] == [runs[0].id]
    # Not a member: none of the project's runs, even if they were read into activity.
    assert not [i for i in wb.activity.feed(p["bob"]) if i.kind == "run"]


def test_a_threads_mentions_are_read_in_one_query(scene: Scene) -> None:
    wb, p = scene.wb, scene.people
    d = wb.discussion
    d.post(p["ada"], "app", "secret", "@bob one comment")
    for n in range(6):
        d.post(p["ada"], "app", "demo", f"@bob @root number {n}" if n % 2 else f"plain {n}")

    def read(app: str) -> tuple[int, list[tuple[str, ...]]]:
        with Statements(wb.db.engine) as selects:
            thread = d.thread(p["ada"], "app", app)
        return selects.count, [c.mentions for c in thread]

    short, long = read("secret"), read("demo")
    assert short[1] == [("bob",)]
    assert long[1][-6:] == [(), ("bob", "root"), (), ("bob", "root"), (), ("bob", "root")]
    assert short[0] == long[0]


def test_feeds_ask_mlflow_for_new_runs_at_most_once_in_a_while(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    wb, ada = scene.wb, scene.people["ada"]
    asked: list[str] = []
    for method in ("search_experiments", "search_runs"):
        original = getattr(MlflowClient, method)

        def counted(self: MlflowClient, *args: Any, _m: Any = original, **kw: Any) -> Any:
            asked.append(_m.__name__)
            return _m(self, *args, **kw)

        monkeypatch.setattr(MlflowClient, method, counted)
    now = [time.monotonic() + FRESH_SECONDS]  # every project is due for a look
    monkeypatch.setattr(wb.activity.runs, "clock", lambda: now[0])

    def runs() -> list[str]:
        return [i.subject_id for i in wb.activity.project_feed("churn", ada) if i.kind == "run"]

    before = runs()
    assert asked == ["search_experiments", "search_runs"]
    # Read again and again, by the project's feed and ada's own: MLflow is not asked.
    asked.clear()
    for _ in range(3):
        assert runs() == before
        wb.activity.feed(ada)
    assert asked == []
    with kept_mlflow_uris():
        new = wb.models.client.create_run(
            scene.private_experiment, tags={"mlflow.user": "ada"}
        ).info.run_id
    now[0] += FRESH_SECONDS / 2
    runs()
    assert asked == []
    # Once the last look is old enough, the next read finds the new run.
    now[0] += FRESH_SECONDS / 2
    assert runs() == [new, *before]
    assert asked == ["search_experiments", "search_runs"]
