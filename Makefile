# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_PYTHON := 3.11
# The Makefile is a developer's workflow: what it starts accepts the development JWT secret.
export ENVIRONMENT ?= development

.PHONY: run test install browser lint typecheck unit integration e2e fuzz drills bench dlq token apikey permissions clean

$(UV):
	@echo "installing uv $(UV_VERSION) into .tools/"
	python3 -m venv .tools && .tools/bin/pip install --quiet uv==$(UV_VERSION)

install: $(UV)
	$(UV) sync --frozen

## run: install, migrate and start the four services (SQLite files in ./data) against RABBITMQ_URL
run: install
	$(UV) run --frozen python deploy/run_local.py

## browser: Debian's Chromium for the console's browser tests (Playwright drives it; nothing downloaded by Playwright)
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium package for the browser tests"; \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y --no-install-recommends chromium >/dev/null \
		|| { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -q >/dev/null && \
		     $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y --no-install-recommends chromium >/dev/null; }; }

## test: install and run the whole suite (unit, integration on real RabbitMQ/PostgreSQL, end-to-end, browser), lint, types
test: install browser
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy
	$(UV) run --frozen pytest

unit: install
	$(UV) run --frozen pytest tests/unit

integration: install
	$(UV) run --frozen pytest tests/integration

e2e: install
	$(UV) run --frozen pytest tests/e2e

## fuzz: schemathesis on every service, more examples and a random seed
fuzz: install
	FUZZ_EXAMPLES=200 FUZZ_SEED=random $(UV) run --frozen pytest tests/e2e/test_fuzz.py

ROLE ?= quality_engineer
FACTORIES ?= *
## token: print a development bearer token, e.g. make token ROLE=auditor FACTORIES=F01,F02
token: install
	@$(UV) run --frozen python -m cqm_shared.security token --role "$(ROLE)" --factories "$(FACTORIES)"

NAME ?= integration
## apikey: create an integration API key (shown once), e.g. make apikey NAME=crm FACTORIES=F01
apikey: install
	@$(UV) run --frozen python -m cqm_shared.security apikey create --name "$(NAME)" --roles integration --factories "$(FACTORIES)"

## permissions: regenerate docs/permissions.md from the services' permission matrices
permissions: install
	$(UV) run --frozen python -m tests.permissions_doc > docs/permissions.md

lint: install
	$(UV) run --frozen ruff check .

typecheck: install
	$(UV) run --frozen mypy

## drills: slow fault drills on service processes (kill -9, SIGTERM, broker and database stopped); run alone
drills: install
	$(UV) run --frozen pytest tests/drills -v -p no:cacheprovider --override-ini="addopts=-ra --strict-markers"

SERVICE ?= investigation
ARGS ?= list
## dlq: a service's dead letters, e.g. make dlq SERVICE=intake ARGS="replay intake.submissions --all"
dlq: install
	$(UV) run --frozen python -m cqm_shared.dead_letters $(SERVICE) $(ARGS)

## bench: raw broker beside every figure of the import path, intake and memory, and investigation's statistics on 1 M cases, on SQLite and PostgreSQL
bench: install
	$(UV) run --frozen python bench/run.py

clean:
	rm -rf .venv .tools data .pytest_cache .mypy_cache .ruff_cache
