"""Two servers of one workspace (folders of their own, one metadata database, one lake in the
bucket of moto's S3 server): a file previewed through one is committed by id through the
other, and is then gone from the bucket for both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from atelier.backends.storage import ObjectStore
from atelier.server.app import create_app
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD
from tests.s3_server import S3Server, two_servers

SALES = b"id,customer,amount\n1,ada,10.5\n2,bob,20.25\n"


@pytest.fixture
def servers(
    s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Workbench, Workbench, ObjectStore]]:
    with two_servers(s3_server, tmp_path_factory) as both:
        yield both


def test_preview_on_one_server_upload_by_id_on_the_other(
    servers: tuple[Workbench, Workbench, ObjectStore],
) -> None:
    one, two, store = servers
    one.users.create("sci", "scientist", PASSWORD)
    headers = {"Authorization": f"Bearer {one.tokens.create('sci', 'test', 1)[1]}"}
    with (
        TestClient(create_app(one), base_url="http://127.0.0.1") as first,
        TestClient(create_app(two), base_url="http://127.0.0.1") as second,
    ):
        preview = first.post(
            "/api/v1/uploads/preview",
            headers=headers,
            files={"file": ("sales.csv", SALES, "text/csv")},
            data={"options": "{}"},
        )
        assert preview.status_code == 200, preview.text
        upload_id = preview.json()["upload_id"]
        assert sorted(store.keys_under(store.url("uploads", upload_id))) == [
            f"teams/ml/uploads/{upload_id}/.owner",
            f"teams/ml/uploads/{upload_id}/sales.csv",
        ]
        assert not (two.ingest.inbox.directory / upload_id).exists()

        created = second.post(
            "/api/v1/uploads",
            headers=headers,
            data={"upload_id": upload_id, "name": "sales", "mode": "create", "options": "{}"},
        )
        assert created.status_code == 201, created.text
        assert created.json()["rows"] == 2
        assert store.keys_under(store.url("uploads", upload_id)) == []

        # Used: the first server refuses the id too (no second commit of the same file).
        again = first.post(
            "/api/v1/uploads",
            headers=headers,
            data={"upload_id": upload_id, "name": "sales", "mode": "append", "options": "{}"},
        )
        assert again.status_code == 404, again.text
        assert not (one.ingest.inbox.directory / upload_id).exists()
    rows = one.query.run("SELECT sum(amount) AS total FROM sales", user="sci").to_pandas()
    assert rows["total"][0] == pytest.approx(30.75)
