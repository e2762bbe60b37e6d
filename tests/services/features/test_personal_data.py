"""Personal data follows what the feature store derives from it: features computed from tagged
columns are masked for whoever may not see them, in training sets, saved training-set tables,
online lookups and with no masking policy at all; views and training sets say which features
hold personal data."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from atelier.errors import PermissionDenied
from atelier.services.auth import Principal
from atelier.services.features import Definitions, Derived, Entity, FeatureStore, FeatureView
from atelier.services.pii.grants import grants_of
from atelier.services.pii.policies import Masker, policies_of
from atelier.services.workbench import Workbench

PEOPLE = [
    (1, "Ann.Lee@Example.com", "Ann", "Lee", "gold"),
    (2, "Bob.Ray@Example.org", "Bob", "Ray", "silver"),
]
RAW = [p[1] for p in PEOPLE] + [p[1].lower() for p in PEOPLE] + ["Ann Lee", "Bob Ray"]
ENTITIES = pd.DataFrame({"id": [1, 2], "event_timestamp": pd.to_datetime(["2024-03-01"] * 2)})
FEATURES = ["contact:mail", "contact:full_name", "contact:segment"]


def who(wb: Workbench, name: str) -> Principal:
    user = wb.users.get(name)
    return Principal(user.id, user.name, user.role, "token")  # type: ignore[arg-type]


def no_raw(value: Any) -> None:
    text = json.dumps(value, default=str)
    for raw in RAW:
        assert raw not in text, f"{raw} leaked in {text[:300]}"


@pytest.fixture
def bank(local: Workbench) -> tuple[Workbench, Masker]:
    wb = local
    for name, role in (("ada", "admin"), ("sam", "scientist"), ("vic", "viewer")):
        wb.users.create(name, role, "correct horse battery")
    rows = ", ".join(
        f"({i}, '{mail}', '{first}', '{last}', '{segment}', TIMESTAMP '2024-01-0{i}')"
        for i, mail, first, last, segment in PEOPLE
    )
    wb.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA bank; CREATE TABLE bank.customers AS SELECT * FROM (VALUES "
            f"{rows}) t(id, email, first_name, last_name, segment, signed)"
        ),
        author="ada",
    )
    ada = who(wb, "ada")
    for column, kind in (("email", "email"), ("first_name", "person_name")):
        wb.pii_tags.confirm(ada, "bank.customers", column, kind)
    wb.pii_tags.confirm(ada, "bank.customers", "last_name", "person_name")
    customer = Entity("customer", ["id"])
    view = FeatureView(
        "contact",
        customer,
        "signed",
        source="bank.customers",
        features=[
            "segment",
            Derived("mail", sql="lower(email)"),
            Derived("full_name", sql="concat(first_name, ' ', last_name)"),
        ],
    )
    wb.features.apply(Definitions(entities=[customer], views=[view]), project="bank", by="ada")
    return wb, policies_of(wb).masker()


def test_a_view_and_the_catalog_say_which_features_hold_personal_data(
    bank: tuple[Workbench, Masker],
) -> None:
    wb, _ = bank
    info = wb.features.view("contact").as_dict()
    by_name = {f["name"]: f["pii"] for f in info["features"]}
    assert by_name == {
        "segment": None,
        "mail": {"kind": "email", "from": ["bank.customers.email"]},
        "full_name": {
            "kind": "person_name",
            "from": ["bank.customers.first_name", "bank.customers.last_name"],
        },
    }
    entry = next(e for e in wb.catalog.list() if e.name == "contact")
    assert "personal data" in entry.tags and "pii:email" in entry.tags
    # A tag removed by a person no longer makes the feature personal.
    wb.pii_tags.remove(who(wb, "ada"), "bank.customers", "email")
    listed = {v.name: v.personal_data() for v in wb.features.views()}
    assert listed["contact"] == {"full_name": "person_name"}


def test_training_sets_are_masked_and_record_their_personal_columns(
    bank: tuple[Workbench, Masker],
) -> None:
    wb, masker = bank
    sam, vic = who(wb, "sam"), who(wb, "vic")
    training = wb.features.training_set(ENTITIES, FEATURES, principal=sam, remote=False)
    table = training.table
    no_raw(table.to_pylist())
    # lower() of the email's pseudonym (lower-case hex) is the pseudonym.
    assert table.column("mail").to_pylist() == [masker.mask("email", p[1]) for p in PEOPLE]
    assert table.column("segment").to_pylist() == ["gold", "silver"]
    assert training.pii == {"mail": "email", "full_name": "person_name"}
    lineage = json.loads(table.schema.metadata[b"atelier.training_set"])
    assert lineage["pii"] == {"mail": "email", "full_name": "person_name"}
    # An entity frame's own columns are classified: they say what they hold.
    frame = ENTITIES.assign(reached=["ann@example.net", "bob@example.net"], label=[0, 1])
    classified = wb.features.training_set(frame, FEATURES, principal=sam, remote=False)
    assert classified.pii == {"reached": "email", "mail": "email", "full_name": "person_name"}
    # Entities read from a tagged table bring their tags along.
    named = wb.features.training_set(
        "bank.customers", ["contact:mail"], timestamp="signed", principal=sam, remote=False
    )
    no_raw(named.table.to_pylist())
    assert named.pii == {
        "email": "email",
        "first_name": "person_name",
        "last_name": "person_name",
        "mail": "email",
    }
    # A viewer may not build training sets at all.
    with pytest.raises(PermissionDenied):
        wb.features.training_set(ENTITIES, FEATURES, principal=vic)


def test_a_saved_training_set_is_masked_in_sql_even_when_written_raw(
    bank: tuple[Workbench, Masker],
) -> None:
    wb, masker = bank
    ada, sam, vic = who(wb, "ada"), who(wb, "sam"), who(wb, "vic")
    grants = grants_of(wb)
    grants.grant(ada, "sam", table="bank.customers", reason="churn study", days=1)
    # On the server, with a raw grant: the rows are raw, and so is the saved table.
    saved = wb.features.training_set(
        ENTITIES, FEATURES, save_as="ml.churn", principal=sam, remote=False
    )
    assert saved.table.column("mail").to_pylist() == [p[1].lower() for p in PEOPLE]
    tags = wb.pii_tags.stored("ml.churn").kinds()
    assert tags == {"mail": "email", "full_name": "person_name"}
    evidence = {t.column: t.evidence for t in wb.pii_tags.stored("ml.churn").columns}
    assert "bank.customers.email" in evidence["mail"] and "ml.churn" in evidence["mail"]
    events = [e for e in wb.audit.entries(action="pii.inherit") if e.target == "ml.churn"]
    assert events and events[0].actor == "sam"

    def read(principal: Principal, sql: str, remote: bool = False) -> list[dict[str, Any]]:
        with wb.query.run(sql, principal=principal, remote=remote) as result:
            return list(result.to_arrow().to_pylist())

    # The grant covers bank.customers, not what was derived from it: SQL over the saved
    # table is masked for everyone, whatever the form (viewers run no SQL at all).
    for principal in (sam, ada):
        for sql in (
            "SELECT * FROM ml.churn ORDER BY id",
            "SELECT to_json(t) AS j FROM ml.churn t",
            "WITH x AS (SELECT mail AS m FROM ml.churn) SELECT list(m) FROM x",
            f"SELECT * FROM ml.churn AT (VERSION => {saved.version}) WHERE mail LIKE '%example%'",
        ):
            no_raw(read(principal, sql))
    rows = read(sam, "SELECT mail FROM ml.churn ORDER BY id")
    assert [r["mail"] for r in rows] == [masker.mask("email", p[1].lower()) for p in PEOPLE]
    # A grant on the derived table (or the kind) opens it, as for any table.
    grants.grant(ada, "sam", table="ml.churn", reason="churn study", days=1)
    assert read(sam, "SELECT mail FROM ml.churn ORDER BY id")[0]["mail"] == "ann.lee@example.com"
    no_raw(read(sam, "SELECT * FROM ml.churn", remote=True))  # no export grant
    with pytest.raises(PermissionDenied):
        read(vic, "SELECT * FROM ml.churn")


def test_saving_again_never_overrides_what_a_person_decided(
    bank: tuple[Workbench, Masker],
) -> None:
    wb, _ = bank
    ada, sam = who(wb, "ada"), who(wb, "sam")
    wb.features.training_set(ENTITIES, FEATURES, save_as="ml.t", principal=sam, remote=False)
    wb.pii_tags.remove(ada, "ml.t", "full_name")
    wb.pii_tags.confirm(ada, "ml.t", "mail", "free_text_with_pii")
    wb.features.training_set(ENTITIES, FEATURES, save_as="ml.t", principal=sam, remote=False)
    stored = wb.pii_tags.stored("ml.t")
    assert stored.kinds() == {"mail": "free_text_with_pii"}
    assert stored.columns[0].decided_by == "ada"
    # Columns the table no longer has lose their inherited tags.
    wb.features.training_set(
        ENTITIES, ["contact:segment"], save_as="ml.t", principal=sam, remote=False
    )
    assert "full_name" not in wb.pii_tags.stored("ml.t").kinds()


def test_online_lookups_are_masked_for_each_reader(bank: tuple[Workbench, Masker]) -> None:
    wb, masker = bank
    ada, sam, vic = who(wb, "ada"), who(wb, "sam"), who(wb, "vic")
    keys = pd.DataFrame({"id": [1, 2]})
    refs = ["contact:mail", "contact:full_name", "contact:segment"]
    # A scientist without a grant materializes: what is stored does not depend on who.
    wb.features.materialize(["contact"], principal=sam)
    masked = [masker.mask("email", p[1].lower()) for p in PEOPLE]
    names = [masker.mask("person_name", f"{p[2]} {p[3]}") for p in PEOPLE]

    def mails(principal: Principal | None, remote: bool = True) -> list[Any]:
        table = wb.features.online(keys, refs, principal=principal, remote=remote)
        assert table.column("segment").to_pylist() == ["gold", "silver"]
        if table.column("mail").to_pylist() == masked:
            assert table.column("full_name").to_pylist() == names
            no_raw(table.to_pylist())
        return list(table.column("mail").to_pylist())

    for principal in (None, vic, sam, ada):
        assert mails(principal) == masked
        assert mails(principal, remote=False) == masked
    grants = grants_of(wb)
    grants.grant(ada, "sam", table="bank.customers", reason="fraud case 9", days=1)
    raw = [p[1].lower() for p in PEOPLE]
    assert mails(sam, remote=False) == raw  # on the server, with a grant
    assert mails(sam) == masked  # leaving the server needs an export grant
    assert mails(vic, remote=False) == masked and mails(ada, remote=False) == masked
    grants.grant(ada, "sam", kind="email", reason="fraud case 9", days=1, export=True)
    table = wb.features.online(keys, refs, principal=sam, remote=True)
    assert table.column("mail").to_pylist() == raw
    # The export grant is for emails only: the names stay masked off the server.
    assert table.column("full_name").to_pylist() == names
    # A column tagged after the materialization is masked from the next lookup on.
    wb.pii_tags.confirm(ada, "bank.customers", "segment", "free_text_with_pii")
    segment = wb.features.online(keys, ["contact:segment"], principal=sam, remote=True)
    assert segment.column("segment").to_pylist() == ["[redacted]"] * 2


def test_with_no_masking_policy_the_store_fails_closed(bank: tuple[Workbench, Masker]) -> None:
    wb, _ = bank
    store = FeatureStore(wb.db, wb.warehouse, wb.settings.features, wb.workspace.root)
    assert store.masking is None
    grants_of(wb).grant(
        who(wb, "ada"), "sam", table="bank.customers", reason="store audit", days=1, export=True
    )
    training = store.training_set(ENTITIES, FEATURES, principal=who(wb, "sam"), remote=False)
    assert training.table.column("mail").to_pylist() == ["[redacted]"] * 2
    no_raw(training.table.to_pylist())
    no_raw(store.training_set(ENTITIES, FEATURES).table.to_pylist())
    store.materialize(["contact"])
    online = store.online(pd.DataFrame({"id": [1, 2]}), FEATURES, principal=who(wb, "sam"))
    assert online.column("mail").to_pylist() == ["[redacted]"] * 2
    no_raw(online.to_pylist())


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_runs_and_model_cards_say_which_personal_data_a_model_was_trained_on(
    bank: tuple[Workbench, Masker], tmp_path: Any
) -> None:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    from atelier.sdk.feature_runs import log_training_set
    from atelier.services.tracking.registry import ModelRegistry
    from tests.services.tracking.mlflow_env import kept_mlflow_uris

    wb, _ = bank
    sam = who(wb, "sam")
    with kept_mlflow_uris():
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        experiment = mlflow.create_experiment("pii", artifact_location=str(tmp_path / "runs"))
        with mlflow.start_run(experiment_id=experiment) as run:
            first = wb.features.training_set(ENTITIES, ["contact:mail", "contact:segment"])
            log_training_set(first.table)
            tags = mlflow.get_run(run.info.run_id).data.tags
            assert json.loads(tags["atelier.pii"]) == {"mail": "email"}
            # A second training set of the run adds its columns; none is forgotten.
            second = wb.features.training_set(
                ENTITIES, FEATURES, save_as="ml.cards", principal=sam, remote=False
            )
            log_training_set(second.table)
            model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
            mlflow.sklearn.log_model(model, name="model")
        tags = mlflow.get_run(run.info.run_id).data.tags
        assert json.loads(tags["atelier.pii"]) == {"full_name": "person_name", "mail": "email"}
        registry = ModelRegistry(uri)
        registry.register(run.info.run_id, "churn-pii", by=who(wb, "ada"))
        card = registry.card("churn-pii/1")
    assert card["personal_data"] == {"full_name": "person_name", "mail": "email"}
    from atelier.cli.models import card_lines

    text = "\n".join(card_lines(card))
    assert "Trained on personal data: full_name (person_name), mail (email)" in text


def test_a_feature_cannot_read_a_tagged_table_around_the_masking(
    bank: tuple[Workbench, Masker],
) -> None:
    from atelier.errors import InvalidInput

    wb, masker = bank
    sam = who(wb, "sam")
    wb.warehouse.run_write(
        lambda c: c.execute(
            "CREATE TABLE bank.events AS SELECT 1 AS id, TIMESTAMP '2024-01-05' AS ts"
        ),
        author="sam",
    )
    customer = Entity("customer", ["id"])

    def view(**kwargs: Any) -> Definitions:
        return Definitions(
            entities=[customer], views=[FeatureView("sneaky", customer, "ts", **kwargs)]
        )

    # A SQL feature is an expression over the view's row: a subquery reading a table is
    # refused (its table would be read around the reader's masking).
    for sql in (
        "(SELECT max(email) FROM bank.customers)",
        "(SELECT string_agg(first_name) FROM bank.customers WHERE id > 0)",
        "(WITH c AS (SELECT email FROM bank.customers) SELECT max(email) FROM c)",
    ):
        with pytest.raises(InvalidInput, match="may not read a table"):
            wb.features.apply(
                view(source="bank.events", features=[Derived("x", sql=sql)]),
                project="bank",
                by="sam",
            )
    # The same subquery in the view's query is read through the masking, and traced.
    wb.features.apply(
        view(
            query="SELECT e.id, e.ts, (SELECT max(email) FROM bank.customers) AS x "
            "FROM bank.events e",
            features=["x"],
        ),
        project="bank",
        by="sam",
    )
    frame = pd.DataFrame({"id": [1], "event_timestamp": pd.to_datetime(["2024-02-01"])})
    table = wb.features.training_set(frame, ["sneaky:x"], principal=sam, remote=False).table
    assert table.column("x").to_pylist() == [max(masker.mask("email", p[1]) for p in PEOPLE)]
    assert wb.features.view("sneaky").personal_data() == {"x": "email"}
    # Inherited tags take only known kinds: nothing is written otherwise.
    with pytest.raises(InvalidInput, match="not known"):
        wb.pii_tags.inherit("bank.events", {"id": "shoe_size"}, source="a test")
    assert wb.pii_tags.stored("bank.events").kinds() == {}
