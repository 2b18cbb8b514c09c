# Developer entry point. `make run` and `make test` work on a fresh machine with python3, pip and make.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_SYSTEM := $(shell command -v uv 2>/dev/null)
UV := $(if $(UV_SYSTEM),$(UV_SYSTEM),$(CURDIR)/.tools/bin/uv)
PYTEST_ARGS ?=
# pytest-xdist processes for `make test` (each starts its own embedded broker and PostgreSQL);
# TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2
export UV_LINK_MODE ?= copy
# Versions of the vendored browser builds of the admin UI (`make ui`); bump here and re-run the target.
VUE_VERSION ?= 3.5.45
PINIA_VERSION ?= 2.3.1
VUE_DEMI_VERSION ?= 0.14.10
DEVTOOLS_API_VERSION ?= 6.6.4


.PHONY: help install run test test-fast lint typecheck fmt clean schemas asyncapi bench chaos ui check screenshots metrics-doc observability fuzz system-deps

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv

.venv/.installed: $(UV) uv.lock pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml) tests/deploy/checkov/uv.lock
	$(UV) sync --all-packages --frozen
	@# checkov's pins clash with the services' (tests/deploy/checkov/pyproject.toml): its own environment.
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/.tools/checkov $(UV) sync --frozen --directory tests/deploy/checkov
	@touch $@

install: .venv/.installed ## install everything into .venv (installs uv itself if missing)

# Silent and under a second when everything is there; see deploy/local/system_deps.py.
.PHONY: system-deps
system-deps: ## install the Debian packages the tests need when missing: chromium, prometheus (promtool), postgresql (apt-get as root; else one line each)
	@python3 deploy/local/system_deps.py

run: install ## start the whole system (embedded broker and PostgreSQL unless configured)
	$(UV) run --no-sync python deploy/local/launcher.py

test: system-deps install ## run the whole suite (unit + integration + e2e + browser)
	$(UV) run --no-sync python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-fast: system-deps install ## unit tests only (no broker, no database)
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

asyncapi: install ## regenerate docs/asyncapi.yaml (AsyncAPI 3 of every topic) from libs/contracts
	$(UV) run --no-sync python -c "from pathlib import Path; from contracts.asyncapi import asyncapi_yaml; Path('docs/asyncapi.yaml').write_text(asyncapi_yaml())"

# The vue-demi shim is copied as .js: some Python versions serve .mjs as application/octet-stream,
# which browsers refuse to run as a module.
ui: ## re-vendor the browser ES-module builds of Vue and Pinia into the admin UI (needs npm)
	@set -euo pipefail; dest=services/config_api/config_api/ui/vendor; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	cd "$$tmp" && npm pack --silent vue@$(VUE_VERSION) pinia@$(PINIA_VERSION) vue-demi@$(VUE_DEMI_VERSION) @vue/devtools-api@$(DEVTOOLS_API_VERSION) >/dev/null; \
	for f in *.tgz; do mkdir -p "$${f%.tgz}" && tar xzf "$$f" -C "$${f%.tgz}"; done; cd - >/dev/null; \
	rm -rf "$$dest" && mkdir -p "$$dest"/vue "$$dest"/pinia "$$dest"/vue-demi "$$dest"/devtools-api; \
	cp "$$tmp"/vue-$(VUE_VERSION)/package/{dist/vue.esm-browser.prod.js,LICENSE} "$$dest"/vue/; \
	cp "$$tmp"/pinia-$(PINIA_VERSION)/package/{dist/pinia.esm-browser.js,LICENSE} "$$dest"/pinia/; \
	cp "$$tmp"/vue-demi-$(VUE_DEMI_VERSION)/package/LICENSE "$$dest"/vue-demi/; \
	cp "$$tmp"/vue-demi-$(VUE_DEMI_VERSION)/package/lib/v3/index.mjs "$$dest"/vue-demi/index.js; \
	cp -r "$$tmp"/vue-devtools-api-$(DEVTOOLS_API_VERSION)/package/lib/esm "$$dest"/devtools-api/; \
	cp "$$tmp"/vue-devtools-api-$(DEVTOOLS_API_VERSION)/package/package.json "$$dest"/devtools-api/; \
	find "$$dest" -name '*.d.ts' -delete; \
	{ echo "# package version file sha256 (written by make ui; tests/e2e/test_admin_ui.py checks it)"; \
	  for spec in vue:$(VUE_VERSION) pinia:$(PINIA_VERSION) vue-demi:$(VUE_DEMI_VERSION) devtools-api:$(DEVTOOLS_API_VERSION); do \
	    pkg=$${spec%%:*}; ver=$${spec#*:}; \
	    (cd "$$dest" && find "$$pkg" -type f | LC_ALL=C sort | while read -r f; do echo "$$pkg $$ver $$f $$(sha256sum "$$f" | cut -d' ' -f1)"; done); \
	  done; } > "$$dest"/VERSIONS; \
	echo "vendored into $$dest:"; cat "$$dest"/VERSIONS

metrics-doc: install ## regenerate docs/metrics.md from the services' metric definitions
	$(UV) run --no-sync python deploy/prometheus/metrics_catalogue.py

observability: metrics-doc ## regenerate the metrics catalogue, Grafana dashboards and the k8s PrometheusRule
	$(UV) run --no-sync python deploy/grafana/dashboards.py
	$(UV) run --no-sync python deploy/prometheus/prometheus_rule.py

bench: install ## benchmarks (figures as ratios against baselines measured in the same run)
	$(UV) run --no-sync python bench/run_all.py

fuzz: install ## schemathesis over the config API: random seeds, 200 examples per operation and mode, no 5xx
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} FUZZ_RANDOM=1 FUZZ_BUDGET_S=0 $(UV) run --no-sync python -m pytest \
		tests/config_api/test_core_fuzz.py -s -q --timeout=0 -W ignore::DeprecationWarning $(PYTEST_ARGS)

chaos: install ## the bounded fault-injection run (report in bench/results/chaos.json)
	$(UV) run --no-sync python bench/chaos.py

screenshots: install ## refresh docs/screenshots/ from the browser test
	UPDATE_SCREENSHOTS=1 $(UV) run --no-sync python -m pytest tests/e2e/test_admin_ui.py -k admin_flow

check: lint typecheck test ## everything CI runs

clean: ## remove .run/ and caches
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
