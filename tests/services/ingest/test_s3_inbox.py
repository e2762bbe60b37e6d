"""With ``[storage]``, a file kept between a preview and its upload is in the bucket (moto's
S3 server here): a second server with a folder of its own finds it by id for its sender only;
used or discarded through one server, it is refused by every server; expired, it is swept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from atelier.backends.storage import ObjectStore
from atelier.errors import NotFound
from atelier.services.ingest import Inbox
from atelier.services.storage import Files
from tests.s3_server import S3Server


@pytest.fixture
def store(s3_server: S3Server) -> ObjectStore:
    return s3_server.new_store(prefix="teams/ml")


def _inbox(root: Path, store: ObjectStore) -> Inbox:
    return Inbox(root, files=Files(root, store, "uploads"))


def test_a_kept_file_is_found_through_another_server(store: ObjectStore, tmp_path: Path) -> None:
    one, two = _inbox(tmp_path / "one", store), _inbox(tmp_path / "two", store)
    received = one.new("Sales 2024.csv", "ada")
    received.path.write_text("id,amount\n1,2.5\n")
    one.keep(received)
    assert sorted(store.keys_under(store.url("uploads", received.id))) == [
        f"teams/ml/uploads/{received.id}/.owner",
        f"teams/ml/uploads/{received.id}/Sales 2024.csv",
    ]

    with pytest.raises(NotFound):
        two.get(received.id, "bob")  # someone else's: not even fetched for them to see
    assert not (tmp_path / "two" / received.id).exists()
    found = two.get(received.id, "ada")
    assert found.path == tmp_path / "two" / received.id / "Sales 2024.csv"
    assert found.path.read_text() == "id,amount\n1,2.5\n"

    # Used through the second server: the first refuses it too, and drops its copy.
    two.discard(received.id)
    assert store.keys_under(store.url("uploads", received.id)) == []
    with pytest.raises(NotFound, match="send the file again"):
        one.get(received.id, "ada")
    assert not (tmp_path / "one" / received.id).exists()


def test_a_file_never_kept_is_not_in_the_bucket(store: ObjectStore, tmp_path: Path) -> None:
    inbox = _inbox(tmp_path / "in", store)
    received = inbox.new("a.csv", "ada")  # arriving with its upload, used at once
    received.path.write_text("x\n1\n")
    assert store.keys_under(store.url("uploads")) == []
    inbox.discard(received.id)
    assert not received.path.parent.exists()


def test_expired_files_are_swept_from_the_bucket(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = _inbox(tmp_path / "in", store)
    kept = inbox.new("old.csv", "ada")
    kept.path.write_text("x\n1\n")
    inbox.keep(kept)
    fresh = inbox.new("new.csv", "ada")
    fresh.path.write_text("y\n2\n")
    inbox.keep(fresh)
    # Seen from a day and a bit later: both are old; objects are dated by the S3 server.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1, minutes=5)
    monkeypatch.setattr("time.time", lambda: later.timestamp())
    assert inbox.files.sweep(inbox.max_age_seconds) == 2
    assert store.keys_under(store.url("uploads")) == []
    monkeypatch.undo()
    again = inbox.new("c.csv", "ada")
    again.path.write_text("z\n3\n")
    inbox.keep(again)
    assert inbox.files.sweep(inbox.max_age_seconds) == 0
    assert len(store.keys_under(store.url("uploads"))) == 2
