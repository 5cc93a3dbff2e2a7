# streamworks — `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# contracts are checked against the previous commit (or HEAD in a one-commit repository)
SCHEMAS_BASE ?= $(shell git rev-parse -q --verify HEAD~1 >/dev/null 2>&1 && echo HEAD~1 || echo HEAD)

.DEFAULT_GOAL := help
.PHONY: help setup system jars demo test chaos schemas-check unit integration lint typecheck format bench up down clean profile

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(STAMP) jars ## create .venv, install streamworks with its dev extra, fetch the Kafka jars

system: ## install the system packages `make test` needs when missing (PostgreSQL, Chromium)
	ops/system-packages postgresql chromium

jars: $(STAMP) ## fetch the pinned Kafka jars from Maven Central (once)
	$(BIN)/streamworks kafka fetch

demo: setup ## run the flagship order pipeline on the local broker and print per-stage counts
	@# the demo's PostgreSQL is a throwaway cluster of its own unless STREAMWORKS_POSTGRES_URL names one
	@[ -n "$$STREAMWORKS_POSTGRES_URL" ] || ops/system-packages postgresql
	$(BIN)/streamworks demo

test: setup system lint typecheck schemas-check ## lint, type-check, check contracts, then unit and integration tests
	$(BIN)/pytest tests/unit -n 2
	$(BIN)/pytest --durations=15 -n 2 --dist loadfile tests/packaging tests/integration tests/security
	$(BIN)/pytest --durations=5 tests/containers

chaos: setup ## fault-injection scenarios on the real broker; figures to docs/reliability.md
	$(BIN)/pytest --durations=20 tests/chaos
	$(BIN)/python -m tests.chaos.report

schemas-check: $(STAMP) ## fail when a contract change breaks compatibility with SCHEMAS_BASE
	$(BIN)/streamworks schemas check --against $(SCHEMAS_BASE)

unit: $(STAMP) ## unit tests only (no broker, seconds)
	$(BIN)/pytest tests/unit

integration: setup ## integration tests only (starts a real broker)
	$(BIN)/pytest tests/integration

lint: $(STAMP) ## ruff check, format check and the import contracts (layers point down)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP) ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP) ## mypy --strict over all packages and tests
	$(BIN)/mypy

bench: setup ## benchmarks against the peers; tables and JSON land in tests/benchmarks/results/
	$(BIN)/python -m tests.benchmarks.codec
	$(BIN)/python -m tests.benchmarks.registry
	$(BIN)/python -m tests.benchmarks.stage
	$(BIN)/python -m tests.benchmarks.stage_profile
	$(BIN)/python -m tests.benchmarks.windowed_count
	$(BIN)/python -m tests.benchmarks.postgres_sink
	$(BIN)/python -m tests.benchmarks.http_ingest
	$(BIN)/python -m tests.benchmarks.file_source

profile: setup ## where a stage's CPU goes, per record and by step (py-spy); table in tests/benchmarks/results/
	$(BIN)/python -m tests.benchmarks.stage_profile

up: setup ## start the local Kafka broker on 127.0.0.1:9092
	$(BIN)/streamworks kafka up

down: $(STAMP) ## stop the local Kafka broker
	$(BIN)/streamworks kafka down

clean: ## stop the broker and delete .venv and .cache
	-$(BIN)/streamworks kafka down
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache
