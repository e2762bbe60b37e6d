"""Concurrent appends from 8 clients over 2 Atelier servers, next to the same clients on 1.

One workspace on PostgreSQL metadata and a PostgreSQL DuckLake catalog (the team setup).
Each run starts fresh ``atelier up`` processes (one, or two on the same folder and
databases), then 8 client threads (the remote SDK) each append ``APPENDS`` batches of
``ROWS`` rows to a new table of the run, alternating between the servers when there are two.
Runs are interleaved (1, 2, 2, 1, 1, 2). The rows carry what real appends do (missing
values, empty and non-ASCII text, times with microseconds); after each run the whole table is
read back and compared value by value with every row sent. Reported: appends per second
(median and spread) and the ratio 2 servers / 1.

PostgreSQL: ``ATELIER_BENCH_POSTGRES_URL`` or ``ATELIER_TEST_POSTGRES_URL`` (a server where
databases may be created and dropped).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from bench._process import free_port, stop_group

RUNS = 3
CLIENTS = 8
APPENDS = 5
ROWS = 50


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.contextmanager
def _databases(admin: str, count: int) -> Iterator[list[str]]:
    import psycopg

    names = [f"atelier_bench_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield [_with_database(admin, name) for name in names]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _workspace(folder: Path, metadata: str, catalog: str) -> tuple[Path, str]:
    """A team workspace with one admin; its root and the admin's token."""
    from atelier.config import Workspace, init_workspace
    from atelier.services.workbench import Workbench

    root, _ = init_workspace(folder)
    config = root / "atelier.toml"
    text = config.read_text()
    text = text.replace('mode = "single"', 'mode = "team"')
    text = text.replace('\nurl = ""\n', f'\nurl = "{metadata}"\n', 1)
    text = text.replace('catalog_url = ""', f'catalog_url = "{catalog}"', 1)
    config.write_text(text + '\n[auth]\npassword_hash_cost = "minimal"\n')
    workbench = Workbench(Workspace.open(root, environ={}))
    try:
        workbench.users.create("bench", "admin", "bench password long enough")
        token = workbench.tokens.create("bench", "bench", 1)[1]
    finally:
        workbench.close()
    return root, token


def _start(root: Path, node: str) -> tuple[subprocess.Popen[bytes], str]:
    port, apps_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("ATELIER_URL", "ATELIER_TOKEN")},
        "ATELIER_WORKSPACE": str(root),
        "ATELIER_NODE_NAME": node,
        "ATELIER_SERVER_APPS_PORT": str(apps_port),
        "ATELIER_TRACKING_START_ON_UP": "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "atelier", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        if process.poll() is not None:
            raise RuntimeError(f"atelier up exited with {process.returncode}")
        time.sleep(0.2)
    stop_group(process, 10)
    raise RuntimeError("atelier up did not answer in 120 s")


def _batch(client: int, batch: int) -> Any:
    """Client ``client``'s batch ``batch``: ROWS rows, some values missing."""
    from datetime import UTC, datetime, timedelta

    import pyarrow as pa

    n = [batch * ROWS + i for i in range(ROWS)]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return pa.table(
        {
            "client": [client] * ROWS,
            "n": n,
            "value": [None if i % 7 == 3 else (client * 1000 + i) / 3 for i in n],
            "note": [["", "é ü 株", None, f"c{client}"][i % 4] for i in n],
            "at": [start + timedelta(seconds=i, microseconds=client * 7 + i) for i in n],
        }
    )


def _appends(urls: list[str], token: str, table: str) -> float:
    """Seconds for CLIENTS threads to append APPENDS batches each; then the table is
    compared, value by value, with every row sent."""
    import pyarrow as pa

    import atelier

    with atelier.connect(urls[0], token) as first:
        first.upload(_batch(-1, 0).slice(0, 1), table, mode="create")
    failures: list[BaseException] = []
    start = threading.Barrier(CLIENTS + 1)

    def client(number: int) -> None:
        clients = [atelier.connect(url, token) for url in urls]
        try:
            start.wait()
            for batch in range(APPENDS):
                rows = _batch(number, batch)
                clients[(number + batch) % len(clients)].upload(rows, table, mode="append")
        except BaseException as error:
            failures.append(error)
        finally:
            for opened in clients:
                opened.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"an append failed: {failures[0]}")
    sent = pa.concat_tables(
        [_batch(-1, 0).slice(0, 1)] + [_batch(c, b) for c in range(CLIENTS) for b in range(APPENDS)]
    )
    with atelier.connect(urls[-1], token) as ws:
        found = ws.sql(f"SELECT * FROM {table} ORDER BY client, n", format="arrow")
    expected = sent.sort_by([("client", "ascending"), ("n", "ascending")])
    found = found.select(expected.column_names).cast(expected.schema)
    if not found.equals(expected):
        raise RuntimeError(
            f"{table}: {found.num_rows} rows read back differ from the {expected.num_rows} sent"
        )
    return seconds


def _one_run(root: Path, token: str, servers: int, table: str) -> float:
    started = [_start(root, f"bench-{n}") for n in range(servers)]
    try:
        return _appends([url for _, url in started], token, table)
    finally:
        for process, _ in started:
            stop_group(process, 20)


def run() -> str:
    admin = os.environ.get("ATELIER_BENCH_POSTGRES_URL") or os.environ.get(
        "ATELIER_TEST_POSTGRES_URL"
    )
    if not admin:
        return (
            "## Several servers: concurrent appends\n\nNot run: set ATELIER_BENCH_POSTGRES_URL "
            "(a PostgreSQL server where databases may be created)."
        )
    folder = Path(tempfile.mkdtemp(prefix="atelier-bench-servers-"))
    seconds: dict[int, list[float]] = {1: [], 2: []}
    load = [os.getloadavg()[0]]
    try:
        with _databases(admin, 2) as (metadata, catalog):
            root, token = _workspace(folder / "ws", metadata, catalog)
            order = [1, 2, 2, 1, 1, 2][: RUNS * 2]
            for number, servers in enumerate(order):
                table = f"appends_{number}"
                seconds[servers].append(_one_run(root, token, servers, table))
                load.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    appends = CLIENTS * APPENDS
    rates = {n: [appends / s for s in runs] for n, runs in seconds.items()}
    median = {n: statistics.median(r) for n, r in rates.items()}
    lines = [
        "## Several servers: concurrent appends",
        "",
        f"{CLIENTS} client threads (the remote SDK) each append {APPENDS} batches of {ROWS} "
        "rows to one table over HTTP (Arrow), alternating between the servers when there are "
        "two; PostgreSQL metadata and a PostgreSQL DuckLake catalog, the lake in the shared "
        f"folder. {RUNS} runs each, interleaved, fresh `atelier up` processes per run. The rows "
        "have missing values, empty and non-ASCII text and microsecond times; after every run "
        "the whole table was read back and found equal, value by value, to the rows sent.",
        "",
        "| servers | appends/s, each run | median appends/s |",
        "|---|---|---|",
    ]
    for n in (1, 2):
        runs = ", ".join(f"{r:.2f}" for r in rates[n])
        lines.append(f"| {n} | {runs} | {median[n]:.2f} |")
    lines += [
        "",
        f"Ratio 2 servers / 1: **{median[2] / median[1]:.2f}x**. Load average (1 min) before "
        f"and after each run: {', '.join(f'{x:.1f}' for x in load)} ({os.cpu_count()} cores, "
        "shared). Both servers run on this one machine, so they share its cores and disk: "
        "the figure shows what coordinating through the catalog costs or gains here, not "
        "the capacity of two machines.",
    ]
    return "\n".join(lines)
