"""The personal fields of a model's requests never reach the prediction log raw.

A model trained on e-mail addresses and names (and an IBAN that only its run's ``atelier.pii``
tag names) predicts; the journal on disk, the warehouse table ``predictions.<model>`` and the
predictions kept in memory hold the fields masked by the workspace's rules, pseudonyms that
still join.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from atelier.services.pii import PiiKind
from atelier.services.pii.policies import REDACTED, policies_of
from atelier.services.serving import Column, InputSchema, ModelServer
from atelier.services.serving.personal import (
    CLASSIFIER,
    TRAINING,
    PersonalData,
    classified_fields,
    has_personal_data,
    personal_fields,
    recorded_fields,
)
from atelier.services.tracking import TrackingStore
from atelier.services.tracking.references import parse_reference
from atelier.services.tracking.registry import ModelRegistry
from atelier.services.workbench import Workbench
from tests.services.serving.personal_model import (
    ACCOUNT,
    EMAIL,
    NAME,
    RECORD,
    workspace_with_contacts,
)

CONTACTS = parse_reference("contacts@champion")


@pytest.fixture(scope="module")
def contacts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    workspace = workspace_with_contacts(tmp_path_factory.mktemp("personal") / "ws")
    wb = Workbench(workspace)
    yield wb
    wb.close()


@pytest.fixture
def server(contacts: Workbench, tmp_path: Path) -> Iterator[ModelServer]:
    """A model server that ships only when asked (the journal stays on disk until then)."""
    registry = ModelRegistry(TrackingStore.for_workspace(contacts.workspace).backend_uri)
    personal = PersonalData(policies_of(contacts).masker, lambda: registry)
    server = ModelServer(
        registry, contacts.warehouse, tmp_path / "journal", flush_seconds=3600, personal=personal
    )
    yield server
    server.close()


def raw_values() -> list[str]:
    return [EMAIL, NAME, ACCOUNT, "Lovelace", "ada.lovelace"]


def test_personal_fields_come_from_the_run_tag_and_the_classifier(server: ModelServer) -> None:
    assert server.personal is not None
    fields = server.personal.fields(server.model(CONTACTS))
    assert {name: (f.kind, f.source) for name, f in fields.items()} == {
        "email": (PiiKind.EMAIL, CLASSIFIER),
        "full_name": (PiiKind.PERSON_NAME, CLASSIFIER),
        "account": (PiiKind.IBAN, TRAINING),
    }


def test_owner_marks_add_and_take_back_but_never_unmark_training(server: ModelServer) -> None:
    model = server.model(CONTACTS)
    marks = {"city": "postal_address", "full_name": None, "account": None, "nope": "email"}
    fields = personal_fields(model, {"atelier.pii": json.dumps({"account": "iban"})}, marks)
    assert {n: f.kind.value for n, f in fields.items()} == {
        "email": "email",
        "account": "iban",
        "city": "postal_address",
    }
    assert list(fields) == ["email", "account", "city"]  # the signature's order


@pytest.mark.parametrize(
    "tag",
    ["not json", "[1, 2]", json.dumps({"account": "shoe_size"}), json.dumps({"ghost": "email"})],
)
def test_a_broken_or_foreign_tag_names_nothing(tag: str) -> None:
    assert recorded_fields({"atelier.pii": tag}, {"account", "email"}) == {}


def test_a_name_alone_counts_only_for_text_without_example_values() -> None:
    schema = InputSchema(
        [
            Column("has_credit_card", "boolean"),  # named like a card number: a flag
            Column("phone", "double"),
            Column("customer_email", "string"),  # no example value says otherwise
            Column("email_domain", "string"),
            Column("iban", "string"),  # the example's values contradict the name
        ]
    )
    example = [
        {"has_credit_card": True, "phone": 1.5, "email_domain": "example.com", "iban": "n/a"}
    ]
    model = SimpleNamespace(schema=schema, example=example)
    assert classified_fields(model) == {"customer_email": PiiKind.EMAIL}  # type: ignore[arg-type]


def test_the_journal_and_the_log_table_never_hold_the_raw_values(
    server: ModelServer, contacts: Workbench, tmp_path: Path
) -> None:
    masker = policies_of(contacts).masker()
    batch = server.predict(
        CONTACTS,
        [RECORD, {**RECORD, "note": f"please write to {EMAIL} soon"}],
        caller="ada",
        app=None,
    )
    ids = [p.id for p in batch.predictions]

    # On disk, before it is shipped: the journal's segment.
    journal = b"".join(p.read_bytes() for p in (tmp_path / "journal").rglob("*.jsonl"))
    assert ids[0].encode() in journal
    for raw in raw_values():
        assert raw.encode() not in journal
    assert masker.pseudonym(EMAIL).encode() in journal

    # In memory (what feedback quotes and the prediction lookup answers).
    found = json.loads(server.find(ids[0], "contacts")["inputs"])
    assert found["email"] == masker.pseudonym(EMAIL)
    assert found["full_name"] == masker.pseudonym(NAME)
    assert found["account"] == "*" * (len(ACCOUNT) - 4) + ACCOUNT[-4:]
    assert (found["city"], found["visits"], found["note"]) == ("Leeds", 7, "asked about fees")
    assert json.loads(server.find(ids[1], "contacts")["inputs"])["note"] == REDACTED

    # In the warehouse, and what a lookup there answers once memory has forgotten.
    server.flush()
    rows = contacts.warehouse.read("contacts", schema="predictions").to_pylist()
    logged = [row for row in rows if row["prediction_id"] in ids]
    assert len(logged) == 2
    text = json.dumps(logged, default=str)
    for raw in raw_values():
        assert raw not in text
    server._recent.clear()
    again = json.loads(server.find(ids[0], "contacts")["inputs"])
    assert again == found
    # Pseudonyms join: the same person's requests share theirs, as SQL's masking gives it.
    assert {json.loads(row["inputs"])["email"] for row in logged} == {masker.pseudonym(EMAIL)}


def test_the_workspace_files_hold_no_raw_value_after_predictions_through_the_workbench(
    contacts: Workbench,
) -> None:
    batch = contacts.serving.predict(CONTACTS, [RECORD], caller="ada")
    contacts.serving.flush()
    rows = contacts.warehouse.read("contacts", schema="predictions").to_pylist()
    assert batch.predictions[0].id in {row["prediction_id"] for row in rows}
    root = contacts.workspace.root
    for path in root.rglob("*"):
        # The model's own files (its input example) and MLflow's store are the model's.
        if not path.is_file() or "mlflow" in path.relative_to(root).as_posix():
            continue
        data = path.read_bytes()
        for raw in (EMAIL, ACCOUNT):
            assert raw.encode() not in data, f"{raw} in {path}"


def test_free_text_is_masked_wherever_the_personal_data_sits() -> None:
    long_text = "fine. " * 2000 + "call +44 20 7946 0958 please"
    assert has_personal_data(long_text)
    assert not has_personal_data("the fees went up in march")


class _Model:
    """A served version as :class:`PersonalData` reads it (no MLflow needed)."""

    name, version = "people", 1
    info = SimpleNamespace(tags={"atelier.pii": json.dumps({"dob": "date_of_birth"})}, run_id=None)
    schema = InputSchema(
        [
            Column("email", "string"),
            Column("dob", "datetime"),
            Column("segment", "string"),
            Column("tags", "any"),
            Column("age", "long"),
        ]
    )
    example = [{"email": "x@example.org", "segment": "mass", "age": 40}]

    def categories(self) -> dict[str, list[str]]:
        return {"segment": ["mass", "premier"]}


def test_every_kind_of_field_is_masked_or_kept_as_it_should() -> None:
    from datetime import datetime

    from atelier.services.pii.policies import DEFAULT_RULES, Masker

    masker = Masker(DEFAULT_RULES, b"k" * 32)
    personal = PersonalData(lambda: masker)
    model = _Model()
    row = {
        "email": EMAIL,
        "dob": datetime(1990, 5, 17),
        "segment": "mass",
        "tags": ["vip", {"contact": EMAIL}],
        "age": 40,
    }
    kept = personal.mask_record(model, row)  # type: ignore[arg-type]
    assert kept == {
        "email": masker.pseudonym(EMAIL),
        "dob": 1990,
        "segment": "mass",
        "tags": REDACTED,
        "age": 40,
    }
    # A value outside the known categories is free text: looked at like any other.
    assert personal.mask_record(model, {**row, "segment": EMAIL})["segment"] == REDACTED  # type: ignore[arg-type]
    assert personal.mask_record(model, {**row, "tags": ["vip"]})["tags"] == ["vip"]  # type: ignore[arg-type]
    # Marks come through the app: an owner's mark is read again once forgotten.
    marks: dict[str, str | None] = {"segment": "person_name"}
    personal = PersonalData(lambda: masker, marks=lambda app: dict(marks))
    assert personal.mask_record(model, row, "app")["segment"] == masker.pseudonym("mass")  # type: ignore[arg-type]
    marks["segment"] = None
    assert personal.mask_record(model, row, "app")["segment"] == masker.pseudonym("mass")  # type: ignore[arg-type]
    personal.forget("app")
    assert personal.mask_record(model, row, "app")["segment"] == "mass"  # type: ignore[arg-type]
