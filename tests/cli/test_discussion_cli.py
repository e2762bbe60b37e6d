"""`atelier comments`, `atelier activity` and `atelier webhooks` as users run them, on the
workspace (embedded) and from a laptop folder against a real server (remote): the service's
refusals (a non-member on a private project's run, a viewer, a token made for code) reach the
terminal as one line and exit code 1, and a refused command leaves nothing behind."""

from __future__ import annotations

import json
import warnings
from datetime import timedelta

from atelier.backends.metadata import AppRecord, AppShare, ProjectMember, ProjectRecord, User
from atelier.services.auth import scopes
from tests.cli.conftest import Cli
from tests.cli.helpers import one_line_error
from tests.conftest import PASSWORD
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS, kept_mlflow_uris


def _arrange(cli: Cli) -> tuple[str, dict[str, str]]:
    """Project churn (sam its owner) with an experiment and a run, app demo of sam's shared
    with vic, and eve, a scientist outside churn. Returns the run id and extra tokens."""
    wb = cli.workbench()
    try:
        wb.users.create("eve", "scientist", PASSWORD)
        tokens = {
            "eve": wb.tokens.create("eve", "cli", 1)[1],
            "job": wb.tokens.create_for("sam", "job 7", scopes.WORK, timedelta(hours=1))[1],
        }
        with wb.db.session() as session:
            ids = {u.name: u.id for u in session.query(User).all()}
            project = ProjectRecord(name="churn", path=str(cli.root / "projects" / "churn"))
            session.add(project)
            session.flush()
            session.add(ProjectMember(project_id=project.id, user_id=ids["sam"], role="owner"))
            app = AppRecord(name="demo", kind="streamlit", title="demo", owner="sam")
            session.add(app)
            session.flush()
            session.add(AppShare(app_id=app.id, user_id=ids["vic"]))
        with warnings.catch_warnings(), kept_mlflow_uris():
            for spec in MLFLOW_WARNINGS:
                warnings.filterwarnings("ignore", spec.removeprefix("ignore:").split(":")[0])
            client = wb.models.client
            experiment = client.create_experiment(
                "churn-trials", tags={"atelier.project": "churn", "atelier.owner": "sam"}
            )
            run = client.create_run(experiment, tags={"mlflow.user": "sam"}).info.run_id
    finally:
        wb.close()
    return run, tokens


def test_comments_activity_and_webhooks(cli: Cli) -> None:
    """One test for the three groups: a server and an MLflow store are started once."""
    run, tokens = _arrange(cli)
    _comments_and_activity(cli, run, tokens)
    _webhooks(cli)


def _comments_and_activity(cli: Cli, run: str, tokens: dict[str, str]) -> None:
    sam, ada, vic = cli.as_("sam"), cli.as_("ada"), cli.as_("vic")
    eve = {"ATELIER_TOKEN": tokens["eve"]}

    assert sam("comments", "list", "run", run).stdout.strip() == f"No comments on run {run}."
    added = sam("comments", "add", "run", run, f"@ada first look at recall, see run:{run}")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == f"Comment 1 added on run {run} (mentioned: ada)"
    piped = sam("comments", "add", "run", run, "-", stdin="two lines\nfrom a pipe\n")
    assert piped.stdout.strip() == f"Comment 2 added on run {run}", piped.stderr
    listed = sam("comments", "list", "run", run)
    lines = listed.stdout.splitlines()
    assert (
        lines[0].startswith("#1     sam ")
        and lines[1] == f"    @ada first look at recall, see run:{run}"
    )
    assert lines[3:] == ["    two lines", "    from a pipe"]
    thread = json.loads(sam("comments", "list", "run", run, "--json").stdout)
    assert [(c["id"], c["project"], c["mentions"]) for c in thread] == [
        (1, "churn", ["ada"]),
        (2, "churn", []),
    ]
    assert f'href="/discussion/run/{run}"' in thread[0]["html"]

    # Bad input, one line each, nothing written.
    assert "subject kind 'wiki' is not one of" in one_line_error(
        sam("comments", "add", "wiki", "x", "hi")
    )
    assert "a comment needs some text" in one_line_error(
        sam("comments", "add", "run", run, "-", stdin="  \n")
    )
    assert f"no run 'nope{run}'" in one_line_error(sam("comments", "list", "run", f"nope{run}"))

    # A non-member neither reads nor writes the private project's discussion.
    refused = sam("comments", "add", "run", run, "let me in", env=eve)
    assert refused.returncode == 1
    assert "eve is not a member of project 'churn'" in one_line_error(refused)
    assert "not a member" in one_line_error(sam("comments", "list", "run", run, env=eve))
    assert "not a member" in one_line_error(sam("comments", "delete", "2", env=eve))
    assert "not a member" in one_line_error(sam("activity", "--project", "churn", env=eve))
    # A viewer comments only on the apps shared with them; code tokens not at all.
    viewer = vic("comments", "add", "run", run, "hello?")
    assert viewer.returncode == 1
    assert "viewers only use the apps shared with them" in one_line_error(viewer)
    shared = vic("comments", "add", "app", "demo", "the form is clear")
    assert shared.stdout.strip() == "Comment 3 added on app demo", shared.stderr
    assert "no app 'secret' is shared with you" in one_line_error(
        vic("comments", "list", "app", "secret")
    )
    code = one_line_error(
        sam("comments", "add", "run", run, "from a job", env={"ATELIER_TOKEN": tokens["job"]})
    )
    assert "job 7" in code and "for code" in code
    # The refusals left the thread as it was.
    assert len(json.loads(ada("comments", "list", "run", run, "--json").stdout)) == 2

    # Only the author or an admin deletes; a deleted comment keeps its place.
    assert "only its author or an admin" in one_line_error(sam("comments", "delete", "3"))
    assert ada("comments", "delete", "1").stdout.strip() == "Deleted comment 1"
    assert "[deleted by ada]" in sam("comments", "list", "run", run).stdout.splitlines()[0]
    assert "no comment 99" in one_line_error(sam("comments", "delete", "99"))

    # Activity: ada was mentioned; sam (the app's owner) heard of vic's comment; the project's.
    feed = json.loads(ada("activity", "--json").stdout)
    assert ("mention", "sam") in [(i["kind"], i["actor"]) for i in feed]
    mine = sam("activity")
    assert mine.returncode == 0, mine.stderr
    assert "vic commented on app demo: the form is clear  [/apps/demo]" in mine.stdout
    project = json.loads(sam("activity", "--project", "churn", "--json").stdout)
    assert {i["project"] for i in project} == {"churn"}
    assert any(i["summary"].startswith(f"sam commented on run {run}") for i in project)
    assert len(json.loads(sam("activity", "-p", "churn", "-n", "1", "--json").stdout)) == 1
    bad_limit = sam("activity", "--limit", "0")
    assert bad_limit.returncode == 2 and "--limit" in one_line_error(bad_limit)


def _webhooks(cli: Cli) -> None:
    sam, ada = cli.as_("sam"), cli.as_("ada")
    assert sam("webhooks", "list").stdout.strip().startswith("No webhooks.")
    internal = one_line_error(sam("webhooks", "add", "http://127.0.0.1:8700/api/v1/users"))
    assert "internal address" in internal
    assert "unknown event bogus" in one_line_error(
        sam("webhooks", "add", "https://93.184.216.34/x", "--event", "bogus")
    )
    # A public address (a literal: nothing is resolved or sent while the test runs).
    made = sam(
        "webhooks", "add", "https://93.184.216.34/hooks/T0KEN", "-e", "mention", "-e", "comment"
    )
    assert made.returncode == 0, made.stderr
    out = made.stdout.splitlines()
    assert out[0] == "Created webhook 1 to https://93.184.216.34/… (comment, mention)"
    secret = out[1].removeprefix("  secret: ")
    assert secret.startswith("whsec_") and len(secret) > 30

    # Listed as its host only, never with its secret (shown that once).
    listed = sam("webhooks", "list")
    assert listed.stdout.startswith("   1  https://93.184.216.34/…"), listed.stderr
    assert "comment,mention" in listed.stdout
    assert secret not in listed.stdout and "T0KEN" not in listed.stdout
    hooks = json.loads(sam("webhooks", "list", "--json").stdout)
    assert [h["id"] for h in hooks] == [1] and "secret" not in hooks[0]

    # Another user's webhook is as unknown as a missing one; a viewer has their own.
    vic = cli.as_("vic")
    assert "no webhook 1 of vic's" in one_line_error(vic("webhooks", "delete", "1"))
    assert vic("webhooks", "list").stdout.strip().startswith("No webhooks.")
    assert sam("webhooks", "delete", "1").stdout.strip() == "Deleted webhook 1"
    assert "no webhook 1 of ada's" in one_line_error(ada("webhooks", "delete", "1"))
    assert json.loads(sam("webhooks", "list", "--json").stdout) == []
