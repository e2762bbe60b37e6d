"""A logged model's environment: plain MLflow logging in the workspace, the complete lock, and
what the model card flags."""

from __future__ import annotations

import json
import os
import pickle
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atelier.services.auth import Principal
from atelier.services.tracking import capture, environment
from atelier.services.tracking.registry import ModelRegistry
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS, Tracking, tracking

ADA = Principal(1, "ada", "scientist", "local")

__all__ = ["tracking"]
pytestmark = [
    *(pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

NUMPY_HASH = "sha256:" + "ab" * 32


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project whose uv.lock pins numpy (with a hash) but not scikit-learn, and capture on
    as in a notebook kernel (``ATELIER_PROJECT``), nobody having called ``install()``."""
    import numpy

    folder = tmp_path / "churn"
    folder.mkdir()
    (folder / "pyproject.toml").write_text('[project]\nname = "churn"\nversion = "0"\n')
    (folder / "uv.lock").write_text(
        "version = 1\n"
        '[[package]]\nname = "churn"\nversion = "0"\nsource = { editable = "." }\n'
        f'[[package]]\nname = "numpy"\nversion = "{numpy.__version__}"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        f'wheels = [{{ url = "https://example.org/numpy.whl", hash = "{NUMPY_HASH}" }}]\n'
    )
    monkeypatch.chdir(folder)
    monkeypatch.setenv("ATELIER_PROJECT", "churn")
    for name in ("ATELIER_URL", "ATELIER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(capture, "_identity", "ada")  # put back after the test
    capture.AtelierRunContext()  # what MLflow does with the entry point on `import mlflow`
    yield folder
    capture.enable(False)


def churn_data() -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    data = pd.DataFrame(
        {
            "fees": rng.normal(size=60).astype("float32"),
            "tenure": rng.integers(1, 99, 60),
            "plan": rng.choice(["basic", "pro", "team"], 60),
        }
    )
    return data, (data["fees"] > 0).astype(int)


def pipeline(final: Any) -> Any:
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer(
        [
            ("numbers", StandardScaler(), ["fees", "tenure"]),
            ("plan", OneHotEncoder(handle_unknown="ignore", dtype=np.float32), ["plan"]),
        ]
    )
    return Pipeline([("columns", columns), ("model", final)])


def test_a_plain_pipeline_logs_loads_back_and_records_its_environment(
    tracking: Tracking, project: Path
) -> None:
    import mlflow
    import mlflow.sklearn
    import sklearn
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    data, target = churn_data()
    boosted = pipeline(HistGradientBoostingClassifier(max_iter=10)).fit(data, target)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(boosted, name="model", input_example=data.head(3))
    # No run at all (MLflow 3 allows it): the environment rides with the model's files.
    linear = pipeline(LogisticRegression()).fit(data, target)
    loose = mlflow.sklearn.log_model(linear, name="loose", pip_requirements=["scikit-learn"])
    assert loose.run_id is None

    for logged, model in ((info, boosted), (loose, linear)):
        assert logged.flavors["sklearn"]["serialization_format"] == "cloudpickle"
        loaded = mlflow.pyfunc.load_model(logged.model_uri)
        assert list(loaded.predict(data.head(5))) == list(model.predict(data.head(5)))

    folder = Path(mlflow.artifacts.download_artifacts(info.model_uri))
    captured = json.loads((folder / environment.ENVIRONMENT_ARTIFACT).read_text())
    assert captured["python"]["version"] == platform.python_version()
    assert captured["loader"] == {
        "model": "model",
        "flavor": "sklearn",
        "loader_module": "mlflow.sklearn",
        "serialization_format": "cloudpickle",
        "library": "scikit-learn",
        "sklearn_version": sklearn.__version__,
    }
    packages = {p["name"]: p for p in captured["packages"]}
    learn = packages["scikit-learn"]  # not in the project's lock: from what was imported
    assert (learn["version"], learn["source"]) == (sklearn.__version__, "environment")
    assert learn["hash_kind"] == "record" and len(learn["record_sha256"]) == 64
    assert "sklearn" in learn["modules"]
    assert packages["numpy"]["source"] == "project-lock"
    assert packages["numpy"]["hashes"] == [NUMPY_HASH]
    assert packages["churn"]["local"] is True
    assert captured["modules"]["sklearn"] == "scikit-learn"
    assert captured["project_lock_sha256"]
    lock = (folder / environment.REQUIREMENTS_ARTIFACT).read_text()
    assert f"scikit-learn=={sklearn.__version__}  # RECORD sha256:" in lock
    assert f"numpy=={packages['numpy']['version']} \\\n    --hash={NUMPY_HASH}" in lock
    assert "# churn==0 (installed from a local folder)" in lock

    digest = environment.digest(captured)
    assert (
        mlflow.MlflowClient().get_run(run.info.run_id).data.tags[environment.ENVIRONMENT_TAG]
        == digest
    )
    assert mlflow.get_logged_model(info.model_id).tags[environment.ENVIRONMENT_TAG] == digest
    assert (
        Path(mlflow.artifacts.download_artifacts(loose.model_uri)) / "requirements.lock"
    ).is_file()

    # The card lists the environment and flags scikit-learn: pinned only because it was
    # imported from the training environment; numpy, in the project's lock, is not flagged.
    registry = ModelRegistry(tracking.uri)
    registry.register(run.info.run_id, "plain-churn", by=ADA)
    card = registry.card("plain-churn")["environment"]
    assert card["python"] == card["python_version"] == platform.python_version()
    assert card["loader"]["loader_module"] == "mlflow.sklearn"
    assert card["environment_sha256"] == digest
    assert {
        "name": "scikit-learn",
        "version": sklearn.__version__,
        "source": "environment",
        "hash_kind": "record",
    } in card["complete_lock"]
    assert set(card["model_imports"]) >= {"sklearn", "numpy", "mlflow"}
    flagged = {f["package"]: f for f in card["flags"]}
    assert flagged["scikit-learn"]["problem"] == "not-in-project-lock"
    assert flagged["scikit-learn"]["version"] == sklearn.__version__
    assert "the project's uv.lock does not pin it" in flagged["scikit-learn"]["message"]
    assert "numpy" not in flagged


def test_an_explicit_serialization_and_runs_outside_capture_keep_mlflows_choice(
    tracking: Tracking, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    monkeypatch.delenv("ATELIER_PROJECT", raising=False)
    monkeypatch.chdir(tmp_path)
    capture.enable(False)
    data, target = churn_data()
    model = LogisticRegression().fit(data[["fees", "tenure"]], target)
    outside = mlflow.sklearn.log_model(model, name="outside", pip_requirements=["scikit-learn"])
    assert outside.flavors["sklearn"]["serialization_format"] == "skops"
    folder = Path(mlflow.artifacts.download_artifacts(outside.model_uri))
    assert not (folder / environment.ENVIRONMENT_ARTIFACT).exists()

    capture.enable()
    try:
        chosen = mlflow.sklearn.log_model(
            model, name="chosen", serialization_format="skops", pip_requirements=["scikit-learn"]
        )
    finally:
        capture.enable(False)
    assert chosen.flavors["sklearn"]["serialization_format"] == "skops"
    folder = Path(mlflow.artifacts.download_artifacts(chosen.model_uri))
    imports = environment.model_imports(folder, chosen.flavors)
    assert "sklearn" in imports and "model.skops" in imports["sklearn"]


class Boom:
    """Unpickling it would run a command: reading its imports must not."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("touch pwned",))


def test_a_model_whose_lock_misses_an_imported_package_is_flagged(tmp_path: Path) -> None:
    import numpy as np
    from sklearn.preprocessing import StandardScaler

    folder = tmp_path / "model"
    folder.mkdir()
    fitted = StandardScaler().fit(np.arange(6, dtype="float64").reshape(3, 2))
    (folder / "model.pkl").write_bytes(pickle.dumps(fitted, protocol=5))
    (folder / "old.pkl").write_bytes(pickle.dumps(np.dtype("int8"), protocol=0))
    (folder / "evil.pkl").write_bytes(pickle.dumps(Boom()))
    imports = environment.model_imports(folder, {"sklearn": {}})
    assert imports["sklearn"] == ["flavour sklearn", "model.pkl"]
    assert "numpy" in imports and "old.pkl" in imports["numpy"]
    evil = (folder / "evil.pkl").read_bytes()
    assert environment.pickle_globals(evil) == {os.system.__module__}  # read, never run
    assert os.system.__module__ not in imports  # the standard library needs no pin
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()

    captured = {
        "python": {"version": platform.python_version()},
        "project_lock_sha256": "0" * 64,
        "packages": [{"name": "numpy", "version": np.__version__, "source": "project-lock"}],
        "modules": {"numpy": "numpy"},
    }
    flags = {f["module"]: f for f in environment.review(captured, imports)}
    assert flags["sklearn"]["problem"] == "missing"
    assert flags["sklearn"]["package"] == "scikit-learn"
    assert "is not in the captured lock" in flags["sklearn"]["message"]
    assert "numpy" not in flags


def test_lock_and_pickle_readers_take_bad_input_calmly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zipfile

    import numpy as np

    broken = tmp_path / "uv.lock"
    broken.write_text("[[package]\nname=")
    assert environment.project_lock(broken) == {}
    assert environment.project_lock(tmp_path / "absent.lock") == {}
    assert environment.pickle_globals(b"not a pickle") == set()
    half = pickle.dumps(Boom())[:20]
    assert environment.pickle_globals(half) <= {os.system.__module__}
    skops = tmp_path / "model.skops"
    skops.write_bytes(b"PK not a zip")
    assert environment.skops_modules(skops) == set()
    assert environment.read("{not json") is None and environment.read("[1]") is None

    # A model folder's link to a file elsewhere is not followed; a schema too big is not read.
    outside = tmp_path / "elsewhere.pkl"
    outside.write_bytes(pickle.dumps(np.dtype("int8")))
    assert environment.pickle_globals(outside.read_bytes()) == {"numpy"}
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.pkl").symlink_to(outside)
    with zipfile.ZipFile(folder / "model.skops", "w") as archive:
        archive.writestr("schema.json", json.dumps({"__module__": "sklearn.pipeline"}))
    # A torch.save-style archive: the pickles inside are read.
    with zipfile.ZipFile(folder / "model.pth", "w") as archive:
        archive.writestr("model/data.pkl", pickle.dumps(np.dtype("int8")))
    assert environment.model_imports(folder) == {
        "numpy": ["model.pth"],
        "sklearn": ["model.skops"],
    }
    monkeypatch.setattr(environment, "MAX_SCHEMA_BYTES", 10)
    assert environment.skops_modules(folder / "model.skops") == set()
