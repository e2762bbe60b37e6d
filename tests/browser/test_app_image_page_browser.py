"""The page inside a generated app's image, in Chromium: the form sends its record to the
image's runtime and shows the prediction; a value the field refuses is kept from being sent, a
record the model's signature refuses is shown as the runtime's message, and the page's own
policy blocks nothing of it."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from atelier.services.containers import app_page, app_runtime
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS

pytestmark = [
    *(pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

#: The fields as the apps service gives them (``Field.as_dict``): one personal, one to choose.
FIELDS = [
    {"name": "fees", "type": "double", "widget": "number", "required": True, "default": 3.5},
    {"name": "tenure", "type": "long", "widget": "integer", "required": True, "default": 12},
    {
        "name": "segment", "type": "string", "widget": "category", "required": True,
        "default": "mass", "options": ["mass", "premium"],
    },
    {
        "name": "email", "type": "string", "widget": "text", "required": False,
        "default": None, "personal": "email",
    },
]  # fmt: skip


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The image's runtime serving a small classifier and the app's page, on a free port."""
    import warnings

    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    folder = tmp_path_factory.mktemp("app-page")
    frame = pd.DataFrame(
        {
            "fees": [1.0, 5.0, 2.0, 8.0],
            "tenure": [30, 2, 20, 1],
            "segment": ["mass", "premium", "mass", "premium"],
            "email": ["a@x.org", "b@x.org", "c@x.org", "d@x.org"],
        }
    )
    # Two of the four columns predict; the others only reach the signature.
    keep = ColumnTransformer([("kept", "passthrough", ["fees", "tenure"])])
    model = make_pipeline(keep, LogisticRegression()).fit(frame, ["stay", "churn", "stay", "churn"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(
            model, str(folder / "model"), signature=infer_signature(frame, ["stay"])
        )
    app_page.write(
        folder / "page", app="churn-form", title="Will <they> churn?", model="churn", version=3,
        fields=FIELDS,
    )  # fmt: skip
    info = {"name": "churn", "version": 3}
    server = app_runtime.serve(folder / "model", info, folder / "page", "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_the_form_predicts_through_the_images_runtime(runtime: str, page: Any) -> None:
    from playwright.sync_api import expect

    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if m.type == "error" else None)
    page.goto(runtime)
    assert page.title() == "Will <they> churn?"  # escaped in the page, shown as written
    assert page.locator("h1").inner_text() == "Will <they> churn?"
    assert page.locator("p.what").inner_text() == "churn version 3"
    assert page.locator("#f-fees").input_value() == "3.5"
    assert page.locator("#f-segment").input_value() == "mass"
    assert page.locator("#f-email").input_value() == ""  # personal: never filled in
    assert "personal data: email" in page.locator("label[for=f-email]").inner_text()

    page.fill("#f-fees", "8")
    page.fill("#f-tenure", "1")
    page.select_option("#f-segment", "premium")
    page.click("button[type=submit]")
    answer = page.locator("#answer")
    expect(answer).to_have_text(re.compile(r"^Prediction: churn \(probability \d+\.\d %\)$"))

    page.fill("#f-tenure", "1.5")  # not a whole number: the browser keeps it from being sent
    page.click("button[type=submit]")
    expect(page.locator("#f-tenure:invalid")).to_have_count(1)
    expect(answer).to_have_text(re.compile(r"^Prediction: churn"))

    page.fill("#f-tenure", "1")
    page.locator("#f-fees").evaluate("e => e.removeAttribute('required')")
    page.fill("#f-fees", "")  # a required column left out: the runtime's 422, shown as said
    page.click("button[type=submit]")
    expect(answer).to_contain_text("fees")
    expect(answer).to_have_class("error")
    assert blocked == [] or all("422" in text for text in blocked), blocked


def test_the_page_is_served_with_its_policy(runtime: str, page: Any) -> None:
    answer = page.goto(runtime)
    headers = answer.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    missing = page.goto(runtime + "nothing-here")
    assert missing.status == 404
