#!/usr/bin/env bash
# `make test` (and CI): every check, in order, stopping at the first failure:
#   bootstrap, rustfmt, clippy, cfn-lint, build, unit tests (nextest), end-to-end tests.
# `scripts/test.sh --lint` (make lint) runs only rustfmt, clippy and cfn-lint.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

lint_only=0
case "${1:-}" in
  "") ;;
  --lint) lint_only=1 ;;
  -h | --help)
    printf 'usage: scripts/test.sh [--lint]\n'
    exit 0
    ;;
  *)
    printf 'test.sh: error: unknown argument %q (usage: scripts/test.sh [--lint])\n' "$1" >&2
    exit 2
    ;;
esac

if [[ -n "${CI:-}" ]]; then
  # CI logs are files: no colour codes, no progress bars redrawn in place.
  export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
  export CARGO_TERM_PROGRESS_WHEN="${CARGO_TERM_PROGRESS_WHEN:-never}"
  NEXTEST_PROFILE=ci
else
  NEXTEST_PROFILE=default
fi

step() {
  local name="$1" t0=$SECONDS rc
  shift
  printf '\n==> %s: %s\n' "$name" "$*"
  if "$@"; then
    printf '<== %s: ok (%ss)\n' "$name" "$((SECONDS - t0))"
  else
    rc=$?
    printf '\ntest.sh: FAILED at step "%s" (exit %s): %s\n' "$name" "$rc" "$*" >&2
    exit "$rc"
  fi
}

step bootstrap bash scripts/bootstrap.sh
# The end-to-end tests start moto_server and `cargo lambda watch` themselves.
export PATH="$ROOT/.venv/bin:$PATH"

cargo fmt --version >/dev/null 2>&1 || { printf 'test.sh: error: rustfmt is missing (rustup component add rustfmt)\n' >&2; exit 1; }
cargo clippy --version >/dev/null 2>&1 || { printf 'test.sh: error: clippy is missing (rustup component add clippy)\n' >&2; exit 1; }

step rustfmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
step cfn-lint .venv/bin/cfn-lint infra/template.yaml

if ((lint_only)); then
  printf '\ntest.sh: lint passed (rustfmt, clippy, cfn-lint)\n'
  exit 0
fi

step build cargo build --workspace --bins
step unit-tests cargo nextest run --profile "$NEXTEST_PROFILE" --workspace --exclude portcullis-e2e --no-tests=pass
step e2e-tests cargo test -p portcullis-e2e -- --test-threads=4

printf '\ntest.sh: all steps passed (rustfmt, clippy, cfn-lint, build, unit tests, end-to-end tests)\n'
