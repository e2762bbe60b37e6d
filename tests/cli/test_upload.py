"""``atelier data upload`` as users run it: embedded on a workspace, and remote against a real
server (the file streamed in chunks); one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from atelier.config import Workspace
from atelier.services.workbench import Workbench
from tests.cli.helpers import atelier, one_line_error
from tests.conftest import PASSWORD, RunningServer


def test_embedded_upload_append_json_and_errors(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert atelier("init", str(ws)).returncode == 0
    (tmp_path / "sales.csv").write_text("id;amount\n1;10.5\n2;20\n")
    created = atelier(
        "data", "upload", str(tmp_path / "sales.csv"), "--name", "sales",
        "--type", "amount=DECIMAL(10,2)", cwd=ws,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "2 rows loaded into main.sales (version 1)"

    (tmp_path / "more.txt").write_text("amount|id\n5|3\n")
    appended = atelier(
        "data", "upload", str(tmp_path / "more.txt"), "-n", "sales", "--mode", "append",
        "--delimiter", "|", "--json", "--workspace", str(ws),
    )  # fmt: skip
    assert appended.returncode == 0, appended.stderr
    result = json.loads(appended.stdout)
    assert (result["table"], result["rows"], result["mode"]) == ("main.sales", 1, "append")
    assert result["columns"][1] == {"name": "amount", "type": "DECIMAL(10,2)"}

    (tmp_path / "bad.csv").write_text("id,amount\n1,2\n2,lots\n")
    bad = atelier(
        "data", "upload", str(tmp_path / "bad.csv"), "--name", "bad", "--type", "amount=INTEGER",
        cwd=ws,
    )  # fmt: skip
    assert one_line_error(bad) == (
        "error: bad.csv: line 3, column 2 (amount): 'lots' is not a valid INTEGER; "
        "correct the value or read the column as another type (e.g. amount=VARCHAR)"
    )
    usage = atelier("data", "upload", str(tmp_path / "sales.csv"), "-n", "x", "--type", "amount")
    assert "write COLUMN=TYPE" in one_line_error(usage) and usage.returncode == 2

    workbench = Workbench(Workspace.open(ws, environ={}))
    try:
        snapshots = workbench.warehouse.snapshots("sales")
    finally:
        workbench.close()
    assert [s.rows_inserted for s in snapshots] == [2, 1]


def test_remote_upload_streams_the_file(
    server: RunningServer, workbench: Workbench, tmp_path: Path
) -> None:
    workbench.users.create("ada", "scientist", PASSWORD)
    token = workbench.tokens.create("ada", "cli", 1)[1]
    lines = ["id,name,score"] + [f"{i},name {i},{i / 7:.4f}" for i in range(150_000)]
    path = tmp_path / "big scores.csv"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > 3 * 2**20  # several chunks on the wire
    env = {"ATELIER_URL": server.url, "ATELIER_TOKEN": token}
    done = atelier("data", "upload", str(path), "--name", "lab.scores", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("150,000 rows loaded into lab.scores (version ")
    snapshot = workbench.warehouse.snapshots("scores", schema="lab")[0]
    assert (snapshot.author, snapshot.message) == ("ada", "upload big scores.csv")
    assert workbench.warehouse.read("scores", schema="lab").num_rows == 150_000

    (tmp_path / "r.csv").write_text("a,b\n1,2\n3\n")
    ragged = atelier("data", "upload", str(tmp_path / "r.csv"), "--name", "r", env=env)
    assert one_line_error(ragged).startswith("error: r.csv: line 3: expected 2 columns, found 1")
    assert one_line_error(ragged).endswith("(HTTP 422)")
    missing = atelier("data", "upload", str(tmp_path / "nope.csv"), "--name", "r", env=env)
    assert "nope.csv: no such file" in one_line_error(missing)
    no_token = atelier("data", "upload", str(path), "--name", "x", env={"ATELIER_URL": server.url})
    assert "set ATELIER_TOKEN" in one_line_error(no_token)
    inbox = workbench.ingest.inbox.directory
    assert not inbox.exists() or list(inbox.iterdir()) == []
