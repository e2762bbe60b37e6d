"""How ``make test`` shares the tests between its worker processes (pytest-xdist).

Each test module runs whole on one worker, so what a module makes once (a server, a workspace
with a model) is made once; every module that uses the Ray head runs on the same worker, so one
head serves them all. (xdist's own ``loadgroup`` marks do not reach its scheduler with this
pytest, whose node ids no longer take the group suffix.)

The modules that take longest start first (:data:`LONGEST`), then the others, most tests
first (xdist's own order): a long module handed out last would keep one worker busy while the
other has nothing left to do.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

#: Modules (and the Ray group) measured to take 40 s or more in a full run on two workers,
#: longest first. A module missing from the list only runs in xdist's own order.
LONGEST = (
    "tests/services/serving/test_workers.py",
    "tests/services/containers/test_images.py",
    "ray",
    "tests/services/containers/test_s3_contexts.py",
    "tests/security/test_hardening.py",
    "tests/services/containers/test_app_images.py",
    "tests/server/test_several_servers.py",
    "tests/server/test_apps_load.py",
    "tests/server/pages/test_mlflow_compat.py",
    "tests/cli/test_jobs_cli.py",
)


@cache
def _uses_ray(path: Path) -> bool:
    return path.is_file() and "ray_head" in path.read_text(encoding="utf-8")


def work_unit(root: Path, nodeid: str) -> str:
    """The unit a test is handed out in: its module, or ``ray``."""
    module = nodeid.split("::", 1)[0]
    return "ray" if _uses_ray(root / module) else module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    root = config.rootpath
    config.option.loadscopereorder = False  # the collection's order, set below, is the order

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(root, nodeid)

    return ByModule(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest units first, then the others by their number of tests (a stable sort:
    each module's tests keep their order)."""
    unit = {item.nodeid: work_unit(config.rootpath, item.nodeid) for item in items}
    sizes = Counter(unit.values())
    items.sort(key=lambda item: (_longest_rank(unit[item.nodeid]), -sizes[unit[item.nodeid]]))


def _longest_rank(unit: str) -> int:
    return LONGEST.index(unit) if unit in LONGEST else len(LONGEST)
