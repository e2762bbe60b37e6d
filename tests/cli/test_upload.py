"""``atelier data upload`` and the ``data`` commands, embedded and against a real server (the
``cli`` fixture): the file streamed in chunks when remote, one-line errors, refusals for a
viewer and for a code token that may only read, and the same audit entries either way."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.cli.conftest import Cli
from tests.cli.helpers import one_line_error


def test_upload_then_browse_tag_and_query(cli: Cli, tmp_path: Path) -> None:
    sam = cli.as_("sam")
    lines = ["id,name,score"] + [f"{i},name {i},{i / 7:.4f}" for i in range(150_000)]
    path = tmp_path / "big scores.csv"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > 3 * 2**20  # several chunks on the wire
    done = sam("data", "upload", str(path), "--name", "lab.scores")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "150,000 rows loaded into lab.scores (version 1, lake snapshot 1)"

    (tmp_path / "more.txt").write_text("score|id|name\n0.5|-1|extra\n")
    appended = sam(
        "data", "upload", str(tmp_path / "more.txt"), "-n", "lab.scores", "--mode", "append",
        "--delimiter", "|", "--type", "id=BIGINT", "--json",
    )  # fmt: skip
    assert appended.returncode == 0, appended.stderr
    result = json.loads(appended.stdout)
    assert (result["table"], result["rows"], result["mode"]) == ("lab.scores", 1, "append")

    (tmp_path / "bad.csv").write_text("id,amount\n1,2\n2,lots\n")
    bad = sam("data", "upload", str(tmp_path / "bad.csv"), "-n", "bad", "--type", "amount=INTEGER")
    assert one_line_error(bad).startswith(
        "error: bad.csv: line 3, column 2 (amount): 'lots' is not a valid INTEGER"
    )
    missing = sam("data", "upload", str(tmp_path / "nope.csv"), "--name", "r")
    assert "nope.csv: no such file" in one_line_error(missing)
    usage = sam("data", "upload", str(path), "-n", "x", "--type", "amount")
    assert "write COLUMN=TYPE" in one_line_error(usage) and usage.returncode == 2

    listed = sam("data", "list")
    assert "lab.scores" in listed.stdout and "150,001" in listed.stdout, listed.stderr
    shown = sam("data", "show", "lab.scores")
    assert "rows 150,001" in shown.stdout and "Versions:" in shown.stdout, shown.stderr
    profile = json.loads(sam("data", "profile", "lab.scores", "--json").stdout)
    assert profile["rows"] == 150_001 and profile["columns"][0]["name"] == "id"
    assert "nulls 0" in sam("data", "profile", "lab.scores", "--version", "1").stdout
    assert "no table lab.nope" in one_line_error(sam("data", "show", "lab.nope"))

    tagged = sam("data", "tag", "lab.scores", "gold", "pii")
    assert tagged.stdout.strip() == "lab.scores: gold, pii", tagged.stderr
    untagged = sam("data", "tag", "lab.scores", "--remove", "pii")
    assert untagged.stdout.strip() == "lab.scores: gold"
    described = sam("data", "describe", "lab.scores", "Lab scores")
    assert described.stdout.strip() == "Description of lab.scores saved"
    assert sam("data", "describe", "lab.scores").stdout.strip() == "Lab scores"
    found = json.loads(sam("data", "list", "--json", "-s", "gold").stdout)
    assert [(t["name"], t["description"]) for t in found] == [("lab.scores", "Lab scores")]

    query = "SELECT count(*) AS n, max(id) AS top FROM lab.scores"
    assert sam("sql", query, "-f", "csv").stdout.splitlines() == ['"n","top"', "150001,149999"]
    refused = sam("sql", "SELECT * FROM read_csv('/etc/passwd')")
    assert "not available in user SQL" in one_line_error(refused)
    if cli.remote:
        no_token = sam("sql", "SELECT 1", env={"ATELIER_TOKEN": ""})
        assert "set ATELIER_TOKEN" in one_line_error(no_token)

    # A viewer uploads nothing; a code token that may only read tags nothing (but reads).
    viewer = cli.as_("vic")("data", "upload", str(tmp_path / "more.txt"), "-n", "lab.v")
    assert "viewer" in one_line_error(viewer) and "may not" in one_line_error(viewer)
    wb = cli.workbench()
    try:
        reader = wb.tokens.create_for("sam", "job 7", frozenset({"data:read"}), timedelta(hours=1))
        job = {"ATELIER_TOKEN": reader[1]}
        assert "150001" in sam("sql", query, "-f", "csv", env=job).stdout
        writing = one_line_error(sam("data", "tag", "lab.scores", "x", env=job))
        assert "the token 'job 7'" in writing and "for code and may not" in writing
        assert "lab.v" not in {t.name for t in wb.catalog.list()}
        assert query in [q.sql for q in wb.query.history("sam")]
        assert wb.catalog.describe("lab.scores").entry.tags == ("gold",)

        # The same audit entries whichever way the commands came in.
        entries = [e for e in wb.audit.entries(limit=50) if e.action.startswith("table.")]
        clients = {e.client for e in entries}
        assert clients == ({"127.0.0.1"} if cli.remote else {"cli"})
        seen = [(e.action, e.actor, e.target, e.success, e.detail) for e in reversed(entries)]
        assert seen == [
            (
                "table.upload", "sam", "lab.scores", True,
                {"file": "big scores.csv", "mode": "create", "version": 1, "rows": 150_000},
            ),
            (
                "table.upload", "sam", "lab.scores", True,
                {"file": "more.txt", "mode": "append", "version": 2, "rows": 1},
            ),
            ("table.upload", "sam", "bad", False, {"file": "bad.csv", "mode": "create"}),
            ("table.update", "sam", "lab.scores", True, {"changed": ["tags"]}),
            ("table.update", "sam", "lab.scores", True, {"changed": ["tags"]}),
            ("table.update", "sam", "lab.scores", True, {"changed": ["description"]}),
        ]  # fmt: skip
        inbox = wb.ingest.inbox.directory
        assert not inbox.exists() or list(inbox.iterdir()) == []
    finally:
        wb.close()


# Remote only: the embedded SDK passes the schema straight to the service tested elsewhere.
@pytest.mark.parametrize("cli", ["remote"], indirect=True)
def test_upload_into_a_chosen_schema(cli: Cli, tmp_path: Path) -> None:
    sam = cli.as_("sam")
    path = tmp_path / "mine.csv"
    path.write_text("id,x\n1,2\n")
    done = sam("data", "upload", str(path), "--name", "mine", "--schema", "user_sam")
    assert done.stdout.strip() == "1 rows loaded into user_sam.mine (version 1, lake snapshot 1)", (
        done.stderr
    )
    theirs = sam("data", "upload", str(path), "--name", "theirs", "--schema", "user_ada")
    assert "may not upload into schema 'user_ada': it is the personal schema of ada" in (
        one_line_error(theirs)
    )
    both = sam("data", "upload", str(path), "-n", "main.x", "--schema", "user_sam")
    assert "names schema 'main' but the upload chose schema 'user_sam'" in one_line_error(both)
