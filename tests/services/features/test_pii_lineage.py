"""Which features hold personal data, from their definitions alone: a feature computed from a
tagged column inherits its kind, however the view's SQL hides it."""

from __future__ import annotations

import pytest

from atelier.services.features import Derived, Entity, FeatureView
from atelier.services.features.definitions import Aggregation
from atelier.services.features.pii import PERSONAL, feature_pii, known_kind, strictest

CUSTOMER = Entity("customer", ["id"])
TAGS = {
    "bank.customers": {
        "email": "email",
        "first_name": "person_name",
        "last_name": "person_name",
        "ssn": "national_id",
        "phone": "phone",
    }
}


def kinds(view: FeatureView, tags: dict[str, dict[str, str]] = TAGS) -> dict[str, str]:
    return {name: pii.kind for name, pii in feature_pii(view, tags).items()}


def source_view(
    *features: str | Derived, aggregations: list[Aggregation] | None = None
) -> FeatureView:
    return FeatureView(
        "contact",
        CUSTOMER,
        "ts",
        source="bank.customers",
        features=list(features),
        aggregations=aggregations or [],
    )


def query_view(query: str, *features: str) -> FeatureView:
    return FeatureView("contact_q", CUSTOMER, "ts", query=query, features=list(features))


def test_features_of_a_source_table_inherit_the_tags_they_read() -> None:
    view = source_view(
        "email",
        "segment",
        Derived("mail", sql="lower(email)"),
        Derived("full_name", sql="concat(first_name, ' ', last_name)"),
        Derived("domain", sql="split_part(email, '@', 2)"),
        Derived("tenure", sql="datediff('day', signed, ts)"),
        Derived(
            "initial",
            python="def initial(name):\n    return name[:1]\n",
            inputs=["first_name"],
            dtype="VARCHAR",
        ),
        aggregations=[
            Aggregation("email", ["count"], ["7d"]),
            Aggregation("mail", ["last"], ["7d"]),
            Aggregation("*", ["count"], ["7d"]),
            Aggregation("amount", ["sum"], ["7d"]),
        ],
    )
    assert kinds(view) == {
        "email": "email",
        "mail": "email",
        "full_name": "person_name",
        "domain": "email",
        "initial": "person_name",
        "email_count_7d": "email",
        "mail_last_7d": "email",
    }
    found = feature_pii(view, TAGS)
    assert found["full_name"].sources == ("bank.customers.first_name", "bank.customers.last_name")
    assert found["mail"].as_dict() == {"kind": "email", "from": ["bank.customers.email"]}


def test_names_are_matched_whatever_their_case_and_quoting() -> None:
    view = source_view(Derived("m", sql='upper("EMAIL")'), Derived("p", sql="c.Phone"))
    assert kinds(view) == {"m": "email", "p": "phone"}


@pytest.mark.parametrize(
    "expression",
    [
        "to_json(customers)",
        "struct_pack(*)",
        "row(customers.*)",
        "list_value(COLUMNS(*))",
        "md5(CAST(customers AS VARCHAR))",
    ],
)
def test_a_whole_row_takes_every_tagged_column(expression: str) -> None:
    view = source_view(Derived("blob", sql=expression))
    found = feature_pii(view, TAGS)["blob"]
    assert found.kind == "national_id"  # the strictest of them
    assert len(found.sources) == 5


@pytest.mark.parametrize(
    ("query", "feature"),
    [
        ("SELECT id, ts, email AS mail FROM bank.customers", "mail"),
        ("SELECT c.id, c.ts, lower(c.email) AS mail FROM bank.customers AS c", "mail"),
        (
            "WITH x AS (SELECT id, ts, email AS e FROM bank.customers) "
            "SELECT id, ts, upper(e) AS mail FROM x",
            "mail",
        ),
        ("SELECT * FROM (SELECT id, ts, email AS hidden FROM bank.customers) s", "hidden"),
        ("SELECT * RENAME (email AS mail) FROM bank.customers", "mail"),
        ("SELECT * REPLACE (lower(email) AS segment) FROM bank.customers", "segment"),
        (
            "SELECT id, ts, segment AS mail FROM bank.customers "
            "UNION ALL SELECT id, ts, email FROM bank.customers",
            "mail",
        ),
        (
            "SELECT id, ts, (SELECT max(email) FROM bank.customers) AS mail FROM bank.orders",
            "mail",
        ),
        (
            "SELECT o.id, o.ts, c.email AS mail FROM bank.orders o "
            "JOIN bank.customers c USING (id)",
            "mail",
        ),
    ],
)
def test_a_query_view_cannot_hide_a_tagged_column(query: str, feature: str) -> None:
    assert kinds(query_view(query, feature)) == {feature: "email"}


def test_a_whole_row_in_a_query_takes_every_tagged_column() -> None:
    view = query_view("SELECT id, ts, to_json(c) AS blob FROM bank.customers c", "blob")
    assert kinds(view) == {"blob": "national_id"}


def test_untagged_columns_of_a_query_stay_untagged() -> None:
    view = query_view(
        "SELECT id, ts, segment, amount * 2 AS double FROM bank.customers", "segment", "double"
    )
    assert kinds(view) == {}
    # A view over a table with no tags holds none.
    assert kinds(source_view("email"), {"bank.other": {"email": "email"}}) == {}


def test_a_query_that_cannot_be_traced_takes_every_tagged_column() -> None:
    view = query_view(
        "SELECT id, ts, a AS x FROM (SELECT id, ts, segment AS a FROM bank.customers "
        "UNION SELECT id, ts, email FROM bank.customers "
        "UNION SELECT 1, ts, 'y' FROM bank.customers)",
        "x",
    )
    assert kinds(view)["x"] in ("email", "national_id")


def test_a_table_marked_personal_makes_every_column_personal() -> None:
    tags = {"bank.customers": {"*": PERSONAL, "email": "email"}}
    view = source_view("email", "segment", Derived("s", sql="upper(segment)"))
    assert kinds(view, tags) == {
        "email": "email",
        "segment": "free_text_with_pii",
        "s": "free_text_with_pii",
    }


def test_the_strictest_kind_wins() -> None:
    assert strictest(["phone", "email"]) == "email"
    assert strictest(["person_name", "national_id", "iban"]) == "national_id"
    assert strictest(["ip_address", "date_of_birth"]) == "date_of_birth"
    assert known_kind("personal") == "free_text_with_pii"
    assert known_kind("iban") == "iban"
    view = source_view(Derived("contact", sql="concat(phone, ' ', email)"))
    assert kinds(view) == {"contact": "email"}
