"""The demo churn model and its app: what ``atelier up --demo`` publishes after the demo bank.

:func:`publish_demo_app` trains a small scikit-learn pipeline on the demo bank (will a
customer leave in the next three months?), logs it to MLflow through the workspace's
tracking store with a signature, an input example and the training categories, registers it
as ``churn`` with alias ``champion``, and publishes the generated app ``churn`` shared with
every logged-in user. Each step is skipped when its result exists already (a model named
``churn``, an app named ``churn``), so running it again changes nothing; without MLflow or
scikit-learn it says so and does nothing.

Features are computed as of the first day of a few months (point in time: nothing the bank
learned later), one row per customer still with the bank that day:

``age``, ``tenure_months``, ``segment``, ``country``, ``monthly_fees`` (of open accounts),
``complaints_90d`` (complaints and fee disputes), ``transactions_90d``, ``has_credit_card``.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from atelier.errors import NotFound
from atelier.services.demo.load import SCHEMA

if TYPE_CHECKING:
    import pandas

    from atelier.services.auth import Principal
    from atelier.services.workbench import Workbench

MODEL = "churn"
ALIAS = "champion"
APP = "churn"
EXPERIMENT = "demo-churn"
#: Months whose first day is a point in time of the training set.
CUTOFFS = ("2025-07-01", "2025-10-01", "2026-01-01")
CATEGORIES = ("segment", "country")
NUMBERS = ("age", "tenure_months", "monthly_fees", "complaints_90d", "transactions_90d")
FLAGS = ("has_credit_card",)
DESCRIPTION = (
    "Demo model: will a customer of the demo bank leave within three months? Logistic "
    "regression on customer, account, ticket and transaction features."
)

_FEATURES = """
WITH cutoffs AS (SELECT CAST(c AS DATE) AS cutoff FROM (VALUES {cutoffs}) AS t(c)),
members AS (
    SELECT l.customer_id, c.cutoff FROM {s}.churn_labels l JOIN cutoffs c ON l.month = c.cutoff
),
accounts AS (
    SELECT m.customer_id, m.cutoff,
           coalesce(sum(a.monthly_fee), 0)::DOUBLE AS monthly_fees,
           bool_or(a.account_type = 'credit_card') AS has_credit_card
    FROM members m JOIN {s}.accounts a ON a.customer_id = m.customer_id
         AND a.opened_date < m.cutoff AND (a.closed_date IS NULL OR a.closed_date >= m.cutoff)
    GROUP BY ALL
),
tickets AS (
    SELECT m.customer_id, m.cutoff, count(*) AS complaints_90d
    FROM members m JOIN {s}.support_tickets t ON t.customer_id = m.customer_id
         AND t.category IN ('complaint', 'fee_dispute')
         AND t.opened_at >= m.cutoff - INTERVAL 90 DAY AND t.opened_at < m.cutoff
    GROUP BY ALL
),
activity AS (
    SELECT m.customer_id, m.cutoff, count(*) AS transactions_90d
    FROM members m JOIN {s}.transactions x ON x.customer_id = m.customer_id
         AND x.ts >= m.cutoff - INTERVAL 90 DAY AND x.ts < m.cutoff
    GROUP BY ALL
),
labels AS (
    SELECT m.customer_id, m.cutoff, bool_or(l.churned) AS churned
    FROM members m JOIN {s}.churn_labels l ON l.customer_id = m.customer_id
         AND l.month >= m.cutoff AND l.month < m.cutoff + INTERVAL 3 MONTH
    GROUP BY ALL
)
SELECT
    date_diff('year', c.date_of_birth, m.cutoff)::BIGINT AS age,
    date_diff('month', c.signup_date, m.cutoff)::BIGINT AS tenure_months,
    c.segment, c.country,
    coalesce(a.monthly_fees, 0)::DOUBLE AS monthly_fees,
    coalesce(t.complaints_90d, 0)::BIGINT AS complaints_90d,
    coalesce(x.transactions_90d, 0)::BIGINT AS transactions_90d,
    coalesce(a.has_credit_card, false) AS has_credit_card,
    CASE WHEN l.churned THEN 'churn' ELSE 'stay' END AS label
FROM members m
JOIN {s}.customers c USING (customer_id)
LEFT JOIN accounts a USING (customer_id, cutoff)
LEFT JOIN tickets t USING (customer_id, cutoff)
LEFT JOIN activity x USING (customer_id, cutoff)
LEFT JOIN labels l USING (customer_id, cutoff)
ORDER BY m.cutoff, m.customer_id
"""


@dataclass
class DemoApp:
    """What :func:`publish_demo_app` did: the model version it registered (or found), the app,
    and one line per step for the person watching."""

    version: int | None = None
    app: str | None = None
    notes: list[str] = field(default_factory=list)


def missing_packages() -> list[str]:
    return [name for name in ("mlflow", "sklearn") if importlib.util.find_spec(name) is None]


def publish_demo_app(
    workbench: Workbench,
    owner: Principal,
    *,
    progress: Callable[[str], None] | None = None,
) -> DemoApp:
    """Train and register the demo churn model unless a model ``churn`` exists, then publish
    the app ``churn`` for ``churn@champion`` unless an app ``churn`` exists."""
    step = progress or (lambda _name: None)
    result = DemoApp()
    missing = missing_packages()
    if missing:
        names = " and ".join("scikit-learn" if m == "sklearn" else m for m in missing)
        result.notes.append(
            f"Skipped the demo churn model: it needs {names} (pip install 'atelier[ml]')"
        )
        return result
    registry = workbench.models
    try:
        result.version = registry.resolve(f"{MODEL}@{ALIAS}").version
    except NotFound:
        if any(m["name"] == MODEL for m in registry.list()):
            result.notes.append(
                f"Kept the registered model {MODEL!r}: it has no {ALIAS!r} alias, so the demo "
                "app was not published"
            )
            return result
        step("training the churn model")
        run_id, rows = _train_and_log(workbench, owner)
        step("registering the churn model")
        version = registry.register(
            run_id, MODEL, by=owner, alias=ALIAS, description=DESCRIPTION, client="demo"
        )
        result.version = int(version["version"])
        result.notes.append(
            f"Trained the demo churn model on {rows:,} customer-months: "
            f"{MODEL}@{ALIAS} is version {result.version}"
        )
    apps = workbench.apps
    try:
        apps.registry.get(APP)
    except NotFound:
        step("publishing the churn app")
        apps.create(
            APP,
            f"{MODEL}@{ALIAS}",
            owner,
            title="Will this customer leave?",
            description="Try the demo churn model, and tell us when it is wrong.",
        )
        apps.registry.share(APP, owner, everyone=True)
        workbench.audit.record("app.create", actor=owner.name, target=APP, client="demo")
        result.notes.append(f"Published the demo app {APP!r} for every logged-in user")
    result.app = APP
    return result


def training_frame(workbench: Workbench) -> pandas.DataFrame:
    """The demo churn training set: features and ``label`` (churn or stay)."""
    cutoffs = ", ".join(f"('{c}')" for c in CUTOFFS)
    sql = _FEATURES.format(cutoffs=cutoffs, s=SCHEMA)
    with workbench.warehouse.connect() as connection:
        frame: pandas.DataFrame = connection.execute(sql).df()
    return frame


def _train_and_log(workbench: Workbench, owner: Principal) -> tuple[str, int]:
    """Fit the pipeline, log it as a run of experiment ``demo-churn``; the run id and rows."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from atelier.services.tracking import TrackingStore
    from atelier.services.tracking.capture import DATA_VERSIONS_TAG

    frame = training_frame(workbench)
    columns = [*NUMBERS, *CATEGORIES, *FLAGS]
    features, labels = frame[columns], frame["label"]
    train_x, test_x, train_y, test_y = train_test_split(
        features, labels, test_size=0.25, random_state=0, stratify=labels
    )
    model = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        ("categories", OneHotEncoder(handle_unknown="ignore"), list(CATEGORIES)),
                        ("numbers", StandardScaler(), list(NUMBERS)),
                        ("flags", "passthrough", list(FLAGS)),
                    ]
                ),
            ),
            ("classify", LogisticRegression(max_iter=1000, class_weight="balanced")),
        ]
    )
    model.fit(train_x, train_y)
    categories = {c: sorted(str(v) for v in features[c].dropna().unique()) for c in CATEGORIES}
    versions = [
        {"table": f"{SCHEMA}.{table}", "version": snapshots[-1].snapshot_id}
        for table in ("customers", "accounts", "support_tickets", "transactions", "churn_labels")
        if (snapshots := workbench.warehouse.snapshots(table, schema=SCHEMA))
    ]

    store = TrackingStore.for_workspace(workbench.workspace)
    store.prepare()
    client = workbench.models.client
    found = client.get_experiment_by_name(EXPERIMENT)
    experiment = (
        found.experiment_id
        if found
        else client.create_experiment(
            EXPERIMENT, artifact_location=str(store.artifacts_dir / EXPERIMENT)
        )
    )
    was_set = mlflow.is_tracking_uri_set()  # type: ignore[no-untyped-call]
    saved = mlflow.get_tracking_uri() if was_set else None
    mlflow.set_tracking_uri(store.backend_uri)
    try:
        with warnings.catch_warnings():
            # MLflow 3.17 warns about its own use of pandas and hints at integer columns.
            warnings.simplefilter("ignore")
            with mlflow.start_run(experiment_id=experiment, run_name="demo churn") as run:
                mlflow.set_tags(
                    {
                        "atelier.user": owner.name,
                        DATA_VERSIONS_TAG: json.dumps(versions, separators=(",", ":")),
                    }
                )
                mlflow.log_params(
                    {"model": "logistic regression", "class_weight": "balanced", "rows": len(frame)}
                )
                mlflow.log_metrics(_metrics(model, test_x, test_y))
                mlflow.sklearn.log_model(
                    model,
                    name="model",
                    signature=infer_signature(features, labels),
                    input_example=features.head(3),
                    metadata={"atelier": {"categories": categories}},
                    pip_requirements=mlflow.sklearn.get_default_pip_requirements(),
                )
        # The demo model comes from Atelier's own code, not from a repository: no git tags
        # (MLflow would name the repository Atelier happens to run from).
        tags = client.get_run(run.info.run_id).data.tags
        for tag in sorted(tags):
            if tag.startswith(("mlflow.source.git.", "atelier.git.")):
                client.delete_tag(run.info.run_id, tag)
    finally:
        mlflow.set_tracking_uri(saved)  # type: ignore[arg-type]
    return str(run.info.run_id), len(frame)


def _metrics(model: Any, features: Any, labels: Any) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    predicted = model.predict(features)
    churn = list(model.classes_).index("churn")
    scores = model.predict_proba(features)[:, churn]
    truth = labels == "churn"
    found = {
        "accuracy": float(accuracy_score(labels, predicted)),
        "f1": float(f1_score(labels, predicted, pos_label="churn")),
    }
    if truth.any() and not truth.all():
        found["roc_auc"] = float(roc_auc_score(truth, scores))
    return found
