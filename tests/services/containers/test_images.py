"""Model images end to end, with podman on this host: one scikit-learn model logged with its
captured environment is built into an image (offline, from a wheelhouse), the image runs as a
non-root user and holds no token or workspace secret, its container test passes against
Atelier's own answers, it is pushed to a local registry; a corrupted or unsatisfiable lock is
a clear one-line error that leaves nothing behind, and people other than the model's owner and
admins are refused. (One module: its tests share one workspace and the built image.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from atelier.config import Workspace
from atelier.services.auth import Principal
from atelier.services.containers.engines import Engine
from atelier.services.tracking.capture import DATA_VERSIONS_TAG
from atelier.services.tracking.references import Reference, parse_reference
from atelier.services.tracking.registry import mlflow_client
from atelier.services.workbench import Workbench
from tests.cli.helpers import atelier, one_line_error
from tests.conftest import PASSWORD, RunningServer, free_port, new_workspace, start_server
from tests.services.containers.conftest import SETTINGS
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS, log_model_run

pytestmark = [
    *(pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

#: ada administers, sam owns the model, tim is another scientist, vic a viewer.
PEOPLE = {"ada": "admin", "sam": "scientist", "tim": "scientist", "vic": "viewer"}


@dataclass
class Shop:
    root: Path
    tokens: dict[str, str]
    run_id: str
    laptop: Path
    podman: Engine

    def cli(self, user: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"ATELIER_WORKSPACE": str(self.root), "ATELIER_TOKEN": self.tokens[user]}
        return atelier(*args, cwd=self.laptop, env=env)

    def workbench(self) -> Workbench:
        return Workbench(Workspace.open(self.root, environ={}))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, podman: Engine) -> Iterator[Shop]:
    folder = tmp_path_factory.mktemp("images")
    root = new_workspace(folder / "ws")
    (root / "atelier.toml").write_text((root / "atelier.toml").read_text() + SETTINGS)
    wb = Workbench(Workspace.open(root, environ={}))
    try:
        tokens = {}
        for name, role in PEOPLE.items():
            wb.users.create(name, role, PASSWORD)
            tokens[name] = wb.tokens.create(name, "cli", 1)[1]
        run_id = log_model_run(wb.models.tracking_uri, root / "artifacts")
        sam = Principal(2, "sam", "scientist", "local")
        wb.models.register(run_id, "churn", by=sam, alias="champion")
        # A prediction, so the container test also replays what the model was asked.
        wb.serving.predict(
            parse_reference("churn@champion"), [{"fees": 3.5, "tenure": 12.0}], caller="sam"
        )
        wb.serving.flush()
    finally:
        wb.close()
    laptop = folder / "laptop"
    laptop.mkdir()
    yield Shop(root, tokens, run_id, laptop, podman)
    for tag in ("atelier-model/churn:v1", "atelier-model/churn:v2", "atelier-model/churn:v3"):
        podman.remove_image(tag)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's docker-registry on a free loopback port (plain HTTP)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-registry is not installed (tests/prereqs.py installs it)")
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    folder = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {folder / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    process = subprocess.Popen(
        [binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_build_test_and_push_an_image_of_a_model(shop: Shop, registry: str) -> None:
    built = shop.cli("sam", "models", "build", "churn@champion")
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith("Built atelier-model/churn:v1 for churn version 1 (")

    # The wheels are kept for the next build of the same requirements.
    assert len(list(wheelhouses(shop).iterdir())) == 1
    facts = shop.podman.inspect("atelier-model/churn:v1")
    assert facts.user == "10001:10001"  # not root
    labels = facts.labels
    assert labels["io.atelier.model"] == "churn"
    assert labels["io.atelier.model.version"] == "1"
    assert labels["io.atelier.run-id"] == shop.run_id
    assert json.loads(labels["io.atelier.data-versions"]) == [
        {"table": "bank.customers", "version": 3}
    ]
    wb = shop.workbench()
    try:
        card = wb.models.card("churn@champion")
    finally:
        wb.close()
    assert labels["io.atelier.environment.sha256"] == card["environment"]["environment_sha256"]
    assert labels["io.atelier.lock.source"] == "captured"
    assert len(labels["io.atelier.lock.sha256"]) == 64
    assert not any(shop.tokens[p] in variable for p in PEOPLE for variable in facts.env), facts.env
    assert_holds_no_secret(shop, "atelier-model/churn:v1")

    # Not tested yet: no push.
    refused = one_line_error(shop.cli("sam", "models", "push", "churn@champion", "-r", registry))
    assert "has no passing container test" in refused and "--force" in refused

    tested = shop.cli("sam", "models", "test-container", "churn@champion", "--json")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    result = json.loads(tested.stdout)
    assert result["passed"] is True, result
    assert result["mismatches"] == []
    assert result["records"] == 3  # the input example's two rows and the logged prediction
    # The training table the run names is not in this warehouse: no validation rows.
    assert result["sources"] == {"example": 2, "predictions": 1, "validation": 0}
    assert result["image_id"] == facts.id and result["size"] == facts.size > 0
    assert result["latency_ms_p50"] > 0 and result["start_to_first_prediction_seconds"] > 0

    pushed = shop.cli(
        "sam", "models", "push", "churn@champion", "-r", f"{registry}/team", "--no-tls-verify"
    )
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.strip() == (f"Pushed atelier-model/churn:v1 to {registry}/team/churn:v1")
    tags = httpx.get(f"http://{registry}/v2/team/churn/tags/list").json()
    assert tags == {"name": "team/churn", "tags": ["v1"]}

    # The card shows it: the image, its passing test, where it went.
    wb = shop.workbench()
    try:
        status = wb.containers.status("churn@champion")
        audit = [e.action for e in wb.audit.entries(limit=50) if e.target == "churn/1"]
    finally:
        wb.close()
    assert status["image"]["image"] == "atelier-model/churn:v1"
    assert status["test"]["passed"] is True and status["test"]["image_id"] == facts.id
    assert status["push"]["target"] == f"{registry}/team/churn:v1"
    assert {"model.image.build", "model.image.test", "model.image.push"} <= set(audit)
    shown = shop.cli("sam", "models", "show", "churn@champion")
    assert "\nContainer image:\n  atelier-model/churn:v1  " in shown.stdout, shown.stderr
    assert "  container test passed at " in shown.stdout
    assert f"  pushed to {registry}/team/churn:v1 by sam" in shown.stdout
    assert "3 records (2 of the input example, 1 recent prediction)" in shown.stdout
    page = model_card_page(shop)
    assert 'data-testid="card-image-test" data-passed="true"' in page
    assert "3 records (2 of the input example, 1 recent prediction) against" in page
    assert "Built <code>atelier-model/churn:v1</code>" in page
    assert f"Pushed to <code>{registry}/team/churn:v1</code> by sam" in page


def test_the_container_test_tops_the_sample_up_with_training_rows(shop: Shop) -> None:
    """Fewer recent predictions than the sample: rows of the table the training run read, at
    the version it read, go to the container too (not later rows, not rows the signature
    refuses, nothing twice)."""
    wb = shop.workbench()
    try:
        wb.warehouse.run_write(
            lambda c: c.execute(
                "CREATE SCHEMA IF NOT EXISTS bank; "
                "CREATE TABLE bank.customers (fees DECIMAL(9, 2), tenure DOUBLE, note VARCHAR); "
                "INSERT INTO bank.customers VALUES (1.0, 30.0, 'a'), (NULL, 3.0, 'b'), "
                "(7.5, 4.0, 'c'), (2.5, 11.0, 'd'), (9.0, 1.0, 'e')"
            )
        )
        version = wb.warehouse.snapshots("customers", schema="bank")[-1].snapshot_id
        wb.warehouse.run_write(
            lambda c: c.execute("INSERT INTO bank.customers VALUES (100.0, 100.0, 'late')")
        )
        read = [
            {"table": "bank.customers", "version": version},
            {"table": "bank.dropped", "version": 1},  # gone: no rows, no failure
            {"table": "pg.public.accounts", "version": None},  # a source's: no versions
        ]
        mlflow_client(wb.models.tracking_uri).set_tag(
            shop.run_id, DATA_VERSIONS_TAG, json.dumps(read)
        )
        sam = Principal(2, "sam", "scientist", "local")
        tested = wb.containers.test("churn@champion", by=sam)
        assert tested["passed"] is True, tested
        assert tested["sources"] == {"example": 2, "predictions": 1, "validation": 3}
        assert tested["records"] == 6

        info = wb.models.resolve("churn/1")
        model = wb.serving.model(Reference("churn", version=1))
        records, sources = wb.containers.test_records(model, info, sample=2)
        example = [{"fees": 1.0, "tenure": 30.0}, {"fees": 5.0, "tenure": 2.0}]
        logged = {"fees": 3.5, "tenure": 12.0}
        assert records == [*example, logged, {"fees": 7.5, "tenure": 4.0}]
        assert sources == {"example": 2, "predictions": 1, "validation": 1}
        assert wb.containers.test_records(model, info, sample=0) == (
            example,
            {"example": 2, "predictions": 0, "validation": 0},
        )
    finally:
        wb.close()
    shown = shop.cli("sam", "models", "show", "churn@champion").stdout
    assert "6 records (2 of the input example, 1 recent prediction, 3 training rows)" in shown


def model_card_page(shop: Shop) -> str:
    """The portal's card of churn (its champion), as ada sees it."""
    from fastapi.testclient import TestClient

    from atelier.server.app import create_app

    wb = shop.workbench()
    try:
        with TestClient(create_app(wb), base_url="http://127.0.0.1") as client:
            login = client.get("/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
            assert csrf
            client.post(
                "/login",
                data={"name": "ada", "password": PASSWORD, "csrf_token": csrf.group(1)},
                follow_redirects=False,
            )
            page = client.get("/models/churn")
            assert page.status_code == 200
            return page.text
    finally:
        wb.close()


def wheelhouses(shop: Shop) -> Path:
    return shop.root / ".atelier" / "containers" / "wheelhouses"


def assert_holds_no_secret(shop: Shop, image: str) -> None:
    """No token, cookie key or sealing key anywhere in the image's files."""
    secrets = [token.encode() for token in shop.tokens.values()]
    private = shop.root / ".atelier"
    secrets += [(private / name).read_bytes().strip() for name in ("secret_key", "secrets_key")]
    mounted = subprocess.run(
        [shop.podman.binary, "image", "mount", image], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        found = []
        for path in Path(mounted).rglob("*"):
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 50_000_000:
                data = path.read_bytes()
                found += [str(path) for secret in secrets if secret in data]
        assert found == []
        # The workspace is not in there: only the model's own files.
        model = Path(mounted) / "app" / "model"
        assert (model / "MLmodel").is_file()
        assert not list(Path(mounted).rglob("atelier.toml"))
        assert not list(Path(mounted).rglob("atelier.db"))
        # Installed by the uv the build lent (an environment without pip), which stayed out.
        env = Path(mounted) / "opt" / "model-env"
        assert (env / "bin" / "python").exists() and not (env / "bin" / "pip").exists()
        assert list(env.rglob("sklearn/__pycache__/*.pyc"))  # compiled at install
        assert not (Path(mounted) / "tmp" / "tools" / "uv").exists()
    finally:
        subprocess.run([shop.podman.binary, "image", "unmount", image], check=False)


def test_only_the_owner_and_admins_make_images(shop: Shop) -> None:
    line = one_line_error(shop.cli("tim", "models", "build", "churn@champion"))
    assert "tim may not build the image of model 'churn' (owned by sam)" in line
    line = one_line_error(shop.cli("tim", "models", "test-container", "churn@champion"))
    assert "tim may not test the image" in line
    line = one_line_error(
        shop.cli("tim", "models", "push", "churn@champion", "-r", "127.0.0.1:9/x", "--force")
    )
    assert "tim may not push the image" in line
    line = one_line_error(shop.cli("vic", "models", "build", "churn@champion"))
    assert "vic" in line and "may not" in line
    line = one_line_error(shop.cli("sam", "models", "base-image"))
    assert "may not" in line


def add_version(shop: Shop, environment: str) -> int:
    """A new version of churn whose captured environment file reads ``environment``."""
    wb = shop.workbench()
    try:
        run_id = log_model_run(wb.models.tracking_uri, shop.root / "artifacts")
        version = wb.models.register(run_id, "churn", by=Principal(2, "sam", "scientist", "local"))
        files = wb.models.resolve(f"churn/{version['version']}").path
    finally:
        wb.close()
    (files / "atelier-environment.json").write_text(environment)
    return int(version["version"])


def test_a_corrupted_or_unsatisfiable_lock_is_a_clear_error(shop: Shop) -> None:
    corrupted = add_version(shop, '{"format": 1, "python": {"version": "3.11.2"}, "packa')
    line = one_line_error(shop.cli("sam", "models", "build", f"churn/{corrupted}"))
    assert f"atelier-environment.json of churn/{corrupted} is not readable JSON" in line

    wb = shop.workbench()
    try:
        files = wb.models.resolve("churn/1").path
    finally:
        wb.close()
    captured = json.loads((files / "atelier-environment.json").read_text())
    for package in captured["packages"]:
        if package["name"].lower() == "scikit-learn":
            package["version"] = "0.0.1"
            package.pop("installed", None)
    unsatisfiable = add_version(shop, json.dumps(captured))
    target = shop.laptop / "context"
    line = one_line_error(
        shop.cli("sam", "models", "build", f"churn/{unsatisfiable}", "--context", str(target))
    )
    assert f"the locked requirements of churn/{unsatisfiable} cannot be downloaded" in line
    assert "scikit-learn==0.0.1" in line
    assert not target.exists()  # nothing half-written
    assert [p.name for p in shop.laptop.iterdir()] == []
    assert not shop.podman.exists(f"atelier-model/churn:v{unsatisfiable}")


def test_the_context_alone_through_a_server(shop: Shop) -> None:
    """From a laptop against the server: the build context comes back as files, nothing built."""
    server: RunningServer = start_server(Workspace.open(shop.root, environ=dict(os.environ)))
    try:
        target = shop.laptop / "churn-context"
        env = {"ATELIER_URL": server.url, "ATELIER_TOKEN": shop.tokens["sam"]}
        done = atelier(
            "models", "build", "churn/1", "--context", str(target), "--tag", "team/churn:ci",
            cwd=shop.laptop, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert f"Wrote the build context of churn version 1 to {target}" in done.stdout
        names = sorted(p.name for p in target.iterdir())
        assert names == [
            "Containerfile", "model", "model-info.json", "requirements.lock", "runtime", "tools",
            "wheels",
        ]  # fmt: skip
        # No uv in a context that leaves Atelier: it installs with the base image's pip.
        assert [p.name for p in (target / "tools").iterdir()] == ["README.txt"]
        lock = (target / "requirements.lock").read_text()
        wheels = sorted(p.name for p in (target / "wheels").iterdir())
        pinned = [line for line in lock.splitlines() if not line.startswith("#")]
        assert len(pinned) == len(wheels) and all("--hash=sha256:" in line for line in pinned)
        assert any(line.startswith("scikit_learn==") for line in pinned)
        assert not any(line.lower().startswith("mlflow==") for line in pinned)  # skinny only
        containerfile = (target / "Containerfile").read_text()
        assert "--no-index" in containerfile and "--require-hashes" in containerfile
        assert "USER 10001:10001" in containerfile
        assert not shop.podman.exists("team/churn:ci")
        assert len(list(wheelhouses(shop).iterdir())) == 1  # the same wheels, reused
        line = one_line_error(
            atelier("models", "build", "churn/1", "--context", str(target), cwd=shop.laptop,
                    env=env)
        )  # fmt: skip
        assert "is not an empty folder" in line
        line = one_line_error(
            atelier(
                "models", "build", "churn/1", "--context", str(shop.laptop / "x"),
                cwd=shop.laptop, env={**env, "ATELIER_TOKEN": shop.tokens["tim"]},
            )
        )  # fmt: skip
        assert "tim may not write the image context of model 'churn'" in line

        # The image built earlier, tested again through the API.
        tested = atelier(
            "models", "test-container", "churn@champion", "--json", cwd=shop.laptop, env=env
        )
        assert tested.returncode == 0, tested.stderr
        assert json.loads(tested.stdout)["passed"] is True
    finally:
        server.stop()
