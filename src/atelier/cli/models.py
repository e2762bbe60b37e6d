"""``atelier models``: the model registry (register a run's model, aliases, model cards).

Each command works through the SDK client (:func:`~atelier.cli.options.client_for`): on the
workspace, or against ``ATELIER_URL`` with ``ATELIER_TOKEN`` from anywhere. As the API, it is
for scientists and admins (viewers cannot see runs), and a code token needs its
``tracking`` scope; the registry service checks who may change a model or move an alias.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from atelier.cli.options import client_for, workspace_option
from atelier.sdk.rules import BUILDERS

#: What a job's or notebook's token needs for these commands (as the API's routes).
SCOPES = ("tracking",)


@click.group()
def models() -> None:
    """Registered models: register from a run, aliases, model cards, container images."""


@models.command("register")
@workspace_option
@click.argument("run_id")
@click.option("--name", "-n", required=True, help="The registered model's name.")
@click.option("--alias", "-a", help="Point this alias (e.g. champion) at the new version.")
@click.option("--model", "-m", help="Which of the run's logged models, when it logged several.")
@click.option("--description", "-d", help="What this version is.")
def register_model(
    workspace: str | None,
    run_id: str,
    name: str,
    alias: str | None,
    model: str | None,
    description: str | None,
) -> None:
    """Register the model that run RUN_ID logged as a new version of --name."""
    with client_for(workspace, roles=BUILDERS, scopes=SCOPES, doing="register models") as client:
        version = client.models.register(
            run_id, name, alias=alias, model=model, description=description
        )
    aliases = f" ({', '.join(version['aliases'])})" if version["aliases"] else ""
    click.echo(f"Registered {version['name']} version {version['version']}{aliases}")


@models.command("list")
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_models(workspace: str | None, as_json: bool) -> None:
    """List registered models with their latest version and aliases."""
    with client_for(workspace, roles=BUILDERS, scopes=SCOPES, doing="list models") as client:
        found = client.models.list()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo("No registered models: register one with `atelier models register`.")
        return
    for m in found:
        aliases = ", ".join(f"{a}→{v}" for a, v in sorted(m["aliases"].items()))
        click.echo(
            f"{m['name']:<32} v{m['latest_version'] or '—':<5} {m['registered_by'] or '—':<16} "
            f"{aliases}"
        )


@models.command("alias")
@workspace_option
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=click.IntRange(1), required=False)
@click.option("--remove", is_flag=True, help="Remove ALIAS instead.")
def alias(workspace: str | None, name: str, alias: str, version: int | None, remove: bool) -> None:
    """Point ALIAS (e.g. champion) of model NAME at VERSION (or --remove it)."""
    if not remove and version is None:
        raise click.UsageError("give the VERSION the alias points at (or --remove)")
    with client_for(workspace, roles=BUILDERS, scopes=SCOPES, doing="move aliases") as client:
        if remove:
            client.models.delete_alias(name, alias)
            click.echo(f"Removed alias {alias} of {name}")
            return
        assert version is not None
        client.models.set_alias(name, alias, version)
    click.echo(f"{name}@{alias} → version {version}")


@models.command("show")
@workspace_option
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True, help="Print the whole card as JSON.")
def show(workspace: str | None, reference: str, as_json: bool) -> None:
    """Show the model card of REFERENCE: NAME@alias, NAME/VERSION or NAME (the latest)."""
    with client_for(workspace, roles=BUILDERS, scopes=SCOPES, doing="read model cards") as client:
        card = client.models.card(reference)
        image = client.models.image(f"{card['name']}/{card['version']}")
    if as_json:
        click.echo(json.dumps({**card, "image": image}, indent=2))
        return
    for line in card_lines(card) + image_lines(image):
        click.echo(line)


def image_lines(image: dict[str, Any]) -> list[str]:
    """The container image of a version: built, tested, pushed (nothing when never built)."""
    built, tested, pushed = image.get("image"), image.get("test"), image.get("push")
    if not built:
        return []
    lines = [
        "\nContainer image:",
        f"  {built['image']}  {_size(built['size'])}  {built['image_id'][:19]}  built by "
        f"{built['built_by']} at {built['built_at']}",
    ]
    if tested:
        verdict = "passed" if tested["passed"] else "FAILED"
        earlier = "" if tested["image_id"] == built["image_id"] else " (an earlier build)"
        lines.append(
            f"  container test {verdict} at {tested['tested_at']}{earlier}: "
            f"{tested['records']} records{_sampled(tested)}, latency p50 "
            f"{tested.get('latency_ms_p50')} ms"
        )
    else:
        lines.append("  not tested: atelier models test-container")
    if pushed:
        lines.append(f"  pushed to {pushed['target']} by {pushed['pushed_by']}")
    return lines


def _sampled(tested: dict[str, Any]) -> str:
    """`` (2 of the input example, 1 recent prediction)``: where a container test's records
    came from (tests recorded before it was kept say nothing)."""
    return f" ({tested['sampled']})" if tested.get("sampled") else ""


def card_lines(card: dict[str, Any]) -> list[str]:
    aliases = f"  ({', '.join(card['aliases'])})" if card["aliases"] else ""
    lines = [
        f"{card['name']} version {card['version']}{aliases}",
        f"  registered by {card['registered_by'] or '—'} at {card['created_at'] or '—'}",
        f"  run {card['run_id'] or '—'}"
        + (f" ({card['run_name']})" if card.get("run_name") else ""),
    ]
    if card.get("description"):
        lines.append(f"  {card['description']}")
    signature = card.get("signature") or {}
    if signature.get("inputs"):
        lines.append("\nInputs:")
        lines += [f"  {c.get('name', '—'):<32} {c.get('type', '')}" for c in signature["inputs"]]
    if card.get("metrics"):
        lines.append("\nMetrics:")
        lines += [f"  {k:<32} {v:.6g}" for k, v in card["metrics"].items()]
    if card.get("data_versions"):
        lines.append("\nData versions:")
        lines += [f"  {d['table']:<32} version {d['version']}" for d in card["data_versions"]]
    if card.get("personal_data"):
        trained = ", ".join(f"{c} ({k})" for c, k in sorted(card["personal_data"].items()))
        lines.append(f"\nTrained on personal data: {trained}")
    env = card.get("environment") or {}
    if env:
        lines.append("\nEnvironment:")
        for key in ("user", "project", "profile", "python", "git_commit", "lock_sha256"):
            if env.get(key):
                lines.append(f"  {key.replace('_', ' '):<16} {env[key]}")
        if env.get("git_dirty"):
            lines.append("  (uncommitted changes: see atelier.diff in the run)")
        if env.get("packages"):
            lines.append(f"  {len(env['packages'])} packages (atelier.packages.txt in the run)")
        if env.get("lock"):
            lines.append("  uv.lock recorded (atelier.lock in the run)")
        if env.get("loader"):
            loader = env["loader"]
            form = loader.get("serialization_format")
            lines.append(
                f"  {'loader':<16} {loader.get('flavor')}" + (f" ({form})" if form else "")
            )
        if env.get("complete_lock"):
            lines.append(f"  complete lock    {len(env['complete_lock'])} packages pinned")
    flags = env.get("flags") or []
    if flags:
        lines.append("\nNot pinned by its environment:")
        lines += [f"  {flag.get('problem', '—'):<20} {flag.get('message', '')}" for flag in flags]
    return lines


# -- container images --------------------------------------------------------------------------

ENGINES = click.Choice(["auto", "podman", "docker", "buildah"])


def _size(count: int) -> str:
    return f"{count / 1_000_000:.0f} MB" if count else "size unknown"


@models.command("build")
@workspace_option
@click.argument("reference")
@click.option(
    "--context",
    "context_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Only write the build context (Containerfile, lock, wheels, model, runtime) to this "
    "new or empty folder, for a build elsewhere.",
)
@click.option("--engine", type=ENGINES, help="podman, docker or buildah (containers.engine).")
@click.option("--base", help="The base image (containers.base_image), e.g. python:3.11-slim.")
@click.option("--tag", "-t", help="The image's name (default atelier-model/NAME:vVERSION).")
def build(
    workspace: str | None,
    reference: str,
    context_dir: Path | None,
    engine: str | None,
    base: str | None,
    tag: str | None,
) -> None:
    """Build the container image of REFERENCE (NAME@alias, NAME/VERSION or NAME): the model,
    its locked environment installed offline from a wheelhouse, and a serving runtime that
    answers POST /predict and GET /health as Atelier does. The model's owner or an admin."""
    with client_for(workspace, roles=BUILDERS, scopes=SCOPES, doing="build model images") as client:
        if context_dir is not None:
            made = client.models.build_context(reference, context_dir, base=base, tag=tag)
            click.echo(
                f"Wrote the build context of {made['model']} version {made['version']} to "
                f"{made['folder']}"
            )
            click.echo(f"  build it with: podman build -t IMAGE {made['folder']}")
            return
        if sys.stderr.isatty():
            click.echo(
                f"Building the image of {reference} (the first build takes minutes)…", err=True
            )
        built = client.models.build(reference, engine=engine, base=base, tag=tag)
    click.echo(
        f"Built {built['image']} for {built['model']} version {built['version']} "
        f"({_size(built['size'])}, {built['image_id'][:19]}, {built['seconds']:.0f} s with "
        f"{built['engine']})"
    )


@models.command("test-container")
@workspace_option
@click.argument("reference")
@click.option("--image", help="The image to test (default: the one built last for REFERENCE).")
@click.option("--engine", type=ENGINES, help="podman or docker (containers.engine).")
@click.option(
    "--sample",
    type=click.IntRange(0, 1000),
    default=20,
    show_default=True,
    help="Recent predictions of the version sent besides its input example (topped up with "
    "rows of the tables its training run read, when it served fewer).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def test_container(
    workspace: str | None,
    reference: str,
    image: str | None,
    engine: str | None,
    sample: int,
    as_json: bool,
) -> None:
    """Start the image of REFERENCE with no network, send its input example and recent
    predictions (or rows of its training tables), and compare the answers with Atelier's own.
    The result goes on the model card; exits 1 when the answers differ."""
    with client_for(workspace, roles=BUILDERS, scopes=SCOPES, doing="test model images") as client:
        result = client.models.test_container(reference, image=image, engine=engine, sample=sample)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        verdict = "passed" if result["passed"] else "FAILED"
        click.echo(
            f"Container test {verdict}: {result['image']} ({_size(result['size'])}, "
            f"{result['image_id'][:19]}), {result['records']} records{_sampled(result)}"
        )
        if result.get("start_to_first_prediction_seconds") is not None:
            click.echo(
                f"  start to first prediction {result['start_to_first_prediction_seconds']:.1f} s"
                f", latency p50 {result['latency_ms_p50']} ms"
            )
        for line in result.get("mismatches") or ():
            click.echo(f"  {line}")
        if result.get("logs"):
            click.echo(f"  container output: {result['logs'][-1000:]}")
    if not result["passed"]:
        raise SystemExit(1)


@models.command("push")
@workspace_option
@click.argument("reference")
@click.option(
    "--registry", "-r", required=True, help="host[:port][/path], e.g. registry.example.org/team."
)
@click.option("--force", is_flag=True, help="Push even without a passing container test.")
@click.option(
    "--tls-verify/--no-tls-verify",
    default=True,
    show_default=True,
    help="--no-tls-verify: a registry over plain HTTP or with a self-signed certificate.",
)
@click.option("--engine", type=ENGINES, help="podman, docker or buildah (containers.engine).")
def push(
    workspace: str | None,
    reference: str,
    registry: str,
    force: bool,
    tls_verify: bool,
    engine: str | None,
) -> None:
    """Push the tested image of REFERENCE to --registry (an image without a passing container
    test is refused unless --force)."""
    with client_for(workspace, roles=BUILDERS, scopes=SCOPES, doing="push model images") as client:
        pushed = client.models.push_image(
            reference, registry, force=force, tls_verify=tls_verify, engine=engine
        )
    note = "" if pushed["tested"] else " (not tested: --force)"
    click.echo(f"Pushed {pushed['image']} to {pushed['target']}{note}")


@models.command("base-image")
@workspace_option
@click.option("--engine", type=ENGINES, help="podman, docker or buildah (containers.engine).")
@click.option("--rebuild", is_flag=True, help="Bootstrap Debian again even if the image exists.")
def base_image(workspace: str | None, engine: str | None, rebuild: bool) -> None:
    """Make the default base image (localhost/atelier-python:bookworm) from Debian packages
    with mmdebstrap, for hosts that reach no image registry. Admins."""
    with client_for(workspace, roles=("admin",), scopes=SCOPES, doing="make the base image") as c:
        made = c.models.make_base_image(engine=engine, rebuild=rebuild)
    click.echo(made["message"])


def register(group: click.Group) -> None:
    """Add the commands to ``group``."""
    group.add_command(models)
