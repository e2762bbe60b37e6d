"""Churn on the demo bank: compare three algorithms, evaluate the best, register it as champion.

Run it against an Atelier server holding the demo bank (``atelier up --demo``), as a job or a
notebook would, with a token of the workspace's owner (the demo's churn model and its app are
theirs, and only a model's owner or an admin moves an alias an app serves)::

    export ATELIER_URL=http://127.0.0.1:8700 ATELIER_TOKEN=...
    export MLFLOW_TRACKING_URI=$ATELIER_URL/mlflow MLFLOW_TRACKING_TOKEN=$ATELIER_TOKEN
    python examples/churn.py

It prints a JSON summary: the leaderboard, the test metrics, the registered version and the
model card's data versions and environment.
"""

from __future__ import annotations

import json

import mlflow
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import atelier
import atelier.tracking

CUSTOMERS = """
WITH labels AS (
    SELECT customer_id, bool_or(churned) AS churned FROM bank.churn_labels GROUP BY ALL
), tickets AS (
    SELECT customer_id, count(*) AS tickets,
           count(*) FILTER (WHERE category IN ('complaint', 'fee_dispute')) AS complaints
    FROM bank.support_tickets GROUP BY ALL
), fees AS (
    SELECT customer_id, count(*) FILTER (WHERE is_fee) AS fee_count,
           coalesce(-sum(amount) FILTER (WHERE is_fee), 0) AS fee_total
    FROM bank.transactions GROUP BY ALL
)
SELECT c.segment, c.country,
       -- Birth dates are personal data: without a raw grant SQL gives their year only, so
       -- the age is counted in years from the birth year (the same with a grant).
       (2026 - left(c.date_of_birth::VARCHAR, 4)::INTEGER)::DOUBLE AS age,
       date_diff('day', c.signup_date, DATE '2026-06-30')::DOUBLE AS tenure_days,
       coalesce(t.tickets, 0)::DOUBLE AS tickets,
       coalesce(t.complaints, 0)::DOUBLE AS complaints,
       coalesce(f.fee_count, 0)::DOUBLE AS fee_count,
       coalesce(f.fee_total, 0)::DOUBLE AS fee_total,
       l.churned::INTEGER AS churned
FROM bank.customers c
JOIN labels l USING (customer_id)
LEFT JOIN tickets t USING (customer_id)
LEFT JOIN fees f USING (customer_id)
ORDER BY c.customer_id
"""
CATEGORIES = ["segment", "country"]
NUMBERS = ["age", "tenure_days", "tickets", "complaints", "fee_count", "fee_total"]


def pipeline(estimator: object) -> object:
    prepare = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORIES),
            ("numbers", StandardScaler(), NUMBERS),
        ]
    )
    return make_pipeline(prepare, estimator)


def main() -> None:
    ws = atelier.connect()
    atelier.tracking.capture()  # jobs and notebook kernels of a project have it on already
    mlflow.set_experiment("churn")

    customers = ws.sql(CUSTOMERS)
    train, test = train_test_split(
        customers, test_size=0.25, stratify=customers["churned"], random_state=0
    )
    board = atelier.compare(
        candidates={
            "logreg": pipeline(LogisticRegression(max_iter=1000)),
            "forest": pipeline(RandomForestClassifier(n_estimators=50, random_state=0)),
            "boosting": pipeline(HistGradientBoostingClassifier(max_iter=50, random_state=0)),
        },
        data=train,
        target="churned",
        cv=3,
    )
    run_id = board.attrs["run_id"]

    best = mlflow.sklearn.load_model(board.attrs["model_uri"])
    metrics = atelier.evaluate(best, test, target="churned", run_id=run_id, prefix="test_")

    version = ws.models.register(run_id, "churn", alias="champion")
    champion = ws.models.load("churn@champion")
    card = ws.models.card("churn@champion")
    print(
        json.dumps(
            {
                "leaderboard": board.reset_index()[["candidate", "roc_auc_mean"]].to_dict(
                    "records"
                ),
                "best": board.attrs["best"],
                "run_id": run_id,
                "test_metrics": metrics,
                "version": version,
                "champion_predictions": champion.predict(test.head(5)).tolist(),
                "card": {
                    "signature": card["signature"],
                    "data_versions": card["data_versions"],
                    "environment": {k: v for k, v in card["environment"].items() if k != "lock"},
                    "lock": card["environment"]["lock"],
                },
            }
        )
    )


if __name__ == "__main__":
    main()
