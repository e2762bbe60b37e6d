"""The upload page in-process: the drop zone, the type choices, the script; roles."""

from __future__ import annotations

from tests.conftest import Accounts

HTML = {"Accept": "text/html"}


def test_upload_page(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/data/upload", headers={**HTML, **accounts.headers("scientist")})
    assert page.status_code == 200
    text = page.text
    assert "<h1>Upload data</h1>" in text
    assert 'data-testid="drop-zone"' in text and 'type="file"' in text
    assert '<script src="/static/upload.js" defer></script>' in text
    assert 'data-types=\'["VARCHAR", "BIGINT"' in text
    for mode in ("create", "replace", "append"):
        assert f'<option value="{mode}">{mode}</option>' in text
    assert 'accept=".csv,.tsv' in text
    script = client.get("/static/upload.js")
    assert script.status_code == 200 and "upload.onprogress" in script.text
    assert "X-CSRF-Token" in script.text and "/api/v1/uploads/preview" in script.text


def test_upload_page_roles(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    viewer = client.get("/data/upload", headers={**HTML, **accounts.headers("viewer")})
    assert viewer.status_code == 403
    anonymous = client.get("/data/upload", headers=HTML, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=/data/upload"
    admin = client.get("/data/upload", headers={**HTML, **accounts.headers("admin")})
    assert admin.status_code == 200
