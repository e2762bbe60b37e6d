"""No prediction or feedback is lost: 2,000 predictions through an app, each with feedback,
from 20 concurrent clients against a real server, all counted in the warehouse."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from atelier.services.auth import Principal
from atelier.services.workbench import Workbench
from tests.conftest import start_server
from tests.services.serving.helpers import EXAMPLE, workspace_with_model

CLIENTS = 20
EACH = 100


def test_every_prediction_and_feedback_lands(tmp_path: Path) -> None:
    workspace = workspace_with_model(tmp_path / "ws")
    wb = Workbench(workspace)
    tokens = []
    for index in range(CLIENTS):
        wb.users.create(f"user{index}", "viewer", "correct horse battery")
        tokens.append(wb.tokens.create(f"user{index}", "load", 1)[1])
    owner = wb.owner()
    wb.apps.create("load", "churn@champion", owner)
    wb.apps.registry.share("load", Principal(0, owner.name, "admin", "local"), everyone=True)
    server = start_server(workspace)
    try:

        def client(token: str) -> list[str]:
            ids = []
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(
                base_url=f"{server.url}/api/v1", headers=headers, timeout=120
            ) as http:
                for n in range(EACH):
                    predicted = http.post(
                        "/apps/load/predict", json={**EXAMPLE, "age": 20 + n % 60}
                    )
                    assert predicted.status_code == 200, predicted.text
                    pid = predicted.json()["id"]
                    verdict = "right" if n % 3 else "wrong"
                    given = http.post(
                        "/apps/load/feedback",
                        json={"prediction_id": pid, "verdict": verdict, "comment": f"#{n}"},
                    )
                    assert given.status_code == 201, given.text
                    ids.append(pid)
            return ids

        with ThreadPoolExecutor(CLIENTS) as pool:
            ids = [pid for found in pool.map(client, tokens) for pid in found]
        assert len(set(ids)) == CLIENTS * EACH
        assert wb.feedback.count("load") == CLIENTS * EACH

        def counts() -> tuple[int, int]:
            sql = (
                "SELECT (SELECT count(DISTINCT prediction_id) FROM predictions.churn "
                "WHERE app = 'load'), (SELECT count(DISTINCT feedback_id) FROM feedback.load)"
            )
            try:
                with wb.query.run(sql, user=owner.name) as result:
                    row = result.to_arrow().to_pylist()[0]
            except Exception:  # the tables appear with the first shipment
                return (0, 0)
            predictions, feedback = row.values()
            return int(predictions), int(feedback)

        deadline = time.monotonic() + 60
        while counts() != (CLIENTS * EACH, CLIENTS * EACH) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert counts() == (CLIENTS * EACH, CLIENTS * EACH)
    finally:
        server.stop()
        wb.close()
    # Stopping ships nothing twice.
    with wb.query.run("SELECT count(*) AS n FROM feedback.load", user=owner.name) as result:
        assert result.to_arrow().to_pylist() == [{"n": CLIENTS * EACH}]
