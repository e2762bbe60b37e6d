"""The serving runtime that goes into model images, run here in-process on a free port: the same
answers and the same refusals (422s naming the field) as Atelier's own serving of the model."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from atelier.errors import InvalidInput
from atelier.services.containers import runtime
from atelier.services.serving import records_from_body
from atelier.services.tracking.references import parse_reference
from atelier.services.workbench import Workbench
from tests.services.serving.helpers import EXAMPLE, workspace_with_model
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS

pytestmark = [
    *(pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workbench, str]]:
    """Atelier's serving of churn@champion, and the runtime serving the same files."""
    workspace = workspace_with_model(tmp_path_factory.mktemp("runtime") / "ws")
    wb = Workbench(workspace)
    info = wb.models.resolve("churn@champion")
    server = runtime.serve(info.path, {"name": "churn", "version": info.version}, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield wb, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        wb.close()


def atelier_answers(wb: Workbench, body: Any) -> dict[str, Any]:
    records, batch = records_from_body(body)
    result = wb.serving.predict(parse_reference("churn@champion"), records, caller="test")
    return result.as_dict() if batch else result.single_dict()


def without_ids(answer: dict[str, Any]) -> dict[str, Any]:
    found = {k: v for k, v in answer.items() if k != "id"}
    if "predictions" in found:
        found["predictions"] = [without_ids(p) for p in found["predictions"]]
    return found


def test_the_runtime_answers_as_atelier_does(served: tuple[Workbench, str]) -> None:
    wb, url = served
    second = {**EXAMPLE, "age": 67, "segment": "premier", "complaints": 0, "note": ""}
    bodies: list[Any] = [
        EXAMPLE,
        [EXAMPLE, second],
        {"records": [second]},
        {"dataframe_split": {"columns": list(EXAMPLE), "data": [list(EXAMPLE.values())]}},
    ]
    with httpx.Client() as http:
        assert http.get(f"{url}/health").json() == {
            "status": "ok",
            "model": "churn",
            "version": 1,
        }
        for body in bodies:
            got = http.post(f"{url}/predict", json=body)
            assert got.status_code == 200, got.text
            answer = got.json()
            assert without_ids(answer) == without_ids(atelier_answers(wb, body))
            ids = [p["id"] for p in answer.get("predictions", [answer])]
            assert all(len(i) == 32 for i in ids) and len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "body",
    [
        {**EXAMPLE, "age": "forty"},
        {**EXAMPLE, "shoe_size": 44},
        {k: v for k, v in EXAMPLE.items() if k != "segment"},
        [EXAMPLE, {**EXAMPLE, "signup_date": "not a date"}],
        {"records": "all of them"},
        {"dataframe_split": {"columns": ["age"], "data": [[1, 2]]}},
        "just a string",
        [],
    ],
)
def test_the_runtime_refuses_what_atelier_refuses_with_the_same_message(
    served: tuple[Workbench, str], body: Any
) -> None:
    wb, url = served
    with pytest.raises(InvalidInput) as refused:
        atelier_answers(wb, body)
    got = httpx.post(f"{url}/predict", json=body)
    assert got.status_code == 422
    assert got.json() == {"detail": str(refused.value)}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON (line 1, column 2"),
        (b'{"age": NaN}', "NaN is not a JSON value"),
        (b'{"age": 1, "age": 2}', "appears twice"),
        (b"[" * 100 + b"]" * 100, "nested deeper than 64"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_malformed_bodies_are_422s_that_say_why(
    served: tuple[Workbench, str], raw: bytes, says: str
) -> None:
    _, url = served
    got = httpx.post(f"{url}/predict", content=raw)
    assert got.status_code == 422
    assert says in got.json()["detail"]


def test_other_routes_and_oversized_bodies(served: tuple[Workbench, str]) -> None:
    _, url = served
    assert httpx.get(f"{url}/admin").status_code == 404
    assert httpx.post(f"{url}/health").status_code == 404
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\n"
            + f"Content-Length: {runtime.MAX_BODY + 1}\r\n\r\n".encode()
        )
        received = b""
        while chunk := raw.recv(4096):  # the runtime closes the connection of a refused body
            received += chunk
        answer = received.decode()
    assert answer.startswith("HTTP/1.1 413") and "larger than" in answer


def test_the_runtime_files_import_nothing_of_atelier_but_what_is_copied(tmp_path: Path) -> None:
    """What goes into the image imports only the copied pieces (and stdlib/MLflow), and the
    copied files run there: laid out as in the image, the runtime imports them, not the
    installed package, and nothing beyond the standard library until a model loads."""
    import ast
    import shutil
    import subprocess
    import sys

    from atelier.services.containers.context import runtime_files

    files = runtime_files()
    copied = {
        relative.removesuffix(".py").replace("/", ".") for relative in files if "/" in relative
    }
    assert copied == {
        "atelier.errors",
        "atelier.services.serving.schema",
        "atelier.services.serving.model_worker",  # shared with the model workers
    }
    for relative, source in files.items():
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("atelier")
            ):
                assert node.module in copied, f"{relative} imports {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("atelier"), f"{relative}: {alias.name}"
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, tmp_path / relative)
    for package in ("atelier", "atelier/services", "atelier/services/serving"):
        (tmp_path / package / "__init__.py").write_text("")
    probe = (
        "import sys; sys.path.insert(0, '.'); import atelier_runtime, atelier; "
        "print(atelier.__file__); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('numpy', 'pandas', 'mlflow', 'sklearn', 'pydantic')))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert ran.stdout.split("\n")[:2] == [str(tmp_path / "atelier" / "__init__.py"), "[]"]
