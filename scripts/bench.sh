#!/usr/bin/env bash
# `make bench`: per-request storage round trips and in-process latency of every endpoint
# (shared/benches/endpoints.rs, release profile). BENCH_ITERATIONS sets the number of flows.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo bench -p portcullis --bench endpoints
