"""Browser hardening and request limits, attacked: security headers on every kind of answer,
body limits that hold whatever the ``Content-Length`` says, and no 5xx from any malformed body
on any route that takes one."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atelier.config import Workspace
from atelier.server.app import create_app
from atelier.server.body_limit import Limits
from atelier.server.headers import PORTAL_POLICY, is_tool
from atelier.server.security import app_routes, is_public
from atelier.services.workbench import Workbench
from tests.conftest import Accounts


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    # Parsing and headers do not depend on the metadata database: SQLite only.
    return f"sqlite:///{tmp_path / 'meta.db'}"


# -- headers -------------------------------------------------------------------------------


def portal_policy(response: Any) -> str:
    policies = response.headers.get_list("content-security-policy")
    assert PORTAL_POLICY in policies, response.headers
    return PORTAL_POLICY


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/", "admin"),  # a page
        ("/data/sql", "scientist"),  # a page with charts
        ("/api/v1/tables", "scientist"),  # the API
        ("/api/v1/users", "scientist"),  # a 403
        ("/api/v1/no-such-route", "admin"),  # a 404
        ("/static/atelier.css", None),  # a static file
        ("/static/nothing.js", None),  # a missing static file
        ("/login", None),  # the public login page
        ("/api/v1/tables", None),  # a 401
        ("/health", None),
    ],
)
def test_every_portal_answer_carries_the_security_headers(
    client: Any, accounts: Accounts, path: str, who: str | None
) -> None:
    headers = accounts.headers(who) if who else {}
    response = client.get(path, headers=headers, follow_redirects=False)
    policy = portal_policy(response)
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style-src")[0]
    assert "'unsafe-eval'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"


def test_refused_bodies_and_malformed_requests_carry_the_headers(
    client: Any, accounts: Accounts
) -> None:
    too_big = client.post(
        "/api/v1/sql", content=b"x" * (33 * 1000**2), headers=accounts.headers("admin")
    )
    assert too_big.status_code == 413
    portal_policy(too_big)
    bad = client.post(
        "/api/v1/models/m/predict",
        content=b"[" * 5000,
        headers={**accounts.headers("admin"), "content-type": "application/json"},
    )
    assert bad.status_code == 422 and "nested deeper" in bad.json()["detail"]
    portal_policy(bad)


def test_tools_get_headers_that_do_not_replace_their_own_policy() -> None:
    assert is_tool("/notebooks/user/lab") and is_tool("/mlflow/#/experiments")
    assert is_tool("/apps/demo/static/app.js")
    assert not is_tool("/apps/demo/-/feedback")  # the portal's own page about an app
    assert not is_tool("/apps") and not is_tool("/api/v1/apps")
    assert not is_tool("/notebooks")  # the portal's notebooks page


def test_templates_hold_no_inline_script_or_event_handler() -> None:
    """The policy forbids them; one left in a template is a feature broken in the browser."""
    templates = Path(__file__).parents[2] / "src/atelier/server/templates"
    handler = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
    inline = re.compile(r"<script(?![^>]*\b(src|type=\"application/json\"))[^>]*>", re.I)
    found = []
    for template in templates.rglob("*.html"):
        text = template.read_text()
        if handler.search(text) or inline.search(text) or "javascript:" in text:
            found.append(template.name)
    assert found == []


# -- body limits -----------------------------------------------------------------------------


def asgi_post(
    app: Any, path: str, chunks: Iterator[bytes], headers: list[tuple[bytes, bytes]]
) -> tuple[int, bytes, int]:
    """POST through the ASGI interface with a body that arrives chunk by chunk; returns
    ``(status, body, chunks read by the app)``."""
    pulled = 0
    answer: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    return answer["status"], answer["body"], pulled


def endless(chunk: bytes) -> Iterator[bytes]:
    while True:
        yield chunk


@pytest.fixture
def small_limits(tmp_path: Path, workspace: Workspace) -> Iterator[Any]:
    """The app with a 1 MB general and a 4 MB upload limit."""
    settings = workspace.settings.model_copy(deep=True)
    settings.server.max_body_size = "1MB"
    settings.server.max_upload_size = "4MB"
    workbench = Workbench(Workspace(workspace.root, settings))
    workbench.users.create("admin1", "admin", "correct horse battery")
    token = workbench.tokens.create("admin1", "test", 1)[1]
    try:
        yield create_app(workbench), [(b"authorization", f"Bearer {token}".encode())]
    finally:
        workbench.close()


JSON = (b"content-type", b"application/json")
CHUNK = b" " * 64 * 1024


def test_an_endless_chunked_body_is_cut_at_the_limit(small_limits: Any) -> None:
    """No Content-Length and a body that never ends: the app stops reading just past 1 MB;
    memory does not grow with the body, since the test would never end if it were held."""
    app, auth = small_limits
    status, body, pulled = asgi_post(app, "/api/v1/models/m/predict", endless(CHUNK), [*auth, JSON])
    assert status == 413
    assert b"server.max_body_size" in body and b"ATELIER_SERVER_MAX_BODY_SIZE" in body
    assert pulled == 1_000_000 // len(CHUNK) + 1


@pytest.mark.parametrize("declared", [b"10", b"0", b"1000000"])
def test_a_content_length_that_lies_changes_nothing(small_limits: Any, declared: bytes) -> None:
    app, auth = small_limits
    headers = [*auth, JSON, (b"content-length", declared)]
    status, _, pulled = asgi_post(app, "/api/v1/sql", endless(CHUNK), headers)
    assert status == 413
    assert pulled <= 1_000_000 // len(CHUNK) + 1


def test_a_declared_length_over_the_limit_is_refused_before_reading(small_limits: Any) -> None:
    app, auth = small_limits
    headers = [*auth, JSON, (b"content-length", b"1000001")]
    status, _, pulled = asgi_post(app, "/api/v1/tokens", endless(CHUNK), headers)
    assert (status, pulled) == (413, 0)
    # Anonymous callers are refused the same way, without a database round trip.
    status, _, pulled = asgi_post(app, "/api/v1/tokens", endless(CHUNK), [JSON, headers[-1]])
    assert (status, pulled) == (413, 0)


def test_uploads_have_their_own_limit(small_limits: Any) -> None:
    app, auth = small_limits
    multipart = (b"content-type", b"multipart/form-data; boundary=xyz")
    start = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'

    def body() -> Iterator[bytes]:
        yield start
        yield from endless(b"1,2\n" * 16 * 1024)

    status, message, pulled = asgi_post(app, "/api/v1/uploads", body(), [*auth, multipart])
    assert status == 413 and b"server.max_upload_size" in message
    assert 4_000_000 // (64 * 1024) <= pulled <= 4_000_000 // (64 * 1024) + 2
    limits = Limits(body=1, upload=2)
    assert limits.for_path("/api/v1/uploads/preview")[0] == 2
    assert limits.for_path("/mlflow/api/2.0/mlflow-artifacts/artifacts/1/a/b.bin")[0] == 2
    assert limits.for_path("/mlflow/api/2.0/mlflow/runs/create")[0] == 1
    assert limits.for_path("/apps/demo/-/predict")[0] == 1
    assert limits.for_path("/api/v1/uploadsX")[0] == 2  # a prefix, still an upload path
    assert limits.for_path("/api/v1/sql")[0] == 1


def test_bodies_under_the_limit_pass(small_limits: Any) -> None:
    app, auth = small_limits
    chunks = iter([b'{"sql": "SELECT 1 AS x"', b" " * 900_000, b"}"])
    status, body, _ = asgi_post(app, "/api/v1/sql", chunks, [*auth, JSON])
    assert status == 200, body


# -- the malformed-bodies sweep ---------------------------------------------------------------


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "nobody", path)


MALFORMED: list[tuple[str, dict[str, str], bytes]] = [
    ("deep JSON", {"content-type": "application/json"}, b"[" * 100_000),
    ("deep JSON object", {"content-type": "application/json"}, b'{"a":' * 50_000),
    ("invalid UTF-8", {"content-type": "application/json"}, b'{"name": "\xff\xfe\xc3("}'),
    ("latin-1", {"content-type": "application/json; charset=latin-1"}, b'{"name": "caf\xe9"}'),
    ("not an object", {"content-type": "application/json"}, b"[1, 2, 3]"),
    ("a string", {"content-type": "application/json"}, b'"text"'),
    ("null", {"content-type": "application/json"}, b"null"),
    ("huge integer", {"content-type": "application/json"}, b'{"name": ' + b"9" * 5000 + b"}"),
    ("huge float", {"content-type": "application/json"}, b'{"name": 1e999, "x": -1e400}'),
    ("NaN", {"content-type": "application/json"}, b'{"name": NaN, "sql": Infinity}'),
    ("duplicate keys", {"content-type": "application/json"}, b'{"name": "a", "name": "b"}'),
    ("truncated", {"content-type": "application/json"}, b'{"name": "a'),
    ("empty JSON", {"content-type": "application/json"}, b""),
    ("wrong type", {"content-type": "text/plain"}, b'{"name": "a"}'),
    ("xml", {"content-type": "application/xml"}, b"<a>b</a>"),
    (
        "form invalid UTF-8",
        {"content-type": "application/x-www-form-urlencoded"},
        b"name=%ff%fe&x=\xff",
    ),
    ("form garbage", {"content-type": "application/x-www-form-urlencoded"}, b"&&==%%%"),
    ("multipart no boundary", {"content-type": "multipart/form-data"}, b"--x\r\n\r\n"),
    (
        "multipart garbage",
        {"content-type": "multipart/form-data; boundary=xyz"},
        b"garbage\x00\xff",
    ),
    (
        "multipart invalid UTF-8",
        {"content-type": "multipart/form-data; boundary=xyz"},
        b'--xyz\r\nContent-Disposition: form-data; name="name\xff"\r\n\r\n\xff\xfe\r\n--xyz--\r\n',
    ),
    (
        "multipart unfinished",
        {"content-type": "multipart/form-data; boundary=xyz"},
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n1,2',
    ),
    ("arrow garbage", {"content-type": "application/vnd.apache.arrow.stream"}, b"\x00\xff" * 64),
]


#: Percent-escapes that decode to no UTF-8, and a raw byte over 0x7f.
BAD_QUERY = "?name=%ff%fe&version=%c3%28&alias=%ed%a0%80&project=\xff"


def sweep_routes(client: Any) -> list[tuple[str, str]]:
    routes = []
    for route in app_routes(client.app):
        if is_public(route.path) or is_tool(concrete(route.path) + "/x"):
            continue  # the proxied tools parse their own bodies
        for method in sorted(route.methods & {"POST", "PUT", "PATCH"}):
            routes.append((method, concrete(route.path)))
    return routes


# A multipart body cut short leaves the file part's spooled temporary file to the garbage
# collector on the routes that parse forms (a ResourceWarning, not an error answer).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_no_malformed_body_gets_a_5xx_on_any_route(client: Any, accounts: Accounts) -> None:
    from fastapi.testclient import TestClient

    routes = sweep_routes(client)
    client = TestClient(client.app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    assert len(routes) > 20
    failures = []
    # Query strings that are not UTF-8, once per route with a well-formed body.
    attempts = [("", *case) for case in MALFORMED]
    attempts.append((BAD_QUERY, "bad query", {"content-type": "application/json"}, b"{}"))
    for method, path in routes:
        for query, label, headers, body in attempts:
            response = client.request(
                method, path + query, content=body, headers={**accounts.headers("admin"), **headers}
            )
            answered_json = response.headers.get("content-type") == "application/json"
            if response.status_code >= 500:
                failures.append(f"{method} {path}{query} {label}: {response.status_code}")
            elif response.status_code >= 400 and answered_json and not response.json()["detail"]:
                failures.append(f"{method} {path}{query} {label}: no message")
    assert not failures, "\n".join(failures)


def test_the_mlflow_gateway_refuses_deep_json_in_mlflow_s_format(
    client: Any, accounts: Accounts
) -> None:
    """The gateway reads JSON bodies to check them: one too deep for any parser is a 400 in
    MLflow's error shape (so that MLflow clients show the message), not a 500."""
    from fastapi.testclient import TestClient

    client = TestClient(client.app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    for body in (b"[" * 100_000, b'{"a":' * 50_000, b'"' + b"[" * 100_000 + b'"'):
        response = client.post(
            "/mlflow/api/2.0/mlflow/runs/create",
            content=body,
            headers={**accounts.headers("admin"), "content-type": "application/json"},
        )
        assert response.status_code == 400
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_a_real_server_cuts_a_chunked_body_at_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the wire, with uvicorn: a chunked body with no end is answered 413 while it is
    still being sent, long before the 64 MB the client would send."""
    import select
    import socket
    from urllib.parse import urlsplit

    from atelier.config import init_workspace
    from tests.conftest import start_server

    monkeypatch.setenv("ATELIER_SERVER_MAX_BODY_SIZE", "1MB")
    root, _ = init_workspace(tmp_path / "ws")
    workspace = Workspace.open(root)
    wb = Workbench(workspace)
    wb.users.create("admin1", "admin", "correct horse battery")
    token = wb.tokens.create("admin1", "test", 1)[1]
    wb.close()
    server = start_server(workspace)
    try:
        address = urlsplit(server.url)
        sent = 0
        with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
            sock.sendall(
                b"POST /api/v1/sql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer " + token.encode() + b"\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
            while sent < 64 * 2**20:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server has answered
                try:
                    sock.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break  # the server has answered and closed
                sent += 0x10000
            answer = b""
            # Up to the close that follows the answer (a reset, as the body was not all read).
            with contextlib.suppress(ConnectionResetError):
                while part := sock.recv(65536):
                    answer += part
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"server.max_body_size" in answer and b"connection: close" in answer.lower()
        assert sent < 16 * 2**20
    finally:
        server.stop()
