# One command to serve, one to test. Both build .venv from scratch when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HASH := $(shell cksum pyproject.toml | cut -d' ' -f1)
# `make serve` installs only what serving needs; `make test` (and lint, bench, CI) everything.
SERVE_EXTRAS := server,inference
EXTRAS := server,inference,postgres,redis,celery,dev
SERVE_STAMP := $(VENV)/.installed-serve-$(HASH)
STAMP := $(VENV)/.installed-$(HASH)

.PHONY: serve test unit fuzz lint bench clean

define install
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch resolves to the CPU wheel on this machine's find-links (see README).
	$(BIN)/python -m pip install --quiet -e ".[$(1)]"
endef

$(STAMP): pyproject.toml
	$(call install,$(EXTRAS))
	rm -f $(VENV)/.installed-*
	touch $(STAMP) $(SERVE_STAMP)

$(SERVE_STAMP): pyproject.toml
	$(call install,$(SERVE_EXTRAS))
	rm -f $(VENV)/.installed-serve-*
	touch $(SERVE_STAMP)

serve: $(SERVE_STAMP)
	$(BIN)/easel serve

# --durations: the slowest tests show in every run (and in CI), so slow ones get noticed.
# -n auto: one pytest worker per core; --dist loadscope keeps a module's tests (and its
# module-scoped servers) on one worker. Bytecode caching is forced on: this machine's
# environment sets PYTHONDONTWRITEBYTECODE, and without .pyc files every worker and
# every server a test starts compiles easel again (~5 s each).
TEST_ARGS ?= -n auto --dist loadscope --durations=15
test: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest $(TEST_ARGS)

# The unit layer alone (SQLite, in-process): about a minute.
unit: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest tests/unit -n auto --durations=15

# The long schemathesis run (every check, many examples; `make test` runs a short one).
fuzz: $(STAMP)
	$(BIN)/python -m tests.integration.fuzzing

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/overhead.py

clean:
	rm -rf $(VENV) .easel .pytest_cache .mypy_cache .ruff_cache
