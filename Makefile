# One task runner for people and CI. `make up` runs Atelier, `make test` tests it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP  := $(VENV)/.installed

.PHONY: install bytecode up test lint format bench docs screenshots clean

install: $(STAMP)

# Re-run only when the dependency definition changed (idempotent and fast otherwise).
# Bytecode is compiled here once: with PYTHONDONTWRITEBYTECODE set, every process would
# otherwise compile each module it imports (seconds for MLflow, Jupyter and the CLI).
$(STAMP): pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --frozen --all-extras --group dev --compile-bytecode
	@touch $@

# Atelier's own modules, compiled for the same reason (fast, and redone only where changed).
bytecode: install
	@$(BIN)/python -m compileall -q -j 0 src >/dev/null

up: install bytecode
	$(BIN)/atelier up --demo --workspace demo-workspace

# What the tests need comes first (tests/prereqs.py: Debian packages as root, the local test
# databases), then pytest on TEST_WORKERS processes (0: in this one). PYTEST_ARGS adds options.
TEST_WORKERS ?= 2
test: install bytecode
	@exports="$$($(BIN)/python -m tests.prereqs)" && eval "$$exports" && \
	$(BIN)/python -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS)) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: install bytecode
	$(BIN)/python -m bench

docs: install
	$(BIN)/python -m atelier.cli.reference > docs/cli.md

# The portal's pictures in docs/images/, taken from a throwaway demo workspace (minutes).
screenshots: install bytecode
	$(BIN)/python docs/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
