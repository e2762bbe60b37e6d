"""The structure of the code: the layers and the no-cycles rule of ``[tool.importlinter]``.

The contracts in ``pyproject.toml`` (also run by ``make lint``) say which layer may import
which (docs/architecture.md) and that no import cycle exists, except the few listed there one
import each. These tests run them, so a new cycle or an import across a layer fails the suite.
"""

from __future__ import annotations

import copy
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def contract_options(contract_id: str) -> dict[str, Any]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    for contract in config["contracts"]:
        if contract.get("id") == contract_id:
            return {k: v for k, v in contract.items() if k not in ("id", "name", "type")}
    raise AssertionError(f"pyproject.toml has no import-linter contract with id {contract_id!r}")


def test_import_contracts_hold(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlinter.cli import lint_imports

    monkeypatch.setattr(sys, "path", list(sys.path))  # lint_imports puts the cwd first
    status = lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert status == 0, report
    assert "No import cycles KEPT" in report


@pytest.fixture(scope="module")
def graph() -> Any:
    import grimp

    return grimp.build_graph("atelier", include_external_packages=True, cache_dir=None)


def check_cycles(graph: Any) -> Any:
    from importlinter.configuration import configure
    from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract

    configure()  # what `lint-imports` does first (a worker may run this test before that one)

    contract = AcyclicSiblingsContract(
        "No import cycles",
        session_options={"root_packages": ["atelier"]},
        contract_options=contract_options("acyclic"),
    )
    return contract.check(copy.deepcopy(graph), verbose=False)


def test_the_code_has_no_cycle_beyond_the_listed_ones(graph: Any) -> None:
    assert check_cycles(graph).kept


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        # A service reaching up into the workbench that composes it.
        ("atelier.services.tracking.capture", "atelier.services.workbench"),
        # A backend importing a sibling that imports it back.
        ("atelier.backends.online.base", "atelier.backends.online.registry"),
        # The SDK transport importing the remote client that uses it.
        ("atelier.sdk.arrow", "atelier.sdk.remote"),
    ],
)
def test_a_new_cycle_fails(graph: Any, importer: str, imported: str) -> None:
    broken = copy.deepcopy(graph)
    broken.add_import(importer=importer, imported=imported, line_number=1, line_contents="x")
    assert not check_cycles(broken).kept


def test_listed_exceptions_are_single_imports_inside_atelier() -> None:
    """No wildcard may hide a whole package's cycles."""
    for entry in contract_options("acyclic")["ignore_imports"]:
        importer, _, imported = entry.partition(" -> ")
        assert "*" not in entry and importer.startswith("atelier.") and imported, entry


def check_cli(graph: Any) -> Any:
    from importlinter.configuration import configure
    from importlinter.contracts.forbidden import ForbiddenContract

    configure()
    contract = ForbiddenContract(
        "The CLI imports no service or backend",
        session_options={"root_packages": ["atelier"], "include_external_packages": True},
        # As the TOML loader of lint-imports gives them: booleans as text.
        contract_options={
            k: str(v) if isinstance(v, bool) else v
            for k, v in contract_options("cli-over-sdk").items()
        },
    )
    return contract.check(copy.deepcopy(graph), verbose=False)


def test_the_cli_works_through_the_sdk(graph: Any) -> None:
    assert check_cli(graph).kept
    broken = copy.deepcopy(graph)
    broken.add_import(
        importer="atelier.cli.jobs",
        imported="atelier.services.jobs",
        line_number=1,
        line_contents="from atelier.services.jobs import JobService",
    )
    assert not check_cli(broken).kept
