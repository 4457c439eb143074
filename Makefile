# Portcullis developer entry points. `make` alone lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help dev test bench bootstrap lint clean-local demo build fuzz

# `make build`: every function under functions/, for Lambda. LAMBDA_ARCH=--arm64 builds what the
# template deploys by default (needs the aarch64 target: rustup target add aarch64-unknown-linux-gnu).
LAMBDA_FUNCTIONS := $(sort $(notdir $(wildcard functions/*)))
LAMBDA_ARCH ?= --x86-64

help: ## List the targets
	@printf 'Portcullis make targets:\n'
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@printf '\nPorts: PORTCULLIS_PORT (default 9000), PORTCULLIS_AWS_PORT (default 5000), on 127.0.0.1.\n'

dev: ## Run the local stack (moto + cargo lambda watch) with a demo client; Ctrl-C stops it
	@bash scripts/dev.sh

demo: ## Run the demo third-party app (examples/demo-app) against `make dev`'s stack; open the URL it prints
	@cargo build -q -p demo-app && "$${CARGO_TARGET_DIR:-target}/debug/demo-app"

test: ## bootstrap, fmt check, clippy, cfn-lint, checkov, build, unit tests, end-to-end tests (browser too)
	@bash scripts/test.sh

build: ## Release-build every function with cargo lambda: target/lambda/<name>/bootstrap.zip (LAMBDA_ARCH=--arm64 for arm64)
	@bash scripts/bootstrap.sh
	PATH="$(CURDIR)/.venv/bin:$$PATH" cargo lambda build --release --output-format zip $(LAMBDA_ARCH) $(addprefix --bin ,$(LAMBDA_FUNCTIONS))
	@for f in $(LAMBDA_FUNCTIONS); do ls -l "$${CARGO_TARGET_DIR:-target}/lambda/$$f/bootstrap.zip" || exit 1; done

bench: ## Measure storage calls, latency and cold start (scripts/bench.sh)
	@if [ -f scripts/bench.sh ]; then bash scripts/bench.sh; \
	else echo "make bench: no benchmark exists yet (add scripts/bench.sh)"; fi

bootstrap: ## Install the tools: .venv/ (moto, cargo-lambda, cfn-lint), cargo-nextest
	@bash scripts/bootstrap.sh

fuzz: ## Property tests of every parser and handler with many cases (FUZZ_CASES, default 100000)
	PROPTEST_CASES=$${FUZZ_CASES:-100000} cargo nextest run --no-fail-fast -p portcullis-core -p portcullis-lambda --test props

lint: ## fmt check, clippy -D warnings, cfn-lint, checkov
	@bash scripts/test.sh --lint

clean-local: ## Remove .local/ (logs and saved info of the local stack)
	rm -rf .local
