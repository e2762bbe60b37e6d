"""Who calls: the cost of checking a bearer token or a session cookie, paid on every request.

Every request through the server (the ``/mlflow`` gateway included) reads its caller afresh from
the metadata database, so that a revoked token or a disabled user is refused at once. This
measures that check in-process (``Tokens.authenticate``, ``Sessions.authenticate``) on the
workspace's default SQLite database, against its limit: one primary-key ``SELECT`` of one column
through SQLAlchemy Core on the same engine, the least a check that reads the database can cost.
A request with a bearer token runs the token check behind the sign-in back-off
(``Throttle.authenticate_token``: the locks of its key and client read in the same statement),
measured too, and so is the check a steady caller's request gets from the server's event loop
(``Throttle.quick_token``: the row kept while SQLite's ``data_version`` is unchanged, so one
``PRAGMA`` on the driver connection instead of a statement).
3 repetitions, each a fresh process measuring the five in turn (rotated between repetitions);
statements per check are counted on the engines (the workers' and the event loop's reader).
Goal: within 2x of the limit, one statement.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

CALLS = 2_000
REPETITIONS = 3
KINDS = ["token", "throttled", "quick", "session", "limit"]

SCRIPT = f"""\
import json, sys, tempfile, time
from pathlib import Path
from sqlalchemy import event, select
from atelier.backends.metadata import User
from atelier.config import Workspace, init_workspace
from atelier.services.workbench import Workbench

order = sys.argv[1].split(",")
with tempfile.TemporaryDirectory(prefix="ab", dir="/tmp") as folder:
    root, _ = init_workspace(Path(folder) / "ws")
    wb = Workbench(Workspace.open(root, environ={{}}))
    owner = wb.owner()
    token = wb.tokens.create(owner.name, "bench", 1)[1]
    secret = wb.sessions.start(owner.user_id)
    limit = select(User.name).where(User.id == owner.user_id)

    def bare():
        with wb.db.engine.connect() as connection:
            return connection.execute(limit).scalar()

    checks = {{
        "token": lambda: wb.tokens.authenticate(token),
        "throttled": lambda: wb.throttle.authenticate_token(wb.tokens, token, "127.0.0.1"),
        "quick": lambda: wb.throttle.quick_token(wb.tokens, token, "127.0.0.1"),
        "session": lambda: wb.sessions.authenticate(secret),
        "limit": bare,
    }}
    # The token's first use recorded, so that the event loop's check can answer.
    wb.throttle.authenticate_token(wb.tokens, token, "127.0.0.1")
    seen = [0]
    for engine in (wb.db.engine, wb.db.loop_reader()):
        event.listen(engine, "before_cursor_execute", lambda *a: seen.__setitem__(0, seen[0] + 1))
    found = {{}}
    for name in order:
        check = checks[name]
        for _ in range(200):  # warm: pool, compiled-statement cache, "last used" written
            if check() is None:
                raise RuntimeError(name + ": refused")
        seen[0] = 0
        start = time.perf_counter()
        for _ in range({CALLS}):
            check()
        found[name] = {{"us": (time.perf_counter() - start) / {CALLS} * 1e6,
                       "statements": seen[0] / {CALLS}}}
    wb.close()
print(json.dumps(found))
"""


def run() -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
    loads, reps = [os.getloadavg()[0]], []
    for rep in range(REPETITIONS):
        order = KINDS[rep:] + KINDS[:rep]
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, ",".join(order)],
            env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        reps.append(json.loads(done.stdout.strip().splitlines()[-1]))
        loads.append(os.getloadavg()[0])

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"

    limit = [r["limit"]["us"] for r in reps]
    rows = []
    checks = (
        ("token", "bearer token"),
        ("throttled", "bearer token and back-off locks (a request)"),
        ("quick", "the same in the event loop, a steady caller (its row kept; one `PRAGMA`)"),
        ("session", "session cookie"),
    )
    for name, label in checks:
        values = [r[name]["us"] for r in reps]
        ratios = [v / x for v, x in zip(values, limit, strict=True)]
        ratio = statistics.median(ratios)
        statements = max(r[name]["statements"] for r in reps)
        verdict = "met" if ratio <= 2 and statements <= 1 else "NOT met"
        rows.append(
            f"| {label} | {spread(values)} µs | {statements:g} | {spread(limit)} µs | "
            f"{ratio:.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) | {verdict} |"
        )
    import sqlalchemy

    return "\n".join(
        [
            "## Who calls: the per-request caller check",
            "",
            f"`Tokens.authenticate` and `Sessions.authenticate` in-process on a workspace's "
            f"default SQLite database, {CALLS:,} checks each after 200 to warm up, versus the "
            "limit: one primary-key `SELECT` of one column through SQLAlchemy Core on the same "
            "engine. `Throttle.quick_token`: the check a steady caller's request gets in the "
            "server's event loop, its row kept while SQLite's `data_version` is unchanged (that "
            "`PRAGMA`, on the driver connection, is not a counted statement). "
            f"{REPETITIONS} repetitions, each a fresh process doing the five in turn "
            "(order rotated); medians, (min-max); statements per check counted on the engines.",
            "",
            "| check | time per check | statements | limit (one select) | ratio | goal: <= 2x, "
            "1 statement |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"SQLAlchemy {sqlalchemy.__version__}. Load average (1 min) before and after each "
            f"repetition: {', '.join(f'{x:.1f}' for x in loads)} ({os.cpu_count()} cores, "
            "shared).",
        ]
    )


if __name__ == "__main__":
    print(run())
