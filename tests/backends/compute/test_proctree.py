import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from atelier.backends.compute import proctree


@pytest.fixture(params=["psutil", "proc"])
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "proc":
        monkeypatch.setattr(proctree, "psutil", None)
    else:
        assert proctree.psutil is not None, "psutil comes with ray[default]"
    return str(request.param)


@pytest.fixture
def tree() -> Iterator[subprocess.Popen[str]]:
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    yield process
    proctree.kill_tree(process.pid, grace=0)
    process.wait()
    assert process.stdout is not None
    process.stdout.close()


def test_tree_memory_start_time_and_kill(implementation: str, tree: subprocess.Popen[str]) -> None:
    assert tree.stdout is not None
    child = int(tree.stdout.readline())
    assert proctree.descendants(tree.pid) == [child]
    started = proctree.start_time(tree.pid)
    assert started is not None and abs(started - time.time()) < 600
    assert proctree.alive(tree.pid, started)
    assert not proctree.alive(tree.pid, started - 10)  # a reused pid is another process
    assert proctree.tree_rss(tree.pid) > proctree.rss(child) > 0
    proctree.kill_tree(tree.pid, grace=1)
    tree.wait()
    assert not proctree.alive(tree.pid) and not proctree.alive(child)
    assert proctree.start_time(tree.pid) is None


def test_same_start_time_from_psutil_and_proc(
    tree: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from_psutil = proctree.start_time(tree.pid)
    monkeypatch.setattr(proctree, "psutil", None)
    assert from_psutil is not None
    assert abs((proctree.start_time(tree.pid) or 0) - from_psutil) < 0.05
