"""Run lineage: training sets built in an active MLflow run (a real MLflow on a SQLite store)
are recorded on it, by both clients."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.sdk.client import Client
from tests.sdk.test_client import ws  # noqa: F401  (the client fixture, both kinds)
from tests.sdk.test_features import LABELS, bank  # noqa: F401  (warehouse and features.yaml)
from tests.services.tracking.mlflow_env import kept_mlflow_uris

# MLflow 3.17's SQLite store asks SQLAlchemy 2.1 for a deprecated loader; nothing ours.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The ``noload`` loader strategy is deprecated")
        import mlflow

        folder = tmp_path_factory.mktemp("mlflow")
    with kept_mlflow_uris():
        mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The ``noload`` loader strategy is deprecated")
            created = mlflow.create_experiment("features", artifact_location=str(folder / "runs"))
        yield created


def test_training_sets_are_recorded_on_the_active_run(
    ws: Client,  # noqa: F811
    bank: Path,  # noqa: F811
    experiment: str,
) -> None:
    import mlflow

    ws.features.apply(bank)
    runs = len(mlflow.search_runs([experiment]))
    ws.features.training_set(LABELS, ["spend:amount"])  # no run: nothing to record, no error
    with mlflow.start_run(experiment_id=experiment) as run:
        run_id = run.info.run_id
        ws.features.training_set(LABELS, ["spend:amount"])
        first = mlflow.get_run(run_id).data
        digest = first.tags["atelier.training_set"]
        assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64
        assert first.tags["atelier.feature_views"] == "spend@1"
        assert first.params["atelier.features"] == "spend:amount"
        ws.features.training_set(LABELS, ["spend:amount"])
        assert mlflow.get_run(run_id).data.tags["atelier.training_set"] == digest

        ws.features.training_set("bank.labels", ["spend:amount", "spend:big"], save_as="ml.t")
        later = mlflow.get_run(run_id).data
        version = ws.features.training_sets("ml.t")[0]["version"]
        assert later.tags["atelier.training_set"] == f"ml.t@{version}"
        # A param cannot change: the run's first training set keeps it.
        assert later.params["atelier.features"] == "spend:amount"

    artifacts = Path(mlflow.get_run(run_id).info.artifact_uri.removeprefix("file://"))
    files = sorted(p.name for p in (artifacts / "atelier" / "training_sets").iterdir())
    assert files == [f"ml.t@v{version}.json", f"{digest.replace(':', '-')}.json"]
    saved = json.loads((artifacts / "atelier" / "training_sets" / files[0]).read_text())
    assert saved["features"] == ["spend:amount", "spend:big"]
    assert saved["feature_views"] == {"spend": 1} and saved["rows"] == 2
    assert saved["training_set"] == "ml.t" and saved["entities"] == "bank.labels"
    assert len(mlflow.search_runs([experiment])) == runs + 1
