# Developer entry point. `make run` and `make test` work on a fresh machine with python3, pip and make.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_SYSTEM := $(shell command -v uv 2>/dev/null)
UV := $(if $(UV_SYSTEM),$(UV_SYSTEM),$(CURDIR)/.tools/bin/uv)
PYTEST_ARGS ?=
export UV_LINK_MODE ?= copy

.PHONY: help install run test test-fast lint typecheck fmt clean schemas bench chaos ui check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv

.venv/.installed: $(UV) uv.lock pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml)
	$(UV) sync --all-packages --frozen
	@touch $@

install: .venv/.installed ## install everything into .venv (installs uv itself if missing)

run: install ## start the whole system (embedded broker and PostgreSQL unless configured)
	$(UV) run --no-sync python deploy/local/launcher.py

test: install ## run the whole suite (unit + integration + e2e + browser)
	$(UV) run --no-sync python -m pytest $(PYTEST_ARGS)

test-fast: install ## unit tests only (no broker, no database)
	$(UV) run --no-sync python -m pytest -m "not integration and not e2e and not browser" $(PYTEST_ARGS)

lint: install ## ruff check + format check
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .

typecheck: install ## mypy --strict over libs and services
	$(UV) run --no-sync mypy

fmt: install ## format and autofix
	$(UV) run --no-sync ruff format .
	$(UV) run --no-sync ruff check --fix .

schemas: install ## regenerate the committed JSON Schemas of the contracts
	$(UV) run --no-sync python -c "from contracts.schema import write_schemas; write_schemas()"

bench: install ## benchmarks (figures as ratios against baselines measured in the same run)
	$(UV) run --no-sync python bench/run_all.py

chaos: install ## the bounded fault-injection run (report in bench/results/chaos.json)
	$(UV) run --no-sync python bench/chaos.py

check: lint typecheck test ## everything CI runs

clean: ## remove .run/ and caches
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
