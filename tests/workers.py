"""How ``make test`` shares the tests between its worker processes (pytest-xdist).

Each test module runs whole on one worker, so what a module makes once (a server, a workspace
with a model) is made once; every module that uses the Ray head runs on the same worker, so one
head serves them all. (xdist's own ``loadgroup`` marks do not reach its scheduler with this
pytest, whose node ids no longer take the group suffix.)
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    root = config.rootpath

    @cache
    def uses_ray(module: str) -> bool:
        path = root / module
        return path.is_file() and "ray_head" in path.read_text(encoding="utf-8")

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "ray" if uses_ray(module) else module

    return ByModule(config, log)
