"""One area of the workspace's files, against a real S3 protocol server (moto's): saved from
one machine's folder, read back into another's, replaced, deleted; and without a bucket,
nothing but the local folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.backends.storage import ObjectStore
from atelier.errors import InvalidInput
from atelier.services.storage import Files
from tests.s3_server import S3Server


@pytest.fixture
def store(s3_server: S3Server) -> ObjectStore:
    return s3_server.new_store(prefix="teams/ml")


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _read(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}


def test_a_folder_saved_here_is_read_back_on_another_machine(
    store: ObjectStore, tmp_path: Path
) -> None:
    here = Files(tmp_path / "here", store, "apps")
    there = Files(tmp_path / "there", store, "apps")
    _tree(here.path("sales"), {"app.py": "print(1)\n", "pages/a.py": "x = 1\n"})
    assert here.save("sales") == 2
    assert sorted(store.keys_under(store.url("apps", "sales"))) == [
        "teams/ml/apps/sales/app.py",
        "teams/ml/apps/sales/pages/a.py",
    ]
    assert here.url("sales") == f"s3://{store.bucket}/teams/ml/apps/sales"

    loaded = there.load("sales")
    assert loaded == tmp_path / "there" / "sales"
    assert _read(loaded) == {"app.py": "print(1)\n", "pages/a.py": "x = 1\n"}
    assert not list((tmp_path / "there").glob(".*partial"))

    # Replaced: objects the folder no longer has are gone from the bucket.
    (here.path("sales") / "pages" / "a.py").unlink()
    (here.path("sales") / "app.py").write_text("print(2)\n")
    assert here.save("sales") == 1
    assert store.keys_under(store.url("apps", "sales")) == ["teams/ml/apps/sales/app.py"]
    assert there.load("sales", tmp_path / "fresh") is not None
    assert _read(tmp_path / "fresh") == {"app.py": "print(2)\n"}

    # A neighbour whose name starts the same is not part of it.
    _tree(here.path("sales-eu"), {"app.py": "eu\n"})
    here.save("sales-eu")
    assert here.delete("sales") == 1
    assert there.load("sales", tmp_path / "gone") is None
    assert store.keys_under(store.url("apps", "sales-eu")) == ["teams/ml/apps/sales-eu/app.py"]


def test_one_file_and_small_texts(store: ObjectStore, tmp_path: Path) -> None:
    files = Files(tmp_path / "a", store, "jobs")
    log = tmp_path / "elsewhere.log"
    log.write_text("line 1\nline 2\n")
    assert files.save("7.log", log) == 1
    assert files.save("8.log", tmp_path / "missing.log") == 0
    target = tmp_path / "b" / "logs" / "7.log"
    assert files.load("7.log", target) == target
    assert target.read_text() == "line 1\nline 2\n"
    assert files.load("8.log", tmp_path / "b" / "8.log") is None
    files.put_text("apps/x/CURRENT", "abc")
    assert files.get_text("apps/x/CURRENT") == "abc"
    assert files.get_text("apps/y/CURRENT") is None
    assert files.keys() == ["7.log", "apps/x/CURRENT"]


def test_keys_stay_inside_the_area(store: ObjectStore, tmp_path: Path) -> None:
    files = Files(tmp_path, store, "jobs")
    for key in ("../x", "/etc/passwd", "a/../../b", "", "a\\b"):
        with pytest.raises(InvalidInput):
            files.path(key)
    # An object whose key climbs out of the folder is refused, and nothing is left behind.
    store.client().put_object(Bucket=store.bucket, Key="teams/ml/jobs/9/../../../x", Body=b"!")
    store.client().put_object(Bucket=store.bucket, Key="teams/ml/jobs/9/ok", Body=b"ok")
    with pytest.raises(InvalidInput, match="would land outside"):
        files.load("9", tmp_path / "nine")
    assert not (tmp_path / "nine").exists()
    assert not (tmp_path.parent / "x").exists()
    assert not list(tmp_path.glob(".*partial"))


def test_without_a_bucket_only_the_local_folder(tmp_path: Path) -> None:
    files = Files(tmp_path, None, "apps")
    _tree(files.path("a"), {"app.py": "1\n"})
    assert not files.shared
    assert files.url("a") == str(tmp_path / "a")
    assert files.save("a") == 0
    assert files.load("a") == tmp_path / "a"
    assert files.load("b") is None
    assert files.delete("a") == 0 and (tmp_path / "a" / "app.py").exists()
    assert files.get_text("a/CURRENT") is None and files.keys() == []
