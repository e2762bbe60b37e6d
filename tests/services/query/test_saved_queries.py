"""Saved queries: who sees, changes and deletes what, and names refused whole."""

from __future__ import annotations

import re

import pytest

from atelier.backends.metadata.models import SavedQuery as SavedQueryRow
from atelier.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from atelier.services.auth import Principal
from atelier.services.query.saved import SavedQueries
from atelier.services.query.schema import group
from atelier.services.workbench import Workbench

ADA = Principal(1, "ada", "scientist", "session")
BOB = Principal(2, "bob", "scientist", "session")
ROOT = Principal(3, "root", "admin", "session")
VIC = Principal(4, "vic", "viewer", "session")


@pytest.fixture
def saved(workbench: Workbench) -> SavedQueries:
    return workbench.saved_queries


def rows(workbench: Workbench) -> list[tuple[str, str, str, bool]]:
    with workbench.db.session() as session:
        return sorted(
            (r.owner, r.name, r.sql, r.shared) for r in session.query(SavedQueryRow).all()
        )


def test_own_and_shared_are_visible_others_private_are_missing(saved: SavedQueries) -> None:
    private = saved.save(ADA, "mine", "SELECT 1")
    shared = saved.save(ADA, "by segment", "SELECT 2", shared=True)
    saved.save(BOB, "bob's", "SELECT 3")

    assert [q.name for q in saved.visible(ADA)] == ["by segment", "mine"]
    assert [(q.name, q.owner) for q in saved.visible(BOB)] == [
        ("bob's", "bob"),
        ("by segment", "ada"),
    ]
    assert saved.get(BOB, shared.id).sql == "SELECT 2"
    # Someone else's unshared query is missing, its name never in the message.
    with pytest.raises(NotFound) as missing:
        saved.get(BOB, private.id)
    assert "mine" not in str(missing.value)
    with pytest.raises(NotFound):
        saved.update(BOB, private.id, sql="SELECT 'stolen'")
    with pytest.raises(NotFound):
        saved.delete(BOB, private.id)
    # Admins see any one of them, on request.
    assert saved.get(ROOT, private.id).name == "mine"


def test_only_the_owner_or_an_admin_changes_or_deletes(
    workbench: Workbench, saved: SavedQueries
) -> None:
    shared = saved.save(ADA, "report", "SELECT 1", shared=True)
    with pytest.raises(PermissionDenied, match="only its owner or an admin"):
        saved.update(BOB, shared.id, sql="DROP TABLE x", shared=False)
    with pytest.raises(PermissionDenied):
        saved.delete(BOB, shared.id)
    assert rows(workbench) == [("ada", "report", "SELECT 1", True)]
    # Bob saving under the same name makes his own copy, never touches Ada's.
    saved.save(BOB, "report", "SELECT 2")
    assert rows(workbench) == [
        ("ada", "report", "SELECT 1", True),
        ("bob", "report", "SELECT 2", False),
    ]

    changed = saved.update(ROOT, shared.id, name="monthly report", shared=False)
    assert (changed.name, changed.shared, changed.owner) == ("monthly report", False, "ada")
    assert saved.delete(ADA, shared.id).name == "monthly report"
    with pytest.raises(NotFound):
        saved.get(ADA, shared.id)


def test_save_replaces_the_owners_query_of_that_name(saved: SavedQueries) -> None:
    first = saved.save(ADA, "  churn  ", "SELECT 1")
    again = saved.save(ADA, "churn", "SELECT 2", shared=True)
    assert (again.id, again.name, again.sql, again.shared) == (first.id, "churn", "SELECT 2", True)
    with pytest.raises(Conflict, match="'churn' already exists"):
        saved.create(ADA, "churn", "SELECT 3")
    other = saved.create(ADA, "other", "SELECT 4")
    with pytest.raises(Conflict):
        saved.update(ADA, other.id, name="churn")
    assert saved.get(ADA, other.id).name == "other"


#: (name, sql, what the error says)
BAD = [
    ("", "SELECT 1", "query name is empty"),
    ("   ", "SELECT 1", "query name is empty"),
    ("x" * 101, "SELECT 1", "query name is 101 characters long (at most 100)"),
    ("two\nlines", "SELECT 1", "control character"),
    ("tab\there", "SELECT 1", "control character"),
    ("ok", "  ", "query SQL is empty"),
    ("ok", "S" * 100_001, "at most 100,000"),
]


def test_bad_names_and_sql_are_refused_whole(workbench: Workbench, saved: SavedQueries) -> None:
    kept = saved.save(ADA, "kept", "SELECT 1")
    for name, sql, message in BAD:
        with pytest.raises(InvalidInput, match=re.escape(message)):
            saved.save(ADA, name, sql)
        with pytest.raises(InvalidInput, match=re.escape(message)):
            saved.update(ADA, kept.id, name=name, sql=sql)
    assert rows(workbench) == [("ada", "kept", "SELECT 1", False)]


def test_viewers_keep_no_queries(saved: SavedQueries) -> None:
    saved.save(ADA, "shared", "SELECT 1", shared=True)
    for call in (
        lambda: saved.visible(VIC),
        lambda: saved.save(VIC, "v", "SELECT 1"),
        lambda: saved.get(VIC, 1),
        lambda: saved.delete(VIC, 1),
    ):
        with pytest.raises(PermissionDenied, match="SQL page's users"):
            call()


def test_schema_tree_groups_tables_and_source_tables(workbench: Workbench) -> None:
    workbench.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA bank; CREATE TABLE bank.customers (id INTEGER, email VARCHAR);"
            "CREATE TABLE bank.accounts (id INTEGER, balance DECIMAL(12, 2))"
        ),
        author="ada",
    )
    from atelier.services.query.schema import schema_tree

    tree = [s.as_dict() for s in schema_tree(workbench.catalog)]
    assert tree == [
        {
            "name": "bank",
            "tables": [
                {
                    "name": "accounts",
                    "kind": "table",
                    "columns": [
                        {"name": "id", "type": "INTEGER"},
                        {"name": "balance", "type": "DECIMAL(12,2)"},
                    ],
                },
                {
                    "name": "customers",
                    "kind": "table",
                    "columns": [
                        {"name": "id", "type": "INTEGER"},
                        {"name": "email", "type": "VARCHAR"},
                    ],
                },
            ],
        }
    ]
    assert group([]) == []
