"""Apps' images: a hosted Dash app built with podman from its project's real uv.lock runs as a
non-root user with no token inside and answers on its port; a generated app's context is its
model's image plus the form page, whose runtime answers the page and predictions; only the
app's owner and admins make images, checked before anything is written; a corrupted lock is a
clear one-line error. (One module: its tests share one workspace, one project environment.)"""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from atelier.config import Workspace
from atelier.errors import InvalidInput, NotFound, PermissionDenied
from atelier.sdk.apps import RemoteApps
from atelier.services.auth import Principal
from atelier.services.containers import app_runtime
from atelier.services.containers.engines import Engine
from atelier.services.workbench import Workbench
from tests.cli.helpers import atelier, one_line_error
from tests.conftest import PASSWORD, new_workspace
from tests.services.containers.conftest import SETTINGS
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS, log_model_run

pytestmark = [
    *(pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

#: ada administers, sam owns the apps, tim is another scientist, vic a viewer.
PEOPLE = {"ada": "admin", "sam": "scientist", "tim": "scientist", "vic": "viewer"}
DASH_APP = """\
import dash
from dash import html

app = dash.Dash(__name__)
app.layout = html.Div([html.H1("Board"), html.P("ready", id="state")])

if __name__ == "__main__":
    app.run()
"""


@dataclass
class Shop:
    root: Path
    tokens: dict[str, str]
    people: dict[str, Principal]
    laptop: Path

    def cli(self, user: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"ATELIER_WORKSPACE": str(self.root), "ATELIER_TOKEN": self.tokens[user]}
        return atelier(*args, cwd=self.laptop, env=env)

    def workbench(self) -> Workbench:
        return Workbench(Workspace.open(self.root, environ={}))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    folder = tmp_path_factory.mktemp("app-images")
    root = new_workspace(folder / "ws")
    (root / "atelier.toml").write_text((root / "atelier.toml").read_text() + SETTINGS)
    wb = Workbench(Workspace.open(root, environ={}))
    try:
        tokens, people = {}, {}
        for name, role in PEOPLE.items():
            user = wb.users.create(name, role, PASSWORD)
            tokens[name] = wb.tokens.create(name, "cli", 1)[1]
            people[name] = Principal(user.id, name, role, "local")
        sam = people["sam"]
        # One project environment, locked by uv from the package index: Dash and its closure.
        wb.projects.create("boards", sam)
        wb.projects.env.add("boards", ["dash"], sam)
        wb.apps.deploy("board", DASH_APP, sam, project="boards", kind="dash")
        run_id = log_model_run(wb.models.tracking_uri, root / "artifacts")
        wb.models.register(run_id, "churn", by=sam, alias="champion")
        wb.apps.create("churn-form", "churn@champion", sam, title="Will they churn?")
    finally:
        wb.close()
    laptop = folder / "laptop"
    laptop.mkdir()
    yield Shop(root, tokens, people, laptop)


def test_a_hosted_dash_app_builds_into_an_image_that_answers(shop: Shop, podman: Engine) -> None:
    built = shop.cli("sam", "apps", "build", "board")
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith(
        "Built atelier-app/board:latest for app board (dash on project boards; "
    ), built.stdout
    image = "atelier-app/board:latest"
    try:
        facts = podman.inspect(image)
        assert facts.user == "10001:10001"  # not root
        labels = facts.labels
        assert labels["io.atelier.app"] == "board"
        assert labels["io.atelier.app.kind"] == "dash"
        assert labels["io.atelier.app.project"] == "boards"
        assert labels["io.atelier.app.entry"] == "app.py"
        assert labels["io.atelier.lock.source"] == "uv.lock"
        wb = shop.workbench()
        try:
            lock_file = wb.projects.get("boards").path / "uv.lock"
            audit = [e.action for e in wb.audit.entries(limit=20) if e.target == "board"]
        finally:
            wb.close()
        locked = hashlib.sha256(lock_file.read_bytes()).hexdigest()
        assert labels["io.atelier.project.lock.sha256"] == locked
        assert "app.image.build" in audit
        assert not any(token in " ".join(facts.env) for token in shop.tokens.values())
        assert_holds_no_secret(shop, podman, image)

        # Started with no network out, read-only, every capability dropped: it answers.
        running = podman.start_isolated(image)
        try:
            with httpx.Client(timeout=5.0) as http:
                health = f"{running.address}{labels['io.atelier.app.health']}"
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        if http.get(health).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert podman.running(running.id), podman.logs(running.id)
                    time.sleep(0.2)
                layout = http.get(health)
                assert layout.status_code == 200, podman.logs(running.id)
                assert "Board" in layout.text and '"state"' in layout.text
                page = http.get(f"{running.address}/")
                assert page.status_code == 200 and "_dash-config" in page.text
        finally:
            podman.stop(running.id)
    finally:
        podman.remove_image(image)


def assert_holds_no_secret(shop: Shop, podman: Engine, image: str) -> None:
    """No token, cookie key or sealing key anywhere in the image's files, no workspace file."""
    secrets = [token.encode() for token in shop.tokens.values()]
    private = shop.root / ".atelier"
    secrets += [(private / name).read_bytes().strip() for name in ("secret_key", "secrets_key")]
    mounted = subprocess.run(
        [podman.binary, "image", "mount", image], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        found = []
        for path in Path(mounted).rglob("*"):
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 50_000_000:
                data = path.read_bytes()
                found += [str(path) for secret in secrets if secret in data]
        assert found == []
        assert sorted(p.name for p in (Path(mounted) / "app").iterdir()) == ["app.py"]
        assert not list(Path(mounted).rglob("atelier.toml"))
        assert not list(Path(mounted).rglob("atelier.db"))
        # Installed by the uv the build lent (no pip), without bytecode, and uv stayed out.
        env = Path(mounted) / "opt" / "app-env"
        assert (env / "bin" / "python").exists() and not (env / "bin" / "pip").exists()
        assert list(env.rglob("dash/__init__.py")) and not list(env.rglob("dash/__pycache__"))
        assert not (Path(mounted) / "tmp" / "tools" / "uv").exists()
    finally:
        subprocess.run([podman.binary, "image", "unmount", image], check=False)


def test_a_generated_apps_context_is_its_models_image_with_the_form(shop: Shop) -> None:
    target = shop.laptop / "churn-form"
    done = shop.cli("sam", "apps", "build", "churn-form", "--context", str(target))
    assert done.returncode == 0, done.stderr
    assert f"Wrote the build context of app churn-form to {target}" in done.stdout
    names = sorted(p.name for p in target.iterdir())
    assert names == [
        "Containerfile", "app-info.json", "model", "model-info.json", "page",
        "requirements.lock", "runtime", "tools", "wheels",
    ]  # fmt: skip
    containerfile = (target / "Containerfile").read_text()
    # The model's image (its offline, hash-checked install) and then the app's layer.
    assert "--no-index" in containerfile and "--require-hashes" in containerfile
    assert "USER 10001:10001" in containerfile
    assert containerfile.rstrip().endswith(
        'CMD ["/opt/model-env/bin/python", "-m", "atelier_app_runtime"]'
    )
    for label in (
        'io.atelier.app="churn-form"',
        'io.atelier.app.kind="model"',
        'io.atelier.model="churn"',
        'io.atelier.model.version="1"',
        'org.opencontainers.image.title="app churn-form (churn version 1)"',
    ):
        assert label in containerfile, label
    assert json.loads((target / "app-info.json").read_text()) == {
        "app": "churn-form", "kind": "model", "model": "churn", "version": 1,
    }  # fmt: skip
    page = (target / "page" / "index.html").read_text()
    assert "<h1>Will they churn?</h1>" in page and "churn version 1" in page
    assert 'name="fees" data-widget="number"' in page
    assert 'name="tenure" data-widget="number"' in page
    assert (target / "runtime" / "atelier_app_runtime.py").is_file()
    assert not list(target.rglob("atelier.toml"))

    # The image's runtime, run here on the context's own files: the page, then predictions
    # posted where the page posts them.
    server = app_runtime.serve(
        target / "model",
        json.loads((target / "model-info.json").read_text()),
        target / "page",
        "127.0.0.1",
        0,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    address = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with httpx.Client(timeout=10.0) as http:
            front = http.get(f"{address}/")
            assert front.status_code == 200 and "Will they churn?" in front.text
            assert "script-src 'self'" in front.headers["content-security-policy"]
            script = http.get(f"{address}/app.js")
            assert script.headers["content-type"].startswith("text/javascript")
            assert 'fetch("predict"' in script.text
            answer = http.post(f"{address}/predict", json={"fees": 8.0, "tenure": 1.0})
            assert answer.status_code == 200, answer.text
            assert answer.json()["model"] == "churn" and answer.json()["prediction"] in (0, 1)
            refused = http.post(f"{address}/predict", json={"fees": "lots"})
            assert refused.status_code == 422
            assert http.get(f"{address}/health").json()["status"] == "ok"
            assert http.get(f"{address}/../atelier.toml").status_code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_only_the_owner_and_admins_make_app_images(shop: Shop) -> None:
    target = shop.laptop / "refused"
    line = one_line_error(shop.cli("tim", "apps", "build", "board", "--context", str(target)))
    assert "tim may not write the image context of app 'board' (owned by sam)" in line
    line = one_line_error(shop.cli("tim", "apps", "build", "churn-form"))
    assert "tim may not build the image of app 'churn-form' (owned by sam)" in line
    line = one_line_error(shop.cli("vic", "apps", "build", "board"))
    assert "vic" in line and "may not" in line
    line = one_line_error(shop.cli("sam", "apps", "build", "nope", "--context", str(target)))
    assert "no app 'nope'" in line
    assert not target.exists()  # refused before anything was written

    wb = shop.workbench()
    try:
        images = wb.app_images
        with pytest.raises(PermissionDenied, match=r"vic \(viewer\) may not build the image"):
            images.build("board", by=shop.people["vic"])
        with pytest.raises(PermissionDenied, match="tim may not write the image context"):
            images.context("churn-form", target, by=shop.people["tim"])
        with pytest.raises(PermissionDenied):
            images.context_archive("board", by=shop.people["tim"])
        with pytest.raises(NotFound):
            images.context("nope", target, by=shop.people["ada"])
        sam = shop.people["sam"]
        coded = Principal(
            sam.user_id,
            "sam",
            "scientist",
            "token",
            scopes=frozenset({"predict"}),
            label="app board",
        )
        with pytest.raises(PermissionDenied, match="is for code and may not build the image"):
            images.build("board", by=coded)
        refusals = [e for e in wb.audit.entries(limit=50) if e.action == "app.image.refused"]
    finally:
        wb.close()
    assert not target.exists()
    assert {e.actor for e in refusals} == {"tim", "vic", "sam"}
    assert not any(e.success for e in refusals)


def test_the_api_refuses_others_and_sends_the_context(shop: Shop) -> None:
    import io
    import tarfile

    from fastapi.testclient import TestClient

    from atelier.server.app import create_app

    wb = shop.workbench()
    try:
        with TestClient(create_app(wb), base_url="http://127.0.0.1") as client:

            def as_(user: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {shop.tokens[user]}"}

            refused = client.post("/api/v1/apps/board/image", json={}, headers=as_("tim"))
            assert refused.status_code == 403, refused.text
            assert "owned by sam" in refused.json()["detail"]
            refused = client.get("/api/v1/apps/board/image/context", headers=as_("vic"))
            assert refused.status_code == 403
            bad = client.post(
                "/api/v1/apps/board/image", json={"tag": "Not An Image"}, headers=as_("sam")
            )
            assert bad.status_code == 422
            sent = client.get(
                "/api/v1/apps/board/image/context",
                params={"tag": "team/board:ci"},
                headers=as_("ada"),
            )
            assert sent.status_code == 200, sent.text
            with tarfile.open(fileobj=io.BytesIO(sent.content)) as tar:
                names = set(tar.getnames())
                info = json.load(tar.extractfile("./app-info.json"))  # type: ignore[arg-type]
            assert {"./Containerfile", "./app/app.py", "./requirements.lock"} <= names
            assert any(name.startswith("./wheels/dash-") for name in names)
            assert info == {"app": "board", "kind": "dash", "entry": "app.py", "project": "boards"}

            # The remote SDK (a laptop's `atelier apps build --context`) unpacks the same.
            class Transport:
                url = "http://127.0.0.1"

                def request(self, method: str, path: str, **kwargs: Any) -> Any:
                    kwargs.pop("timeout", None)
                    found = client.request(method, f"/api/v1{path}", headers=as_("sam"), **kwargs)
                    assert found.status_code == 200, found.text
                    return found

            target = shop.laptop / "remote-board"
            made = RemoteApps(Transport()).build_context("board", target)
            assert made == {
                "app": "board", "kind": "dash", "model": None, "version": None,
                "project": "boards", "image": None, "folder": str(target),
            }  # fmt: skip
            assert (target / "app" / "app.py").read_text() == DASH_APP
            assert (
                'CMD ["/opt/app-env/bin/python", "/app/app.py"]'
                in (target / "Containerfile").read_text()
            )
    finally:
        wb.close()


def test_a_corrupted_project_lock_is_a_clear_error(shop: Shop) -> None:
    wb = shop.workbench()
    try:
        lock = wb.projects.get("boards").path / "uv.lock"
    finally:
        wb.close()
    kept = lock.read_bytes()
    target = shop.laptop / "board-context"
    try:
        lock.write_text('version = 1\n[[package]]\nname = "dash"\nversion = "4.0\n')
        line = one_line_error(shop.cli("sam", "apps", "build", "board", "--context", str(target)))
        assert "the uv.lock of project 'boards' is not readable TOML" in line
        lock.write_text('version = 1\n[[package]]\nname = "dash"\nsource = { git = "x" }\n')
        line = one_line_error(shop.cli("sam", "apps", "build", "board", "--context", str(target)))
        assert "dash comes from git, not a package index" in line
    finally:
        lock.write_bytes(kept)
    assert not target.exists()  # nothing half-written
    assert [p.name for p in shop.laptop.iterdir() if p.name.startswith(".")] == []


def test_an_app_outside_any_project_has_no_lock_to_build_from(shop: Shop) -> None:
    wb = shop.workbench()
    try:
        wb.apps.deploy("loose", DASH_APP, shop.people["sam"], kind="dash")
        with pytest.raises(InvalidInput, match="runs in Atelier's own environment"):
            wb.app_images.context("loose", shop.laptop / "loose", by=shop.people["sam"])
    finally:
        wb.close()
    assert not (shop.laptop / "loose").exists()
