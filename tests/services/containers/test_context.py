"""What an image installs and what its context may hold, without an engine: the model's runtime
closure pinned to its lock, clear errors for a lock that cannot be used, names checked before
they reach a Containerfile, links never followed."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from atelier.errors import InvalidInput
from atelier.services.containers import context, requirements

MLMODEL = """\
flavors:
  python_function:
    loader_module: mlflow.sklearn
    python_version: 3.11.2
  sklearn:
    serialization_format: cloudpickle
    sklearn_version: 1.9.1
"""


def package(name: str, version: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "version": version, "hashes": [], "source": "environment", **more}


def captured(**changes: Any) -> dict[str, Any]:
    environment = {
        "format": 1,
        "python": {"version": "3.11.2"},
        "loader": {"flavor": "sklearn", "library": "scikit-learn"},
        "project_lock_sha256": None,
        "packages": [
            package("churn", "0", local=True),
            package("mlflow", "3.17.2"),
            package("mlflow-skinny", "3.17.2"),
            package("numpy", "2.4.6", hashes=["sha256:" + "ab" * 32], hash_kind="archive"),
            package("pandas", "3.1.1"),
            package("scikit-learn", "1.9.1"),
            package("jupyterlab", "4.9.0"),
        ],
        "modules": {"numpy": "numpy", "sklearn": "scikit-learn", "mlflow": "mlflow"},
    }
    environment.update(changes)
    return environment


def model(folder: Path, environment: dict[str, Any] | str | None, pickled: bytes) -> Path:
    folder.mkdir()
    (folder / "MLmodel").write_text(MLMODEL)
    (folder / "model.pkl").write_bytes(pickled)
    if environment is not None:
        text = environment if isinstance(environment, str) else json.dumps(environment)
        (folder / "atelier-environment.json").write_text(text)
    return folder


NUMPY_PICKLE = pickle.dumps(__import__("numpy").float64(1.5))


def test_the_image_installs_the_models_closure_at_its_locks_versions(tmp_path: Path) -> None:
    plan = requirements.plan(model(tmp_path / "m", captured(), NUMPY_PICKLE), label="churn/1")
    # What the model imports, its flavour's library, MLflow's loader (skinny) and pandas; not
    # the notebook's jupyterlab, not the project itself.
    assert plan.requirements == [
        "mlflow-skinny==3.17.2",
        "numpy==2.4.6",
        "pandas==3.1.1",
        "scikit-learn==1.9.1",
    ]
    assert "jupyterlab==4.9.0" in plan.constraints  # a dependency would get the lock's version
    assert not any(c.startswith(("churn", "mlflow==")) for c in plan.constraints)
    assert plan.python == "3.11" and plan.source == "captured"
    assert plan.hashes == {"numpy": {"sha256:" + "ab" * 32}}
    assert plan.environment_sha256 and len(plan.environment_sha256) == 64


@pytest.mark.parametrize(
    ("environment", "says"),
    [
        ('{"packages": [', "atelier-environment.json of churn/1 is not readable JSON"),
        ('["not", "an", "object"]', "has no list of packages"),
        (captured(python={"version": "eleven"}), "the Python version 'eleven' is not one"),
        (
            captured(packages=[package("scikit-learn", "1.9.1; rm -rf /")]),
            "package scikit-learn: '1.9.1; rm -rf /' is not a version",
        ),
        (
            captured(packages=[package("scikit learn\n", "1.9.1")]),
            "is not a package name",
        ),
        (
            captured(packages=[package("scikit-learn", "1.9.1"), package("numpy", "2.4.6")]),
            "mlflow (module mlflow, needed by loader module) is not in the captured lock",
        ),
    ],
)
def test_a_lock_that_cannot_be_used_is_a_clear_error(
    tmp_path: Path, environment: dict[str, Any] | str, says: str
) -> None:
    with pytest.raises(InvalidInput, match=None) as refused:
        requirements.plan(model(tmp_path / "m", environment, NUMPY_PICKLE), label="churn/1")
    assert says in str(refused.value)


def test_a_model_importing_what_its_lock_does_not_pin_is_refused(tmp_path: Path) -> None:
    # A pickle that needs xgboost, which neither the lock nor this interpreter has.
    pickled = b"\x80\x02cxgboost.core\nBooster\nq\x00."
    with pytest.raises(InvalidInput) as refused:
        requirements.plan(model(tmp_path / "m", captured(), pickled), label="churn/1")
    assert "the environment of churn/1 does not pin what the model imports" in str(refused.value)
    assert "xgboost" in str(refused.value)


def test_without_a_captured_environment_mlflows_exact_requirements_are_used(
    tmp_path: Path,
) -> None:
    folder = model(tmp_path / "m", None, NUMPY_PICKLE)
    (folder / "requirements.txt").write_text(
        "mlflow==3.17.2\nscikit-learn==1.9.1  # the model\n\ncloudpickle==3.1.3\n"
    )
    plan = requirements.plan(folder, label="churn/1")
    assert plan.requirements == [
        "cloudpickle==3.1.3",
        "mlflow-skinny==3.17.2",
        "pandas",
        "scikit-learn==1.9.1",
    ]
    assert plan.source == "mlflow-requirements" and plan.python == "3.11"

    (folder / "requirements.txt").write_text("mlflow==3.17.2\nscikit-learn\n")
    with pytest.raises(InvalidInput) as refused:
        requirements.plan(folder, label="churn/1")
    assert "requirements.txt of churn/1, line 2: 'scikit-learn' is not name==version" in str(
        refused.value
    )
    (folder / "requirements.txt").unlink()
    with pytest.raises(InvalidInput, match="neither a captured environment"):
        requirements.plan(folder, label="churn/1")


@pytest.mark.parametrize(
    "tag", ["Team/Churn:v1", "churn:v1\nRUN rm -rf /", "-churn", "churn:", "a b", "churn:v1;x"]
)
def test_image_names_are_checked(tag: str) -> None:
    with pytest.raises(InvalidInput, match="is not an image name"):
        context.check_tag(tag)


@pytest.mark.parametrize(
    "tag", ["churn", "team/churn:v1", "127.0.0.1:5000/team/churn:v1", "atelier-model/a-b_c:v3"]
)
def test_good_image_names_pass(tag: str) -> None:
    assert context.check_tag(tag) == tag


@pytest.mark.parametrize("base", ["python:3.11\nRUN curl evil", "", "python 3.11", "-x"])
def test_base_images_are_checked_before_they_reach_from(base: str) -> None:
    with pytest.raises(InvalidInput, match="is not an image reference"):
        context.check_base(base)


def test_default_tags_are_image_names() -> None:
    assert context.default_tag("Churn Model (EU)", 3) == "atelier-model/churn-model-eu:v3"
    assert context.check_tag(context.default_tag("__", 1)) == "atelier-model/model:v1"


def test_the_models_files_are_copied_without_following_links(tmp_path: Path) -> None:
    secret = tmp_path / "secret_key"
    secret.write_text("do not ship me")
    source = tmp_path / "model"
    (source / "data").mkdir(parents=True)
    (source / "MLmodel").write_text(MLMODEL)
    (source / "data" / "weights.bin").write_bytes(b"\x00\x01")
    (source / "key").symlink_to(secret)
    (source / "outside").symlink_to(tmp_path)
    target = tmp_path / "copy"
    context._copy_model(source, target)
    copied = sorted(p.relative_to(target).as_posix() for p in target.rglob("*"))
    assert copied == ["MLmodel", "data", "data/weights.bin"]


def test_the_containerfile_installs_offline_as_an_unprivileged_user() -> None:
    labels = context.labels_of(
        name="churn",
        version=3,
        run_id="abc",
        data_versions=[{"table": "bank.customers", "version": 3}],
        environment_sha256="e" * 64,
        lock_sha256="f" * 64,
        lock_source="captured",
        base="python:3.11-slim",
    )
    text = context.containerfile("python:3.11-slim", "3.11", "3.11.9", labels)
    assert text.splitlines()[1] == "FROM python:3.11-slim"
    assert "--no-index" in text and "--require-hashes" in text
    assert "RUN --mount=type=bind,source=wheels,target=/tmp/wheels" in text
    assert "COPY wheels" not in text  # never a layer of the image
    assert "USER 10001:10001" in text
    assert 'io.atelier.data-versions="[{\\"table\\":\\"bank.customers\\",\\"version\\":3}]"' in text
    assert "needs Python 3.11 (it was trained with 3.11.9)" in text
