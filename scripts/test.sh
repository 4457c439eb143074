#!/usr/bin/env bash
# `make test` (and CI): every check, in order, stopping at the first failure:
#   bootstrap, rustfmt, clippy, cfn-lint, checkov, build, unit tests (nextest), doctests, end-to-end tests.
# `scripts/test.sh --lint` (make lint) runs only rustfmt, clippy, cfn-lint and checkov.
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
  # CI installs chromium (scripts/bootstrap.sh): the browser tests must run, not skip.
  export PORTCULLIS_REQUIRE_BROWSER="${PORTCULLIS_REQUIRE_BROWSER:-1}"
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
# Offline (no check metadata download); skips are inline in the template, each with its reason.
step checkov .venv/checkov/bin/checkov --file infra/template.yaml --framework cloudformation \
  --quiet --compact --skip-download

if ((lint_only)); then
  printf '\ntest.sh: lint passed (rustfmt, clippy, cfn-lint, checkov)\n'
  exit 0
fi

step build cargo build --workspace --bins
# Both test steps keep a copy of their output so the totals can be printed at the end.
mkdir -p .local
unit_log=.local/test-unit.log
e2e_log=.local/test-e2e.log
doc_log=.local/test-doc.log
step unit-tests bash -o pipefail -c \
  "cargo nextest run --profile '$NEXTEST_PROFILE' --workspace --exclude portcullis-e2e --no-tests=pass 2>&1 | tee '$unit_log'"
# Doctests: the code in the docs (docs/integrating.md is a doctest of portcullis-resource) and
# in doc comments compiles. nextest does not run doctests.
step doc-tests bash -o pipefail -c \
  "cargo test --doc -p portcullis-core -p portcullis-aws -p portcullis-resource -p portcullis-lambda 2>&1 | tee '$doc_log'"
step e2e-tests bash -o pipefail -c \
  "cargo test -p portcullis-e2e --test e2e -- --test-threads=4 2>&1 | tee '$e2e_log'"

# Totals: nextest's summary line and every libtest result line.
read -r passed failed < <(
  {
    grep -hoE '[0-9]+ tests? run: [0-9]+ passed(, [0-9]+ failed)?' "$unit_log" |
      sed -E 's/.*run: ([0-9]+) passed(, ([0-9]+) failed)?/\1 \3/'
    grep -hoE 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$doc_log" "$e2e_log" |
      sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed/\1 \2/'
  } | awk '{p += $1; f += ($2 == "" ? 0 : $2)} END {print p + 0, f + 0}'
)

printf '\ntest.sh: all steps passed (rustfmt, clippy, cfn-lint, build, unit tests, end-to-end tests)\n'
printf 'tests: %s passed, %s failed\n' "$passed" "$failed"
