"""``atelier apps personal`` and ``apps show``, embedded and against a server: the owner marks
a field, everyone else is refused in one line, and training's record cannot be unmarked."""

from __future__ import annotations

import json

import pytest

from atelier.config import Workspace
from tests.cli.conftest import Cli
from tests.cli.helpers import one_line_error
from tests.services.serving.personal_model import EMAIL, register_contacts_model
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS

pytestmark = [pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS]


def ok(result: object) -> str:
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    return str(result.stdout)  # type: ignore[attr-defined]


def test_the_owner_marks_personal_fields(cli: Cli) -> None:
    from atelier.services.tracking import TrackingStore

    store = TrackingStore.for_workspace(Workspace.open(cli.root, environ={}))
    store.prepare()
    register_contacts_model(store.backend_uri, store.artifacts_dir / "contacts")
    ok(cli("apps", "create", "contacts-app", "--model", "contacts@champion"))
    ok(cli("apps", "share", "contacts-app", "--user", "vic"))

    shown = ok(cli.as_("vic")("apps", "show", "contacts-app"))
    assert "personal data: email" in shown and "personal data: iban" in shown
    assert EMAIL not in shown

    out = ok(cli("apps", "personal", "contacts-app", "city", "postal_address"))
    assert "city" in out and "postal_address" in out and "(owner)" in out
    detail = json.loads(ok(cli("apps", "show", "contacts-app", "--json")))
    assert {p["name"]: p["source"] for p in detail["personal"]}["city"] == "owner"
    assert next(f for f in detail["form"] if f["name"] == "city")["personal"] == "postal_address"

    for who, why in (("vic", "may not"), ("sam", "only the owner of app 'contacts-app'")):
        error = one_line_error(cli.as_(who)("apps", "personal", "contacts-app", "city", "none"))
        assert why in error
    assert "stays personal" in one_line_error(
        cli("apps", "personal", "contacts-app", "account", "none")
    )
    assert "not a kind of personal data" in one_line_error(
        cli("apps", "personal", "contacts-app", "city", "shoe_size")
    )
    assert "no field 'ghost'" in one_line_error(
        cli("apps", "personal", "contacts-app", "ghost", "email")
    )
    out = ok(cli("apps", "personal", "contacts-app", "city", "auto"))
    assert "city" not in out
