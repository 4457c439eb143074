#!/usr/bin/env bash
# `make dev`: the whole stack on this machine, on 127.0.0.1 only.
#   bootstrap -> cargo build -> xtask dev: moto_server -> portcullis --local init -> demo client ->
#   cargo lambda watch (reloads on code changes) until Ctrl-C, which stops everything it started.
# Ports: PORTCULLIS_PORT (default 9000, the HTTP entry) and PORTCULLIS_AWS_PORT (default 5000, moto).
# The stack itself is xtask/ (the same code the end-to-end tests start it with).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/bootstrap.sh

printf 'dev: building the workspace binaries (cargo build --workspace --bins)\n' >&2
cargo build --workspace --bins || {
  printf 'dev: error: cargo build --workspace --bins failed\n' >&2
  exit 1
}

target="${CARGO_TARGET_DIR:-target}"
[[ "$target" == /* ]] || target="$ROOT/$target"
exec "$target/debug/xtask" dev
