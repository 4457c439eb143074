#!/usr/bin/env bash
# `make bench`:
#   1. shared/lambda/benches/endpoints.rs (release profile): every handler in process over the memory
#      store; storage round trips per request and p50/p99/max latency. BENCH_ITERATIONS sets the
#      number of flows (default 2000).
#   2. scripts/coldstart.py: each release function binary started against a minimal Lambda
#      Runtime API with moto as AWS; init time, first response, peak RSS, binary size.
#      COLDSTART_RUNS sets the runs per function (default 5).
#   3. scripts/cpu.py: CPU per warm request of each release function binary on its happy path
#      (every thread of the process), DynamoDB (moto) behind a keep-alive front. CPU_REQUESTS sets
#      the number of measured requests (default 150).
#   4. scripts/cost.py: cost per million requests of a code exchange, a refresh, a /me, an
#      authorize GET and POST, client credentials, a registration, authorize naming a resource,
#      the example MCP server's tool call and authorize for a metadata-document client (its copy
#      fresh, and its document fetched from a local https server): DynamoDB calls and items counted by the meter on the real SDK client
#      (PORTCULLIS_METER_FILE), capacity units by DynamoDB's rules, Lambda duration from the
#      measured time, us-east-1 list prices (written in the script). COST_REQUESTS sets the number
#      of measured flows (default 40).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
cargo bench -p portcullis-lambda --bench endpoints
cargo build --release --bins
.venv/bin/python scripts/coldstart.py
.venv/bin/python scripts/cpu.py
.venv/bin/python scripts/cost.py
