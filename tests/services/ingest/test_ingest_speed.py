"""What keeps a CSV upload at DuckDB's own speed and memory, pinned (never timed): no pandas
loaded for a file, each snapshot's author and message recorded exactly without bound
parameters, the upload's version found again by its id."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from atelier.services.ingest import Ingest
from tests.services.ingest.conftest import write

UPLOAD = """
import json, sys
from pathlib import Path
from atelier.backends.warehouse import Warehouse
from atelier.services.ingest import Ingest
root, csv, ext = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
warehouse = Warehouse(str(root / "lake.sqlite"), root / "lake", extension_directory=ext)
ingest = Ingest(None, warehouse, root / "uploads")
first = ingest.upload(csv, "sales", by="ada")
second = ingest.upload(csv, "sales", mode="append", by="ada")
print(json.dumps({"rows": [first.rows, second.rows], "versions": [first.version,
    second.version], "pandas": "pandas" in sys.modules, "numpy": "numpy" in sys.modules}))
"""


def test_a_file_upload_never_loads_pandas(tmp_path: Path, extension_dir: Path) -> None:
    csv = write(tmp_path / "sales.csv", "id,amount,day\n1,2.5,2024-01-02\n2,3.5,2024-01-03\n")
    done = subprocess.run(
        [sys.executable, "-c", UPLOAD, str(tmp_path), str(csv), str(extension_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rows"] == [2, 2]
    assert result["versions"][1] > result["versions"][0]
    assert result["pandas"] is False and result["numpy"] is False


def test_author_and_file_names_with_quotes_are_recorded_as_given(
    ingest: Ingest, tmp_path: Path
) -> None:
    csv = write(tmp_path / "o'brien's; DROP TABLE x.csv", "id\n1\n")
    result = ingest.upload(csv, "quoted", by="o'brien -- '')")
    snapshot = ingest.warehouse.snapshots("quoted")[-1]
    assert snapshot.snapshot_id == result.version
    assert snapshot.author == "o'brien -- '')"
    assert snapshot.message == "upload o'brien's; DROP TABLE x.csv"
    assert [t.name for t in ingest.warehouse.tables()] == ["quoted"]
