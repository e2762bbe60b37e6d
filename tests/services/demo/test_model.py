"""The demo churn model and app: trained on the demo bank, registered, published once."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from atelier.config import Workspace, init_workspace
from atelier.services.auth import Principal
from atelier.services.demo.load import load_demo
from atelier.services.demo.model import APP, MODEL, publish_demo_app
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    root, _ = init_workspace(tmp_path_factory.mktemp("demo-model") / "ws")
    wb = Workbench(Workspace.open(root, environ={}))
    load_demo(wb.warehouse, scale=0.05, author=wb.owner().name)
    yield wb
    wb.close()


def test_the_demo_model_is_registered_and_its_app_shared_with_everyone(demo: Workbench) -> None:
    owner = demo.owner()
    published = publish_demo_app(demo, owner)
    assert published.version == 1 and published.app == APP
    assert any("churn@champion is version 1" in note for note in published.notes)

    card = demo.models.card(f"{MODEL}@champion")
    inputs = {c["name"]: c["type"] for c in card["signature"]["inputs"]}
    assert inputs["segment"] == "string" and inputs["age"] == "long"
    assert inputs["has_credit_card"] == "boolean" and inputs["monthly_fees"] == "double"
    assert 0.5 < card["metrics"]["roc_auc"] <= 1
    assert {d["table"] for d in card["data_versions"]} >= {"bank.customers", "bank.churn_labels"}
    assert card["registered_by"] == owner.name
    # Trained by Atelier's own code: no commit of whatever repository the tests run from.
    assert card["environment"]["git_commit"] is None

    info = demo.models.resolve(f"{MODEL}@champion")
    mlmodel = json.dumps(yaml.safe_load(info.mlmodel.read_text()))
    assert '"categories"' in mlmodel  # the values seen in training, for the app's drop-downs

    app = demo.apps.registry.get(APP)
    assert app.shared_with_all and app.status == "running" and app.model == "churn@champion"
    demo.users.create("vic", "viewer", PASSWORD)
    viewer = Principal(demo.users.get("vic").id, "vic", "viewer", "session")
    assert [a.name for a in demo.apps.registry.list(viewer)] == [APP]
    _, fields = demo.apps.model_of(app)
    widgets = {f.name: f.widget for f in fields}
    assert widgets["segment"] == "category" and widgets["has_credit_card"] == "boolean"
    options = next(f.options for f in fields if f.name == "segment")
    assert options == ["affluent", "mass", "premier", "student"]
    form: dict[str, Any] = {f.name: f.default for f in fields if f.default is not None}
    form["has_credit_card"] = "on"
    batch = demo.apps.predict(app, viewer, form={k: str(v) for k, v in form.items()})
    assert batch.predictions[0].prediction in ("churn", "stay")
    assert batch.predictions[0].probability is not None

    again = publish_demo_app(demo, owner)
    assert (again.version, again.app, again.notes) == (1, APP, [])
    assert [v["version"] for v in demo.models.versions(MODEL)] == [1]
    assert [a.name for a in demo.apps.registry.list()] == [APP]


def test_without_scikit_learn_the_model_is_skipped_with_a_note(
    demo: Workbench, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "sklearn" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    published = publish_demo_app(demo, demo.owner())
    assert published.version is None and published.app is None
    assert published.notes == [
        "Skipped the demo churn model: it needs scikit-learn (pip install 'atelier[ml]')"
    ]


def test_a_churn_model_without_champion_is_left_alone(tmp_path: Path) -> None:
    from tests.services.tracking.mlflow_env import log_model_run

    root, _ = init_workspace(tmp_path / "ws")
    wb = Workbench(Workspace.open(root, environ={}))
    try:
        from atelier.services.tracking import TrackingStore

        store = TrackingStore.for_workspace(wb.workspace)
        store.prepare()
        run = log_model_run(store.backend_uri, store.artifacts_dir / "mine")
        wb.models.register(run, MODEL, by=wb.owner())
        published = publish_demo_app(wb, wb.owner())
        assert published.version is None and published.app is None
        assert "has no 'champion' alias" in published.notes[0]
        assert [v["version"] for v in wb.models.versions(MODEL)] == [1]
    finally:
        wb.close()
