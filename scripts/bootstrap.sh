#!/usr/bin/env bash
# Installs every tool the project's scripts need, idempotently:
#   - a Python venv at .venv/ with the pinned packages of tools/requirements.txt
#     (moto_server, cargo-lambda, cfn-lint); skipped when .venv/.requirements.sha256 matches;
#   - checkov in .venv/checkov/, from tools/checkov-requirements.txt (its own stamp);
#   - node and npm (Debian's `nodejs` and `npm` with apt-get when missing), and the official MCP
#     TypeScript SDK for the agent e2e test: `npm ci` in tests/interop/ts-mcp-agent/ from its
#     package-lock.json; skipped when node_modules/.package-lock.sha256 matches;
#   - cargo-nextest, with `cargo install --locked` when it is missing.
# Usage: scripts/bootstrap.sh   (also: make bootstrap)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
REQUIREMENTS="$ROOT/tools/requirements.txt"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

log() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null 2>&1 || die "cargo is not on PATH; install the Rust toolchain first"
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON is not on PATH; install Python 3.11 with pip and venv"
[[ -f "$REQUIREMENTS" ]] || die "missing $REQUIREMENTS"

# --- Python venv -----------------------------------------------------------------------------------
mkdir -p "$VENV"
# Serialise concurrent bootstraps (e.g. two make targets at once) on a lock inside the venv.
exec 9>"$VENV/.bootstrap.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi

want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1) $("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
have="$(cat "$STAMP" 2>/dev/null || true)"
tools=(moto_server cargo-lambda cfn-lint)

venv_complete() {
  [[ -x "$VENV/bin/python" ]] || return 1
  "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1 || return 1
  local t
  for t in "${tools[@]}"; do
    [[ -x "$VENV/bin/$t" ]] || return 1
  done
}

if [[ "$have" == "$want" ]] && venv_complete; then
  log ".venv is up to date"
else
  if ! [[ -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    log "creating Python venv at .venv/"
    if ! "$PYTHON" -m venv "$VENV"; then
      # Debian's system python needs the python3-venv package for ensurepip.
      if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "python venv support is missing; installing python3-venv with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
        "$PYTHON" -m venv "$VENV" || die "could not create the venv at .venv/"
      else
        die "could not create the venv at .venv/ (is the python3-venv package installed?)"
      fi
    fi
  fi
  log "installing tools/requirements.txt into .venv/ (this takes a minute the first time)"
  rm -f "$STAMP"
  PIP_NO_INPUT=1 "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet \
    -r "$REQUIREMENTS" || die "pip install -r tools/requirements.txt failed"
  for t in "${tools[@]}"; do
    [[ -x "$VENV/bin/$t" ]] || die "the venv has no .venv/bin/$t after installing tools/requirements.txt"
  done
  printf '%s\n' "$want" >"$STAMP"
  log ".venv is ready: $("$VENV/bin/python" -c 'import moto; print("moto", moto.__version__)' 2>/dev/null || echo moto), $("$VENV/bin/cargo-lambda" lambda --version 2>/dev/null | head -n1 || echo cargo-lambda), $("$VENV/bin/cfn-lint" --version 2>/dev/null | head -n1 || echo cfn-lint)"
fi

# --- checkov, in a venv of its own (tools/checkov-requirements.txt says why) ----------------------
CHECKOV_VENV="$VENV/checkov"
CHECKOV_REQUIREMENTS="$ROOT/tools/checkov-requirements.txt"
CHECKOV_STAMP="$CHECKOV_VENV/.requirements.sha256"
checkov_want="$(sha256sum "$CHECKOV_REQUIREMENTS" | cut -d' ' -f1) $("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
if [[ "$(cat "$CHECKOV_STAMP" 2>/dev/null || true)" == "$checkov_want" ]] && [[ -x "$CHECKOV_VENV/bin/checkov" ]]; then
  :
else
  log "installing tools/checkov-requirements.txt into .venv/checkov/"
  rm -f "$CHECKOV_STAMP"
  [[ -x "$CHECKOV_VENV/bin/python" ]] || "$PYTHON" -m venv "$CHECKOV_VENV" || die "could not create the venv at .venv/checkov/"
  PIP_NO_INPUT=1 "$CHECKOV_VENV/bin/python" -m pip install --disable-pip-version-check --quiet \
    -r "$CHECKOV_REQUIREMENTS" || die "pip install -r tools/checkov-requirements.txt failed"
  [[ -x "$CHECKOV_VENV/bin/checkov" ]] || die "the venv has no .venv/checkov/bin/checkov after installing"
  printf '%s\n' "$checkov_want" >"$CHECKOV_STAMP"
fi

# Release the lock before a possibly long cargo install.
exec 9>&-

# --- chromium + chromedriver (the browser tests, tests/tests/e2e/browser.rs) ------------------------
# Debian's `chromium` and `chromium-driver`, installed with apt-get when missing and running as
# root; otherwise the reason is printed and the browser tests skip with the same reason.
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  :
elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  log "chromium/chromedriver are missing; installing chromium and chromium-driver with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq || log "apt-get update failed; trying the install anyway"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver \
    || log "apt-get install chromium chromium-driver failed; the browser tests will skip"
elif ! command -v apt-get >/dev/null 2>&1; then
  log "chromium/chromedriver are missing and this is not a Debian-like system (no apt-get); install them yourself or the browser tests skip"
else
  log "chromium/chromedriver are missing and bootstrap is not running as root; run: sudo apt-get install chromium chromium-driver (the browser tests skip until then)"
fi

# --- node + the MCP TypeScript SDK (tests/tests/e2e/agents.rs, tests/interop/ts-mcp-agent/) ------
if ! { command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; }; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "node/npm are missing; installing nodejs and npm with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || log "apt-get update failed; trying the install anyway"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm \
      || log "apt-get install nodejs npm failed; the TypeScript agent tests will fail"
  else
    log "node/npm are missing; run: sudo apt-get install nodejs npm (the TypeScript agent tests fail until then)"
  fi
fi
TS_AGENT="$ROOT/tests/interop/ts-mcp-agent"
TS_STAMP="$TS_AGENT/node_modules/.package-lock.sha256"
if command -v npm >/dev/null 2>&1; then
  ts_want="$(sha256sum "$TS_AGENT/package-lock.json" | cut -d' ' -f1) $(node --version)"
  if [[ "$(cat "$TS_STAMP" 2>/dev/null || true)" != "$ts_want" ]]; then
    log "installing the MCP TypeScript SDK into tests/interop/ts-mcp-agent/node_modules (npm ci)"
    (cd "$TS_AGENT" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in tests/interop/ts-mcp-agent failed"
    printf '%s\n' "$ts_want" >"$TS_STAMP"
  fi
fi

# --- cargo-nextest ---------------------------------------------------------------------------------
if cargo nextest --version >/dev/null 2>&1; then
  :
else
  log "cargo-nextest is missing; installing it with cargo install --locked (several minutes)"
  cargo install --locked cargo-nextest || die "cargo install --locked cargo-nextest failed"
  cargo nextest --version >/dev/null 2>&1 || die "cargo-nextest installed but \`cargo nextest\` does not run; is ~/.cargo/bin on PATH?"
fi
