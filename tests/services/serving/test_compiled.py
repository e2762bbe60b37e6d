"""Compiled preprocessing gives exactly scikit-learn's matrix and predictions, or is refused.

Pipelines are fitted here on DataFrames as training code fits them; each compiled plan is
compared value by value (``==``, not approximately) with the pipeline itself on rows it was not
verified on, including unseen categories and values far outside the training range.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)

from atelier.services.serving import Column, InputSchema, ModelServer
from atelier.services.serving.compiled import (
    UNSEEN,
    CompiledPipeline,
    Unsupported,
    compile_pipeline,
    verification_rows,
    verify,
)
from atelier.services.tracking.references import parse_reference
from atelier.services.workbench import Workbench
from tests.services.serving.conftest import Registered
from tests.services.serving.helpers import EXAMPLE

SCHEMA = InputSchema(
    [
        Column("age", "long"),
        Column("segment", "string"),
        Column("country", "string"),
        Column("fees", "double"),
        Column("ratio", "float"),
        Column("complaints", "integer"),
        Column("card", "boolean"),
        Column("note", "string", required=False),
    ]
)
SEGMENTS = ["student", "mass", "affluent", "premier"]
COUNTRIES = [f"C{i:02d}" for i in range(40)]


def training(rows: int = 600, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    records = [
        {
            "age": int(rng.integers(18, 80)),
            "segment": SEGMENTS[int(rng.integers(0, 4))],
            "country": COUNTRIES[int(rng.integers(0, 30))],  # 10 countries never seen
            "fees": float(rng.gamma(2.0, 5.0)),
            "ratio": float(rng.random()),
            "complaints": int(rng.poisson(1.0)),
            "card": bool(rng.random() < 0.4),
            "note": "x",
        }
        for _ in range(rows)
    ]
    frame = SCHEMA.frame(SCHEMA.validate(records))
    score = frame["fees"] * 0.1 + frame["complaints"] - frame["age"] * 0.01
    labels = np.where(score > 1.2, "churn", np.where(score > 0.4, "maybe", "stay"))
    return frame, labels


def requests(count: int = 300, seed: int = 11) -> list[dict[str, Any]]:
    """Validated rows unlike the training rows: unseen countries and extreme numbers."""
    rng = np.random.default_rng(seed)
    records = [
        {
            "age": int(rng.integers(-5, 10**6)),
            "segment": SEGMENTS[int(rng.integers(0, 4))],
            "country": COUNTRIES[int(rng.integers(0, 40))],
            "fees": float(rng.normal(0, 1e4)),
            "ratio": float(rng.random() * 3),
            "complaints": int(rng.integers(0, 50)),
            "card": bool(rng.random() < 0.5),
            "note": "y",
        }
        for _ in range(count)
    ]
    return SCHEMA.validate(records)


def churn_pipeline(model: Any = None, **encoder: Any) -> Pipeline:
    return Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        (
                            "categories",
                            OneHotEncoder(handle_unknown="ignore", **encoder),
                            ["segment", "country"],
                        ),
                        ("numbers", StandardScaler(), ["age", "fees", "ratio", "complaints"]),
                        ("flags", "passthrough", ["card"]),
                    ]
                ),
            ),
            ("classify", model if model is not None else LogisticRegression(max_iter=500)),
        ]
    )


def compiled(pipeline: Pipeline, binary: bool = False) -> tuple[CompiledPipeline, pd.DataFrame]:
    frame, labels = training()
    if binary:
        labels = np.where(labels == "churn", "churn", "stay")
    pipeline.fit(frame.drop(columns=["note"]), labels)
    plan = compile_pipeline(pipeline, SCHEMA)
    verify(plan, pipeline, SCHEMA, verification_rows(plan, SCHEMA, []))
    return plan, frame


def assert_same(plan: CompiledPipeline, pipeline: Pipeline, rows: list[dict[str, Any]]) -> None:
    frame = SCHEMA.frame(rows)
    theirs = pipeline.steps[0][1].transform(frame)
    ours = plan.matrix(rows)
    if hasattr(theirs, "toarray"):
        assert hasattr(ours, "toarray")  # sparse where scikit-learn is sparse
        theirs, ours = theirs.toarray(), ours.toarray()
    assert ours.dtype == theirs.dtype == np.float64
    assert np.array_equal(ours, theirs)
    assert np.array_equal(plan.predict_proba(plan.matrix(rows)), pipeline.predict_proba(frame))
    assert list(plan.predict(plan.matrix(rows))) == list(pipeline.predict(frame))


def test_a_binary_logistic_pipeline_is_compiled_to_the_same_numbers() -> None:
    pipeline = churn_pipeline()
    plan, _ = compiled(pipeline, binary=True)
    assert plan.native and plan.sparse  # mostly zeros: scikit-learn stacks it sparse
    assert_same(plan, pipeline, requests())
    for row in requests(20, seed=5):  # alone, as a single request is predicted
        assert_same(plan, pipeline, [row])


def test_a_multinomial_logistic_pipeline_is_compiled_to_the_same_numbers() -> None:
    pipeline = churn_pipeline()
    plan, _ = compiled(pipeline)
    assert len(plan.classes_) == 3 and plan.native
    assert_same(plan, pipeline, requests())


def test_a_dense_transformer_output_stays_dense() -> None:
    pipeline = churn_pipeline()
    pipeline.steps[0][1].set_params(sparse_threshold=0)
    plan, _ = compiled(pipeline, binary=True)
    assert not plan.sparse
    assert_same(plan, pipeline, requests())


def test_another_model_is_called_by_scikit_learn_on_the_compiled_matrix() -> None:
    pipeline = churn_pipeline(RandomForestClassifier(n_estimators=5, random_state=0))
    plan, _ = compiled(pipeline)
    assert not plan.native and plan.final is pipeline.steps[-1][1]
    assert_same(plan, pipeline, requests())


def test_imputers_nested_pipelines_and_a_passed_through_remainder() -> None:
    pipeline = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        (
                            "text",
                            Pipeline(
                                [
                                    ("fill", SimpleImputer(strategy="most_frequent")),
                                    ("code", OneHotEncoder(handle_unknown="ignore")),
                                ]
                            ),
                            ["segment", "country"],
                        ),
                        (
                            "numbers",
                            Pipeline([("fill", SimpleImputer()), ("scale", StandardScaler())]),
                            ["age", "fees"],
                        ),
                        ("gone", "drop", ["ratio"]),
                        ("count", "passthrough", make_column_selector(pattern="^complaints$")),
                    ],
                    remainder="passthrough",
                ),
            ),
            ("scale", StandardScaler(with_mean=False)),
            ("classify", LogisticRegression(max_iter=500)),
        ]
    )
    plan, _ = compiled(pipeline)
    assert len(plan.steps) == 1  # the second scaler runs as scikit-learn runs it
    assert_same(plan, pipeline, requests())


TEXT = ["segment", "country"]


@pytest.mark.parametrize(
    ("prepare", "columns", "why"),
    [
        (OneHotEncoder(drop="first"), TEXT, "drops a category"),
        (OneHotEncoder(min_frequency=30, handle_unknown="infrequent_if_exist"), TEXT, "infrequent"),
        (OrdinalEncoder(), TEXT, "OrdinalEncoder is not compiled"),
        (FunctionTransformer(np.log1p), ["fees"], "with a function"),
        (OneHotEncoder(sparse_output=False).set_output(transform="pandas"), TEXT, "DataFrames"),
        (OneHotEncoder(dtype=np.float32), TEXT, "float64"),
        (StandardScaler(), ["ratio"], "float32"),
        (SimpleImputer(add_indicator=True), ["fees"], "indicator"),
        (StandardScaler(), ["segment"], "not a number"),
        (FunctionTransformer(lambda column: column.to_frame()), "fees", "as a scalar"),
    ],
)
def test_what_is_not_compiled_says_why(prepare: Any, columns: Any, why: str) -> None:
    frame, labels = training()
    if "segment" in columns and isinstance(prepare, StandardScaler):
        frame = frame.assign(segment=frame["age"])  # numbers at fit, text in the signature
    pipeline = Pipeline(
        [
            ("prepare", ColumnTransformer([("c", prepare, columns)])),
            ("classify", LogisticRegression(max_iter=500)),
        ]
    ).fit(frame, labels)
    with pytest.raises(Unsupported, match=why):
        compile_pipeline(pipeline, SCHEMA)


def test_a_model_without_a_column_transformer_is_not_compiled() -> None:
    frame, labels = training()
    model = LogisticRegression(max_iter=500).fit(frame[["age", "fees"]], labels)
    with pytest.raises(Unsupported, match="not a pipeline"):
        compile_pipeline(model, SCHEMA)


def test_an_unseen_category_an_encoder_refuses_is_left_to_scikit_learn() -> None:
    pipeline = churn_pipeline()
    pipeline.steps[0][1].transformers[0][1].set_params(handle_unknown="error")
    frame, labels = training()
    pipeline.fit(frame, labels)
    plan = compile_pipeline(pipeline, SCHEMA)
    seen = [row for row in requests() if row["country"] in COUNTRIES[:30]][:5]
    assert_same(plan, pipeline, seen)
    unseen = [{**seen[0], "country": "C39"}]
    assert plan.matrix(unseen) is None  # so scikit-learn raises its own error
    with pytest.raises(ValueError, match="unknown categor"):
        pipeline.predict_proba(SCHEMA.frame(unseen))


def test_verification_refuses_a_plan_that_differs_from_scikit_learn() -> None:
    pipeline = churn_pipeline()
    frame, labels = training()
    pipeline.fit(frame, labels)
    plan = compile_pipeline(pipeline, SCHEMA)
    rows = verification_rows(plan, SCHEMA, [])
    # Every category of each encoded column, an unseen one, and edge values of each number.
    assert {r["segment"] for r in rows} == {*SEGMENTS, UNSEEN}
    assert {r["country"] for r in rows} == {*COUNTRIES[:30], UNSEEN}
    assert {r["age"] for r in rows} >= {0, -7, 123_456_789}
    numbers = plan.blocks[1][1]
    numbers.mean = numbers.mean + 1e-9  # type: ignore[union-attr,operator]
    with pytest.raises(Unsupported, match="matrix differs"):
        verify(plan, pipeline, SCHEMA, rows)


# -- in the model server ---------------------------------------------------------------------


def test_served_pipelines_are_compiled_and_answer_as_scikit_learn_does(
    registered: Registered, lake_workbench: Workbench, tmp_path: Path
) -> None:
    ref = parse_reference("churn@champion")
    servers = [
        ModelServer(
            registered.registry(),
            lake_workbench.warehouse,
            tmp_path / f"journal-{compile_models}",
            flush_seconds=3600,
            compile_models=compile_models,
        )
        for compile_models in (True, False)
    ]
    try:
        fast, plain = (server.model(ref) for server in servers)
        # What was loaded is out of the cyclic collector's full passes (no pause for them).
        assert gc.get_freeze_count() > 0
        assert (fast.inference, plain.inference) == ("compiled", "scikit-learn")
        assert fast.compiled is not None and plain.compiled is None
        records = [
            {**EXAMPLE, "age": 18 + 3 * i, "segment": s, "country": c, "complaints": i % 4}
            for i, (s, c) in enumerate(
                (s, c)
                for s in ("student", "mass", "affluent", "premier")
                for c in ("GB", "DE", "FR", "NL", "US")
            )
        ]
        for batch in (records, records[:1]):
            answers = [
                [
                    p.as_dict() | {"id": None}
                    for p in server.predict(ref, batch, caller="t").predictions
                ]
                for server in servers
            ]
            assert answers[0] == answers[1]  # labels and probabilities, exactly

        # A row with a missing value goes through scikit-learn (the compiled plan is not asked).
        assert fast.schema is not None and fast.compiled is not None
        asked: list[int] = []
        matrix = fast.compiled.matrix
        fast.compiled.matrix = lambda rows: asked.append(len(rows)) or matrix(rows)  # type: ignore[method-assign]
        row = fast.schema.validate([EXAMPLE])[0]
        complete = fast.predict_records([row])
        assert asked == [1]
        missing = fast.predict_records([{**row, "note": None}])
        assert asked == [1]
        assert missing == complete  # the note is not one of the model's inputs
    finally:
        for server in servers:
            server.close()
