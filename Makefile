# Portcullis developer entry points. `make` alone lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help dev test bench bootstrap lint clean-local

help: ## List the targets
	@printf 'Portcullis make targets:\n'
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@printf '\nPorts: PORTCULLIS_PORT (default 9000), PORTCULLIS_AWS_PORT (default 5000), on 127.0.0.1.\n'

dev: ## Run the local stack (moto + cargo lambda watch) with a demo client; Ctrl-C stops it
	@bash scripts/dev.sh

test: ## bootstrap, fmt check, clippy, cfn-lint, build, unit tests, end-to-end tests
	@bash scripts/test.sh

bench: ## Measure storage calls, latency and cold start (scripts/bench.sh)
	@if [ -f scripts/bench.sh ]; then bash scripts/bench.sh; \
	else echo "make bench: no benchmark exists yet (add scripts/bench.sh)"; fi

bootstrap: ## Install the tools: .venv/ (moto, cargo-lambda, cfn-lint), cargo-nextest
	@bash scripts/bootstrap.sh

lint: ## fmt check, clippy -D warnings, cfn-lint
	@bash scripts/test.sh --lint

clean-local: ## Remove .local/ (logs and saved info of the local stack)
	rm -rf .local
