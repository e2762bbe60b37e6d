"""PII tags of columns: suggested after uploads, confirmed, changed and removed by owners and
admins only, audited, never failing an upload (real workbench, SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from atelier.errors import InvalidInput, NotFound, PermissionDenied
from atelier.services.auth import Principal
from atelier.services.workbench import Workbench

ADA = Principal(1, "ada", "admin", "token")
SAM = Principal(2, "sam", "scientist", "token")
SID = Principal(4, "sid", "scientist", "token")
VIC = Principal(3, "vic", "viewer", "token")
READER = Principal(2, "sam", "scientist", "token", scopes=frozenset({"data:read"}), label="job 7")
WRITER = Principal(2, "sam", "scientist", "token", scopes=frozenset({"data"}), label="job 8")

N = 200
FIRST = ["Ada", "Jürgen", "María", "Giulia"]
LAST = ["Lovelace", "Schäfer", "Rossi"]
CUSTOMERS = pa.table(
    {
        "id": list(range(N)),
        "full_name": [f"{FIRST[i % 4]} {LAST[i % 3]}" for i in range(N)],
        "email": [f"user{i}@example.org" for i in range(N)],
        "segment": [["retail", "premium", "business"][i % 3] for i in range(N)],
    }
)


def states(workbench: Workbench, table: str = "crm.customers") -> dict[str, tuple[str, str]]:
    return {t.column: (t.kind, t.state) for t in workbench.pii_tags.stored(table).columns}


def actions(workbench: Workbench) -> list[tuple[str, str | None, bool]]:
    return [
        (e.action, e.actor, e.success)
        for e in workbench.audit.entries(limit=50)
        if e.action.startswith("pii.")
    ]


def test_uploads_suggest_people_confirm_change_and_remove(workbench: Workbench) -> None:
    workbench.ingest.upload(CUSTOMERS, "crm.customers", principal=SAM, client="sdk")
    assert states(workbench) == {
        "full_name": ("person_name", "suggested"),
        "email": ("email", "suggested"),
    }
    described = workbench.catalog.describe("crm.customers").as_dict()["pii"]
    assert {c["column"]: c["state"] for c in described["columns"]} == {
        "full_name": "suggested",
        "email": "suggested",
    }
    assert all(0.5 <= c["confidence"] <= 1 for c in described["columns"])

    tags = workbench.pii_tags
    tags.confirm(SAM, "crm.customers", "email", "email", client="cli")
    tags.confirm(ADA, "crm.customers", "segment", "free_text_with_pii", client="cli")
    tags.remove(SAM, "crm.customers", "full_name", client="cli")
    tags.confirm(WRITER, "crm.customers", "segment", "postal_address", client="sdk")
    result = tags.mark(SAM, "crm.customers", personal=True).as_dict()
    assert result["personal"] and result["marked_by"] == "sam"
    assert states(workbench) == {
        "email": ("email", "confirmed"),
        "segment": ("postal_address", "confirmed"),
    }
    email = next(t for t in tags.stored("crm.customers").columns if t.column == "email")
    assert email.decided_by == "sam" and email.confidence is not None

    # Classifying again keeps what people decided: the removed tag does not come back.
    tags.classify(ADA, "crm.customers")
    assert "full_name" not in states(workbench)
    # A replace that adds a column: only the new column is classified.
    wider = CUSTOMERS.append_column("contact", CUSTOMERS.column("email"))
    workbench.ingest.upload(wider, "crm.customers", mode="replace", principal=SAM)
    assert states(workbench)["contact"] == ("email", "suggested")
    assert states(workbench)["email"] == ("email", "confirmed")
    # A replace without a column drops its tag.
    workbench.ingest.upload(wider.drop(["segment"]), "crm.customers", mode="replace")
    assert states(workbench) == {
        "email": ("email", "confirmed"),
        "contact": ("email", "suggested"),
    }

    assert actions(workbench)[::-1] == [
        ("pii.confirm", "sam", True),
        ("pii.confirm", "ada", True),
        ("pii.remove", "sam", True),
        ("pii.change", "sam", True),
        ("pii.mark", "sam", True),
        ("pii.classify", "ada", True),
    ]
    # Reading: scientists, admins and code tokens with data:read.
    assert tags.get(READER, "crm.customers").personal


@pytest.mark.parametrize(
    ("who", "call", "error", "message"),
    [
        (SID, "remove", PermissionDenied, "only its owner \\(sam\\) and admins"),
        (SID, "confirm", PermissionDenied, "only its owner"),
        (SID, "mark", PermissionDenied, "only its owner"),
        (SID, "classify", PermissionDenied, "only its owner"),
        (VIC, "confirm", PermissionDenied, "vic \\(viewer\\) may not"),
        (VIC, "get", PermissionDenied, "vic \\(viewer\\) may not"),
        (READER, "confirm", PermissionDenied, "made for code and may not"),
        (READER, "remove", PermissionDenied, "made for code and may not"),
        (SAM, "confirm:nope", NotFound, "has no column 'nope'"),
        (SAM, "confirm:email:laser", InvalidInput, "PII kind 'laser' is not known"),
        (SAM, "remove:segment", NotFound, "column 'segment' of crm.customers has no PII tag"),
        (SAM, 'table:crm.customers" ; DROP TABLE crm.customers; --', NotFound, "no table"),
        (SAM, "table:..", InvalidInput, "not valid"),
        (SAM, 'confirm:email"; DROP TABLE crm.customers; --', NotFound, "has no column"),
        (SAM, 'table:crm.x"; DROP SCHEMA crm CASCADE; --', NotFound, "no table"),
    ],
)
def test_attacks_are_refused_before_any_change(
    workbench: Workbench, who: Principal, call: str, error: type[Exception], message: str
) -> None:
    workbench.ingest.upload(CUSTOMERS, "crm.customers", principal=SAM)
    before = states(workbench)
    tags = workbench.pii_tags
    table, column, kind = "crm.customers", "email", "email"
    verb, _, rest = call.partition(":")
    if verb == "table":
        verb, table = "confirm", rest
    elif rest:
        column, _, given = rest.partition(":")
        kind = given or kind
    calls: dict[str, Any] = {
        "get": lambda: tags.get(who, table),
        "confirm": lambda: tags.confirm(who, table, column, kind),
        "remove": lambda: tags.remove(who, table, column),
        "mark": lambda: tags.mark(who, table, personal=True),
        "classify": lambda: tags.classify(who, table),
    }
    with pytest.raises(error, match=message):
        calls[verb]()
    assert states(workbench) == before
    assert not tags.stored("crm.customers").personal
    assert actions(workbench) == []
    assert workbench.warehouse.table("customers", schema="crm").row_count == N


def test_a_failing_classifier_never_fails_an_upload(
    workbench: Workbench, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atelier.services.catalog import pii

    def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("the classifier broke")

    monkeypatch.setattr(pii, "classify_relation", broken)
    result = workbench.ingest.upload(CUSTOMERS, "crm.customers", principal=SAM)
    assert result.rows == N
    assert states(workbench) == {}
