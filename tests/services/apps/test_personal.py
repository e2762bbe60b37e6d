"""Apps keep no raw personal data: their form marks personal fields, feedback masks the
personal data of comments, and the owner (only) marks the fields the model does not know."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from atelier.backends.metadata import AppFeedback
from atelier.errors import InvalidInput, NotFound, PermissionDenied
from atelier.services.auth import Principal
from atelier.services.pii.policies import REDACTED, policies_of
from atelier.services.workbench import Workbench
from tests.services.serving.personal_model import (
    ACCOUNT,
    EMAIL,
    NAME,
    RECORD,
    workspace_with_contacts,
)

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def wb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    workspace = workspace_with_contacts(tmp_path_factory.mktemp("apps-personal") / "ws")
    workbench = Workbench(workspace)
    for name, role in (("ada", "scientist"), ("sam", "scientist"), ("vic", "viewer")):
        workbench.users.create(name, role, PASSWORD)
    workbench.apps.create("contacts-app", "contacts@champion", person(workbench, "ada"))
    workbench.apps.registry.share("contacts-app", person(workbench, "ada"), users=["vic"])
    yield workbench
    workbench.close()


def person(wb: Workbench, name: str) -> Principal:
    user = wb.users.get(name)
    return Principal(user.id, user.name, user.role, "local")


def test_the_form_marks_personal_fields_and_never_shows_their_example_values(
    wb: Workbench,
) -> None:
    app = wb.apps.registry.get("contacts-app")
    _, fields = wb.apps.model_of(app)
    by_name = {f.name: f for f in fields}
    assert {n: f.personal for n, f in by_name.items() if f.personal} == {
        "email": "email",
        "full_name": "person_name",
        "account": "iban",
    }
    assert by_name["email"].personal_label == "personal data: email"
    for name in ("email", "full_name", "account"):
        assert by_name[name].default is None and by_name[name].options == []
    assert by_name["city"].widget == "category" and by_name["city"].options
    assert by_name["visits"].default is not None
    detail = wb.apps.detail("contacts-app", person(wb, "vic"))
    assert {f["name"]: f["personal"] for f in detail["form"]}["email"] == "email"
    assert {p["name"]: p["source"] for p in detail["personal"]} == {
        "email": "classifier",
        "full_name": "classifier",
        "account": "training",
    }
    assert EMAIL not in json.dumps(detail)


def test_feedback_keeps_no_raw_personal_data(wb: Workbench) -> None:
    app = wb.apps.registry.get("contacts-app")
    vic = person(wb, "vic")
    masker = policies_of(wb).masker()
    batch = wb.apps.predict(app, vic, record=RECORD)
    pid = batch.predictions[0].id
    entry = wb.apps.give_feedback(
        app, vic, pid, "wrong", correct_value="respond", comment=f"She wrote from {EMAIL}"
    )
    assert entry.comment == REDACTED and entry.correct_value == "respond"
    assert entry.inputs["email"] == masker.pseudonym(EMAIL)
    plain = wb.apps.give_feedback(app, vic, pid, "right", comment="spot on")
    assert plain.comment == "spot on"
    leaked = wb.apps.give_feedback(app, vic, pid, "wrong", correct_value=f"ask Mr Babbage {NAME}")
    assert leaked.correct_value == REDACTED

    with wb.db.session() as session:
        stored = session.scalars(select(AppFeedback)).all()
        text = json.dumps([(r.comment, r.correct_value, r.inputs) for r in stored])
    for raw in (EMAIL, NAME, ACCOUNT):
        assert raw not in text

    wb.feedback.ship()
    rows = wb.warehouse.read("contacts_app", schema="feedback").to_pylist()
    assert {row["comment"] for row in rows} >= {REDACTED, "spot on"}
    text = json.dumps(rows, default=str)
    for raw in (EMAIL, NAME, ACCOUNT):
        assert raw not in text
    summary = wb.apps.feedback_summary("contacts-app", person(wb, "ada"))
    assert EMAIL not in json.dumps(summary.as_dict(), default=str)


def test_only_the_owner_or_an_admin_marks_fields_and_refusals_are_audited(wb: Workbench) -> None:
    for name in ("sam", "vic"):
        with pytest.raises(PermissionDenied, match="owner of app 'contacts-app'"):
            wb.apps.mark_personal("contacts-app", "city", "postal_address", person(wb, name))
    refused = wb.audit.entries(action="app.personal", actor="sam")
    assert refused and not refused[0].success
    assert "city" not in wb.apps.marks.get("contacts-app")


def test_the_owner_marks_adds_and_takes_back_fields(wb: Workbench) -> None:
    ada = person(wb, "ada")
    wb.users.create("root2", "admin", PASSWORD)
    wb.apps.create("marks-app", "contacts@champion", ada)
    app = wb.apps.registry.get("marks-app")
    try:
        found = wb.apps.mark_personal("marks-app", "city", "Postal_Address", ada)
        assert found["city"].source == "owner"
        _, fields = wb.apps.model_of(app)
        city = next(f for f in fields if f.name == "city")
        assert (city.personal, city.widget, city.options, city.default) == (
            "postal_address",
            "text",
            [],
            None,
        )
        logged = wb.apps.predict(app, ada, record={**RECORD, "city": "Leeds LS1 4AP"})
        inputs = json.loads(wb.serving.find(logged.predictions[0].id, "contacts")["inputs"])
        assert inputs["city"] == "LS1"  # the postcode area

        # A classifier's guess can be taken back; training's record cannot.
        found = wb.apps.mark_personal("marks-app", "full_name", "none", person(wb, "root2"))
        assert "full_name" not in found
        with pytest.raises(InvalidInput, match="stays personal"):
            wb.apps.mark_personal("marks-app", "account", "none", ada)
        with pytest.raises(NotFound, match="no field 'ghost'"):
            wb.apps.mark_personal("marks-app", "ghost", "email", ada)
        with pytest.raises(InvalidInput, match="not a kind of personal data"):
            wb.apps.mark_personal("marks-app", "city", "shoe_size", ada)
        found = wb.apps.mark_personal("marks-app", "full_name", "auto", ada)
        assert found["full_name"].source == "classifier"
        assert wb.audit.entries(action="app.personal", actor="ada")[0].success
        # Other apps of the same model are not changed.
        assert "city" not in wb.apps.personal_fields(
            wb.apps.registry.get("contacts-app"), wb.apps.model_of(app)[0]
        )
    finally:
        wb.apps.delete("marks-app", ada)
    assert wb.apps.marks.get("marks-app") == {}


def test_unreadable_marks_stop_predictions_instead_of_logging_raw_values(wb: Workbench) -> None:
    ada = person(wb, "ada")
    wb.apps.create("broken-app", "contacts@champion", ada)
    app = wb.apps.registry.get("broken-app")
    try:
        wb.apps.marks.set("broken-app", "city", "postal_address")
        (wb.apps.marks.folder / "broken-app.json").write_text("{not json", encoding="utf-8")
        assert wb.serving.personal is not None
        wb.serving.personal.forget("broken-app")
        with pytest.raises(InvalidInput, match="personal-data marks of app 'broken-app'"):
            wb.apps.predict(app, ada, record=RECORD)
    finally:
        wb.apps.delete("broken-app", ada)
