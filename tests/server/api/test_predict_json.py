"""The predict endpoint writes its answer as JSON itself: always valid JSON."""

import json

from atelier.server.api.predict import _dumps


def test_answers_are_compact_json_and_non_finite_numbers_become_null() -> None:
    answer = {"prediction": "stay", "probability": 0.75, "probabilities": {"stay": 0.75}}
    assert (
        _dumps(answer) == b'{"prediction":"stay","probability":0.75,"probabilities":{"stay":0.75}}'
    )
    odd = {
        "prediction": float("nan"),
        "probabilities": {"a": float("inf")},
        "list": [float("-inf"), 1.0],
    }
    assert json.loads(_dumps(odd)) == {
        "prediction": None,
        "probabilities": {"a": None},
        "list": [None, 1.0],
    }
