"""``atelier comments`` (list, add, delete), ``atelier activity`` and ``atelier webhooks``
(list, add, delete): the discussion of tables, experiments, runs, models and apps from a
terminal.

Every command goes through the SDK client, as the portal and the API do: with
``ATELIER_URL``/``ATELIER_TOKEN`` set it acts on the server as that user, else on the local
workspace. Who may read or write a subject's comments is the service's rule (a project's
discussion is its members'; a viewer's, the apps shared with them), so the commands admit
every role and leave the refusal, and its words, to it. Tokens made for code are refused:
a comment is a person speaking.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from atelier.cli.options import client_for, workspace_option
from atelier.sdk.rules import EVERYONE

KIND_HELP = (
    "KIND is table (SCHEMA.TABLE), experiment (its id), run (its id), model (NAME, or "
    "NAME/VERSION for a model version) or app (its name)."
)


def _when(value: Any) -> str:
    """``2026-12-06 05:00`` from an ISO timestamp (what both clients give)."""
    return str(value or "")[:16].replace("T", " ")


def _json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


# -- comments --------------------------------------------------------------------------


@click.group()
def comments() -> None:
    """Comments on tables, experiments, runs, model versions and apps.

    Write @NAME to mention someone (they are told, if they may see the subject) and
    run:ID, table:SCHEMA.TABLE@VERSION or model:NAME/VERSION to reference work: the portal
    shows them as links.
    """


@comments.command("list", epilog=KIND_HELP)
@workspace_option
@click.argument("kind")
@click.argument("subject_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_comments(workspace: str | None, kind: str, subject_id: str, as_json: bool) -> None:
    """The comments on KIND ID, oldest first."""
    with client_for(workspace, roles=EVERYONE, doing="read comments") as client:
        thread = client.comments(kind, subject_id)
    if as_json:
        _json(thread)
        return
    if not thread:
        click.echo(f"No comments on {kind} {subject_id}.")
    for c in thread:
        if c["deleted_at"]:
            click.echo(
                f"#{c['id']:<5} {c['author']:<16} {_when(c['created_at'])}  "
                f"[deleted by {c['deleted_by']}]"
            )
            continue
        edited = "  (edited)" if c["edited_at"] else ""
        click.echo(f"#{c['id']:<5} {c['author']:<16} {_when(c['created_at'])}{edited}")
        for line in c["body"].splitlines():
            click.echo(f"    {line}".rstrip())


@comments.command("add", epilog=KIND_HELP)
@workspace_option
@click.argument("kind")
@click.argument("subject_id", metavar="ID")
@click.argument("text")
def add_comment(workspace: str | None, kind: str, subject_id: str, text: str) -> None:
    """Comment TEXT on KIND ID (TEXT `-`: read it from standard input)."""
    if text == "-":
        text = sys.stdin.read()
    with client_for(workspace, roles=EVERYONE, doing="write comments") as client:
        comment = client.comment(kind, subject_id, text)
    told = comment["mentions"]
    mentioned = f" (mentioned: {', '.join(told)})" if told else ""
    click.echo(
        f"Comment {comment['id']} added on {comment['subject_kind']} "
        f"{comment['subject_id']}{mentioned}"
    )


@comments.command("delete")
@workspace_option
@click.argument("comment_id", type=int)
def delete_comment(workspace: str | None, comment_id: int) -> None:
    """Delete comment COMMENT_ID (yours; an admin may delete anyone's)."""
    with client_for(workspace, roles=EVERYONE, doing="delete comments") as client:
        client.discussion.delete(comment_id)
    click.echo(f"Deleted comment {comment_id}")


# -- activity --------------------------------------------------------------------------


@click.command()
@workspace_option
@click.option(
    "--project",
    "-p",
    metavar="NAME",
    help="One project's activity (its members and admins) instead of your own feed.",
)
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(1, 200),
    default=20,
    show_default=True,
    help="How many events.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def activity(workspace: str | None, project: str | None, limit: int, as_json: bool) -> None:
    """Your activity feed, newest first (a project's with --project).

    Comments and mentions, runs, new table versions, model registrations and alias moves,
    feedback on apps: what you may see of them."""
    with client_for(workspace, roles=EVERYONE, doing="read activity") as client:
        items = client.activity(project, limit=limit)
    if as_json:
        _json(items)
        return
    if not items:
        click.echo(f"No activity in project {project}." if project else "No activity yet.")
    for item in items:
        click.echo(f"{_when(item['at'])}  {item['summary']}  [{item['link']}]")


# -- webhooks --------------------------------------------------------------------------


@click.group()
def webhooks() -> None:
    """Your webhooks: a signed POST to a URL for each new event of your activity feed."""


@webhooks.command("list")
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_webhooks(workspace: str | None, as_json: bool) -> None:
    """List your webhooks (URLs are shown as their host: the path may be a secret)."""
    with client_for(workspace, roles=EVERYONE, doing="manage webhooks") as client:
        listed = client.discussion.webhooks()
    if as_json:
        _json(listed)
        return
    if not listed:
        click.echo("No webhooks. Add one with `atelier webhooks add URL`.")
    for hook in listed:
        events = ",".join(hook["events"]) or "all events"
        click.echo(f"{hook['id']:>4}  {hook['url']:<40} {events:<24} {_when(hook['created_at'])}")


@webhooks.command("add")
@workspace_option
@click.argument("url")
@click.option(
    "--event",
    "-e",
    "events",
    multiple=True,
    metavar="KIND",
    help="Send only these kinds of events (repeat; default: all): comment, mention, run, "
    "table.version, model.register, model.alias, app.feedback.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the secret).")
def add_webhook(workspace: str | None, url: str, events: tuple[str, ...], as_json: bool) -> None:
    """Send your activity to URL (https://, or http://). Its signing secret is shown only
    this once: keep it to check each delivery's X-Atelier-Signature header."""
    with client_for(workspace, roles=EVERYONE, doing="manage webhooks") as client:
        hook = client.discussion.add_webhook(url, list(events))
    if as_json:
        _json(hook)
        return
    sent = ", ".join(hook["events"]) or "all events"
    click.echo(f"Created webhook {hook['id']} to {hook['url']} ({sent})")
    click.echo(f"  secret: {hook['secret']}")
    click.echo("  It is shown only this once: keep it to check X-Atelier-Signature.")


@webhooks.command("delete")
@workspace_option
@click.argument("webhook_id", type=int)
def delete_webhook(workspace: str | None, webhook_id: int) -> None:
    """Delete webhook WEBHOOK_ID (its deliveries not yet sent are dropped)."""
    with client_for(workspace, roles=EVERYONE, doing="manage webhooks") as client:
        client.discussion.remove_webhook(webhook_id)
    click.echo(f"Deleted webhook {webhook_id}")


def register(cli: click.Group) -> None:
    cli.add_command(comments)
    cli.add_command(activity)
    cli.add_command(webhooks)
