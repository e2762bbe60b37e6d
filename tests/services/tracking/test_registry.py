"""The model registry service on real MLflow: register from a run, aliases, cards, loading."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atelier.errors import InvalidInput, NotFound, PermissionDenied
from atelier.services.auth import Principal
from atelier.services.tracking import capture
from atelier.services.tracking.registry import ModelRegistry, Reference, parse_reference
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS, Tracking, tracking

ADA = Principal(1, "ada", "scientist", "local")
GRACE = Principal(2, "grace", "scientist", "local")
ROOT = Principal(3, "root", "admin", "local")

__all__ = ["tracking"]
pytestmark = [pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS]


@pytest.fixture(scope="module")
def trained(
    tracking: Tracking, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Two runs of a project, each with a logged model, and one run without a model."""
    import mlflow
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import atelier.tracking

    project = tmp_path_factory.mktemp("churn")
    (project / "pyproject.toml").write_text('[project]\nname = "churn"\n')
    (project / "uv.lock").write_text('version = 1\n[[package]]\nname = "pandas"\n')
    here = Path.cwd()
    import os

    os.chdir(project)
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"fees": rng.normal(size=80), "tenure": rng.integers(1, 99, 80)})
    target = (data["fees"] > 0).astype(int)
    capture.enable()
    capture.forget_reads()  # what earlier tests of this process read is not this project's
    capture.note_read("SELECT * FROM bank.customers", lambda: 4)
    runs = []
    try:
        for c in (0.1, 1.0):
            with atelier.tracking.start_run(run_name=f"C={c}") as run:
                model = LogisticRegression(C=c).fit(data, target)
                mlflow.log_param("C", c)
                mlflow.log_metric("accuracy", float(model.score(data, target)))
                mlflow.sklearn.log_model(
                    model,
                    name="model",
                    input_example=data.head(3),
                    pip_requirements=mlflow.sklearn.get_default_pip_requirements(),
                )
            runs.append(run.info.run_id)
        with mlflow.start_run() as empty:
            pass
    finally:
        os.chdir(here)
        capture.enable(False)
        capture.forget_reads()
    yield {"runs": runs, "empty": empty.info.run_id, "data": data}


@pytest.fixture(scope="module")
def registry(tracking: Tracking) -> ModelRegistry:
    return ModelRegistry(tracking.uri)


def test_register_alias_and_load(registry: ModelRegistry, trained: dict[str, Any]) -> None:
    first, second = trained["runs"]
    one = registry.register(first, "churn", by=ADA, alias="champion")
    assert (one["name"], one["version"], one["aliases"]) == ("churn", 1, ["champion"])
    assert one["registered_by"] == "ada" and one["run_id"] == first
    with pytest.raises(PermissionDenied, match="grace may not add a version to model 'churn'"):
        registry.register(second, "churn", by=GRACE, alias="challenger")
    assert [v["version"] for v in registry.versions("churn")] == [1]
    two = registry.register(second, "churn", by=ADA, alias="challenger")
    assert two["version"] == 2
    model = registry.load("churn@champion")
    assert model.get_params()["C"] == 0.1
    assert registry.load("churn/2").get_params()["C"] == 1.0
    assert registry.load("churn").get_params()["C"] == 1.0  # the latest version
    pyfunc = registry.load("models:/churn@challenger", flavor="pyfunc")
    assert len(pyfunc.predict(trained["data"].head(4))) == 4

    with pytest.raises(PermissionDenied, match="grace may not move churn@champion"):
        registry.set_alias("churn", "champion", 2, by=GRACE)
    with pytest.raises(PermissionDenied, match="grace may not delete churn@challenger"):
        registry.delete_alias("churn", "challenger", by=GRACE)
    assert registry.resolve("churn@champion").version == 1
    moved = registry.set_alias("churn", "champion", 2, by=ADA)
    assert moved["aliases"] == ["challenger", "champion"]
    assert registry.load("churn@champion").get_params()["C"] == 1.0
    listed = {m["name"]: m for m in registry.list()}
    assert listed["churn"]["latest_version"] == 2
    assert listed["churn"]["aliases"] == {"champion": 2, "challenger": 2}
    assert [v["version"] for v in registry.versions("churn")] == [2, 1]
    registry.delete_alias("churn", "challenger", by=ROOT)
    with pytest.raises(NotFound, match="model 'churn' has no alias 'challenger'"):
        registry.load("churn@challenger")


def test_model_card(registry: ModelRegistry, trained: dict[str, Any]) -> None:
    import mlflow

    registry.register(trained["runs"][0], "card-demo", by=ADA, alias="champion")
    card = registry.card("card-demo@champion")
    assert card["name"] == "card-demo" and card["version"] == 1
    assert card["registered_by"] == "ada" and card["created_at"]
    assert card["run_name"] == "C=0.1"
    assert card["metrics"]["accuracy"] > 0.5 and card["params"] == {"C": "0.1"}
    assert [c["name"] for c in card["signature"]["inputs"]] == ["fees", "tenure"]
    assert "sklearn" in card["flavors"]
    assert card["data_versions"] == [{"table": "bank.customers", "version": 4}]
    environment = card["environment"]
    assert environment["lock"].startswith("version = 1")
    assert environment["lock_sha256"]
    assert f"mlflow=={mlflow.__version__}" in environment["packages"]
    assert card["all_aliases"] == {"champion": 1}


def test_unknown_things_get_clear_errors(registry: ModelRegistry, trained: dict[str, Any]) -> None:
    with pytest.raises(NotFound, match="no run 'abc123' in this workspace's experiments"):
        registry.register("abc123", "x", by=ADA)
    with pytest.raises(NotFound, match="logged no model: log one first"):
        registry.register(trained["empty"], "x", by=ADA)
    with pytest.raises(NotFound, match="logged no model 'other'"):
        registry.register(trained["runs"][0], "x", by=ADA, model="other")
    with pytest.raises(NotFound, match="no registered model 'ghost'"):
        registry.card("ghost")
    with pytest.raises(NotFound, match="no registered model 'ghost'"):
        registry.set_alias("ghost", "champion", 1, by=ADA)
    registry.register(trained["runs"][0], "errors", by=ADA)
    with pytest.raises(NotFound, match="model 'errors' has no version 7"):
        registry.set_alias("errors", "champion", 7, by=ADA)
    with pytest.raises(InvalidInput, match="alias 'latest'"):
        registry.set_alias("errors", "latest", 1, by=ADA)
    with pytest.raises(InvalidInput, match="model name 'a b'"):
        registry.register(trained["runs"][0], "a b", by=ADA)
    with pytest.raises(InvalidInput, match="is not a run id"):
        registry.register("../etc", "x", by=ADA)


def test_references() -> None:
    assert str(parse_reference("churn@champion")) == "churn@champion"
    assert parse_reference("models:/churn/3").version == 3
    assert parse_reference("churn").alias is None
    for bad in ("churn@", "@x", "churn/v3", "a/b/c", "a/b", "", "a b"):
        with pytest.raises(InvalidInput):
            parse_reference(bad)


def test_references_with_alias_or_version_given_apart() -> None:
    assert parse_reference("churn", alias="champion") == Reference("churn", "champion")
    assert parse_reference("churn@champion", alias="champion") == Reference("churn", "champion")
    assert parse_reference("churn", version=2) == Reference("churn", None, 2)
    assert str(parse_reference("churn", version=2)) == "churn/2"
    with pytest.raises(InvalidInput, match="not both"):
        parse_reference("churn@champion", version=1)
    with pytest.raises(InvalidInput, match="give the alias once"):
        parse_reference("churn@champion", alias="challenger")
    with pytest.raises(InvalidInput, match="must be 1 or more"):
        parse_reference("churn", version=0)
    with pytest.raises(InvalidInput, match="alias 'latest'"):
        parse_reference("churn", alias="latest")


def test_resolve_gives_the_version_and_its_files(
    registry: ModelRegistry, trained: dict[str, Any]
) -> None:
    registry.register(trained["runs"][0], "resolved", by=ADA, alias="champion")
    info = registry.resolve("resolved@champion")
    assert (info.name, info.version, info.aliases) == ("resolved", 1, ("champion",))
    assert info.run_id == trained["runs"][0] and info.created_at is not None
    assert info.mlmodel.is_file() and (info.path / "input_example.json").is_file()
    assert registry.resolve(Reference("resolved", version=1)) == info
    assert registry.local_path("resolved") == info.path
    summary = registry.run_summary(info.run_id)
    assert summary["run_name"] == "C=0.1" and summary["params"] == {"C": "0.1"}
    assert registry.run_summary(None) == {} and registry.run_summary("0" * 32) == {}


def test_proxied_artifact_uris_are_read_from_the_artifact_folder(tmp_path: Path) -> None:
    registry = ModelRegistry("sqlite:///unused.db", artifacts_dir=tmp_path)
    assert registry._local("mlflow-artifacts:/1/models/m-1/artifacts") == (
        tmp_path / "1/models/m-1/artifacts"
    )
    with pytest.raises(InvalidInput, match="leaves the artifact store"):
        registry._local("mlflow-artifacts:/../../etc")


def test_registering_from_a_run_reads_the_run_once(
    tracking: Tracking, trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    run_id = trained["runs"][1]
    owner = ModelRegistry(tracking.uri).owners.run(run_id).owner
    assert owner is not None
    fresh = ModelRegistry(tracking.uri)  # nothing of the run remembered yet
    reads: list[str] = []
    original = MlflowClient.get_run

    def counted(self: MlflowClient, wanted: str) -> Any:
        reads.append(wanted)
        return original(self, wanted)

    monkeypatch.setattr(MlflowClient, "get_run", counted)
    by = Principal(4, owner, "scientist", "local")
    version = fresh.register_from_run(run_id, "from-its-run", by=by)
    assert (version["run_id"], version["version"]) == (run_id, 1)
    assert reads == [run_id]
    # Someone else's run is refused, after one read of it too.
    reads.clear()
    with pytest.raises(PermissionDenied, match=f"owned by {owner}"):
        ModelRegistry(tracking.uri).register_from_run(run_id, "from-its-run", by=GRACE)
    assert reads == [run_id]
