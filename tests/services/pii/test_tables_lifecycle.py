"""The life of PII tags as tables change: a replace with another schema, a replace with new
data, an append, a table dropped and made again (real workbench and warehouse, SQLite and
PostgreSQL metadata)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from sqlalchemy import select

from atelier.backends.metadata.models import ColumnTag
from atelier.backends.warehouse.sql import qualified
from atelier.errors import InvalidInput, NotFound
from atelier.services.auth import Principal
from atelier.services.workbench import Workbench
from tests.conftest import count_lake_sessions

SAM = Principal(2, "sam", "scientist", "token")
N = 200
FIRST = ["Ada", "Jürgen", "María", "Giulia"]
LAST = ["Lovelace", "Schäfer", "Rossi"]
NAMES = [f"{FIRST[i % 4]} {LAST[i % 3]}" for i in range(N)]
EMAILS = [f"user{i}@example.org" for i in range(N)]
PHONES = [f"+44 20 7946 {i:04d}" for i in range(N)]
CODES = [f"SKU-{10000 + i}" for i in range(N)]
CUSTOMERS = pa.table({"id": list(range(N)), "full_name": NAMES, "email": EMAILS})
TABLE = "crm.customers"


def shown(workbench: Workbench) -> dict[str, tuple[str, str]]:
    """What people see: the tags of the table's columns."""
    return {t.column: (t.kind, t.state) for t in workbench.pii_tags.get(SAM, TABLE).columns}


def rows(workbench: Workbench) -> dict[str, tuple[str, str, str | None]]:
    """Everything stored, set-aside tags included."""
    with workbench.db.session() as session:
        found = session.scalars(select(ColumnTag).where(ColumnTag.table_name == TABLE)).all()
        return {r.column_name: (r.kind, r.state, r.decided_by) for r in found}


def upload(workbench: Workbench, table: pa.Table, mode: str = "create") -> None:
    workbench.ingest.upload(table, TABLE, mode=mode, principal=SAM)


def test_a_replace_with_another_schema_keeps_decisions_aside(workbench: Workbench) -> None:
    upload(workbench, CUSTOMERS)
    assert shown(workbench) == {
        "full_name": ("person_name", "suggested"),
        "email": ("email", "suggested"),
    }
    workbench.pii_tags.confirm(SAM, TABLE, "email", "email")
    workbench.pii_tags.remove(SAM, TABLE, "full_name")

    # Another schema: email and full_name are gone, phone is new and classified.
    other = pa.table({"id": list(range(N)), "phone": PHONES, "code": CODES})
    upload(workbench, other, "replace")
    assert shown(workbench) == {"phone": ("phone", "suggested")}
    # The person's confirmation is kept aside; their "not personal" is not (a new column of
    # that name is classified afresh).
    assert rows(workbench) == {
        "email": ("email", "dropped", "sam"),
        "phone": ("phone", "suggested", None),
    }

    # The columns come back: the confirmation stands again, full_name is classified anew.
    upload(workbench, CUSTOMERS, "replace")
    assert shown(workbench) == {
        "email": ("email", "confirmed"),
        "full_name": ("person_name", "suggested"),
    }
    assert rows(workbench)["email"] == ("email", "confirmed", "sam")


def test_a_replace_drops_suggestions_the_new_data_does_not_bear_out(
    workbench: Workbench,
) -> None:
    table = pa.table({"id": list(range(N)), "contact": EMAILS, "other": PHONES})
    upload(workbench, table)
    assert shown(workbench) == {"contact": ("email", "suggested"), "other": ("phone", "suggested")}
    workbench.pii_tags.confirm(SAM, TABLE, "other", "phone")

    # Same columns, new data: product codes where the e-mails and phones were.
    upload(workbench, pa.table({"id": list(range(N)), "contact": CODES, "other": CODES}), "replace")
    assert shown(workbench) == {"other": ("phone", "confirmed")}  # a person's decision stays

    # The same data again gives the same suggestions (the sample is repeatable).
    upload(workbench, table, "replace")
    upload(workbench, table, "replace")
    assert shown(workbench) == {"contact": ("email", "suggested"), "other": ("phone", "confirmed")}


def test_an_append_classifies_new_columns_and_keeps_what_older_rows_bear_out(
    workbench: Workbench,
) -> None:
    upload(workbench, CUSTOMERS)
    # A notebook adds a column to the table; the next append brings values for it.
    name = qualified(workbench.warehouse.alias, "crm", "customers")
    add = f"ALTER TABLE {name} ADD COLUMN phone VARCHAR"
    workbench.warehouse.run_write(lambda c: c.execute(add), author="sam")
    assert "phone" not in shown(workbench)
    more = pa.table({"id": list(range(N)), "full_name": CODES, "email": CODES, "phone": PHONES})
    upload(workbench, more, "append")
    # The new column is classified; the older rows still hold names and e-mails, so their
    # suggestions stay though the appended rows have none.
    assert shown(workbench) == {
        "full_name": ("person_name", "suggested"),
        "email": ("email", "suggested"),
        "phone": ("phone", "suggested"),
    }


def test_an_append_with_a_column_the_table_lacks_is_refused_and_changes_no_tag(
    workbench: Workbench,
) -> None:
    upload(workbench, CUSTOMERS)
    before = rows(workbench)
    wider = CUSTOMERS.append_column("phone", pa.array(PHONES))
    with pytest.raises(InvalidInput, match="column 'phone' is not in the table"):
        upload(workbench, wider, "append")
    assert rows(workbench) == before
    assert workbench.warehouse.table("customers", schema="crm").row_count == N


def test_a_table_dropped_and_made_again(workbench: Workbench) -> None:
    upload(workbench, CUSTOMERS)
    workbench.pii_tags.confirm(SAM, TABLE, "email", "email")
    name = qualified(workbench.warehouse.alias, "crm", "customers")
    workbench.warehouse.run_write(lambda c: c.execute(f"DROP TABLE {name}"), author="sam")
    with pytest.raises(NotFound):
        workbench.pii_tags.get(SAM, TABLE)

    # Made again outside an upload (a notebook), with other columns: the old tags describe
    # columns that are not there, and are not shown.
    create = f"CREATE TABLE {name} AS SELECT range AS id, 'x' AS code FROM range(3)"
    workbench.warehouse.run_write(lambda c: c.execute(create), author="sam")
    assert shown(workbench) == {}

    # Made again by an upload: suggestions come from the new data only, the person's
    # confirmation of a column of the same name stands.
    workbench.warehouse.run_write(lambda c: c.execute(f"DROP TABLE {name}"), author="sam")
    upload(workbench, pa.table({"full_name": CODES, "email": CODES, "mobile": PHONES}))
    assert shown(workbench) == {"email": ("email", "confirmed"), "mobile": ("phone", "suggested")}


def test_an_upload_and_its_suggestions_open_the_lake_twice(
    workbench: Workbench, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload on one session, the suggestions (the columns, the sample) on another: each
    one opened costs tens of milliseconds of every upload."""
    opened = count_lake_sessions(monkeypatch, workbench.warehouse)
    upload(workbench, CUSTOMERS)
    assert opened == [False, False]
    # An append with no new column: the same two.
    upload(workbench, CUSTOMERS, "append")
    assert opened == [False] * 4
    monkeypatch.undo()
    assert shown(workbench) == {
        "full_name": ("person_name", "suggested"),
        "email": ("email", "suggested"),
    }
