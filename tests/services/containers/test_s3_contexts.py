"""With ``[storage]``, the build context a model image was built from is kept in the bucket
(moto's S3 server here), and another server answers that version's context request with that
very archive; another tag is made anew. Needs podman (as the other image tests)."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.backends.storage import ObjectStore
from atelier.config import Workspace
from atelier.services.auth import Principal
from atelier.services.containers.engines import Engine
from atelier.services.storage import Files
from atelier.services.workbench import Workbench
from tests.conftest import new_workspace
from tests.s3_server import S3Server
from tests.services.containers.conftest import SETTINGS
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS, log_model_run

pytestmark = [
    *(pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS),
    # One module-scoped workspace, a whole image build and its removal in one test.
    pytest.mark.timeout(900),
]

SAM = Principal(2, "sam", "scientist", "local")
TAG = "atelier-test/kept-context:v1"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, podman: Engine) -> Iterator[Path]:
    root = new_workspace(tmp_path_factory.mktemp("kept") / "ws")
    (root / "atelier.toml").write_text((root / "atelier.toml").read_text() + SETTINGS)
    wb = Workbench(Workspace.open(root, environ={}))
    try:
        wb.users.create("sam", "scientist", "correct horse battery")
        run_id = log_model_run(wb.models.tracking_uri, root / "artifacts")
        wb.models.register(run_id, "churn", by=SAM)
    finally:
        wb.close()
    yield root
    podman.remove_image(TAG)


def _server(root: Path, store: ObjectStore, work: str) -> Workbench:
    """A server of the workspace whose kept contexts are its own (another machine); the
    downloaded wheels, a cache, are shared to keep the test short."""
    wb = Workbench(Workspace.open(root, environ={}))
    wb.containers.files = Files(root / work / "contexts", store, "images")
    return wb


def test_the_context_of_a_built_image_is_served_from_the_bucket(
    root: Path, s3_server: S3Server
) -> None:
    store = s3_server.new_store(prefix="teams/ml")
    one = _server(root, store, "one")
    try:
        built = one.containers.build("churn/1", by=SAM, tag=TAG)
    finally:
        one.close()
    keys = store.keys_under(store.url("images", "models"))
    assert len(keys) == 2 and {k.rsplit("/", 1)[1] for k in keys} == {
        "context.tar.gz",
        "context.json",
    }
    (archive_key,) = [k for k in keys if k.endswith(".tar.gz")]
    kept = store.client().get_object(Bucket=store.bucket, Key=archive_key)["Body"].read()

    two = _server(root, store, "two")
    try:
        archive, made = two.containers.context_archive("churn/1", by=SAM, tag=TAG)
        assert archive.read_bytes() == kept  # the very archive, not one made again
        assert made["labels"] == built["labels"] and made["image"] == TAG
        with tarfile.open(archive) as tar:
            names = {Path(n).parts[0] for n in tar.getnames() if Path(n).parts}
        assert {"Containerfile", "requirements.lock", "wheels", "model", "tools"} <= names
        # The uv the build lent was taken out before the context was kept.
        with tarfile.open(archive) as tar:
            assert [n for n in tar.getnames() if Path(n).parts[-1:] == ("uv",)] == []
        # Another tag is another context: made here, not the kept one.
        other, _ = two.containers.context_archive("churn/1", by=SAM, tag="team/churn:ci")
        assert other.read_bytes() != kept
        assert not (root / "two" / "contexts").exists()  # nothing kept on this disk
    finally:
        two.close()
