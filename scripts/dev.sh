#!/usr/bin/env bash
# `make dev`: the whole stack on this machine, on 127.0.0.1 only.
#   bootstrap -> cargo build -> moto_server -> portcullis --local init -> demo client ->
#   cargo lambda watch (reloads on code changes) until Ctrl-C, which stops everything started here.
# Ports: PORTCULLIS_PORT (default 9000, the HTTP entry) and PORTCULLIS_AWS_PORT (default 5000, moto).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

die() { printf 'dev: error: %s\n' "$*" >&2; exit 1; }

bash scripts/bootstrap.sh

printf 'dev: building the workspace binaries (cargo build --workspace --bins)\n' >&2
cargo build --workspace --bins || die "cargo build --workspace --bins failed"

# shellcheck source=scripts/stack.sh
source "$ROOT/scripts/stack.sh"

# shellcheck disable=SC2317  # invoked by the traps
cleanup() {
  local rc=$?
  trap '' INT TERM
  trap - EXIT
  stack_stop
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stack_start_moto
stack_init

PORTCULLIS_BIN="$(stack_portcullis_bin)"
DEMO_REDIRECT_URI="http://127.0.0.1:${PORTCULLIS_PORT}/demo/callback"
printf 'dev: creating the demo client\n' >&2
client_json="$("$PORTCULLIS_BIN" --local client create --name "Demo app" \
  --redirect-uri "$DEMO_REDIRECT_URI" \
  --redirect-uri "https://oauth.pstmn.io/v1/callback" \
  --scopes READ_PROFILE,READ_BOOKING --json)" ||
  die "portcullis --local client create failed"

mapfile -t creds < <(python3 -c '
import json, sys
text = sys.stdin.read()
obj = None
try:
    obj = json.loads(text)
except ValueError:
    # Tolerate log lines around the JSON: take the last line that is a JSON object.
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
                break
            except ValueError:
                pass
if not isinstance(obj, dict) or not obj.get("client_id") or not obj.get("client_secret"):
    sys.exit(1)
print(obj["client_id"])
print(obj["client_secret"])
' <<<"$client_json")
if ((${#creds[@]} != 2)); then
  printf '%s\n' "$client_json" >&2
  die "no client_id/client_secret in the output of portcullis client create --json (above)"
fi
CLIENT_ID="${creds[0]}"
CLIENT_SECRET="${creds[1]}"

urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
STATE="$(python3 -c 'import secrets; print(secrets.token_urlsafe(16))')"
AUTHORIZE_URL="${PORTCULLIS_ISSUER}/auth/oauth2/authorize?client_id=$(urlencode "$CLIENT_ID")&redirect_uri=$(urlencode "$DEMO_REDIRECT_URI")&response_type=code&scope=READ_PROFILE%20READ_BOOKING&state=${STATE}"
TOKEN_URL="${PORTCULLIS_ISSUER}/api/auth/oauth/token"
ME_URL="${PORTCULLIS_ISSUER}/api/auth/oauth/me"

stack_start_watch dev

mkdir -p "$PORTCULLIS_LOCAL_DIR"
{
  cat <<EOF

==========================================================================================
 Portcullis is running at ${PORTCULLIS_ISSUER}   (Ctrl-C stops everything)

 Demo client "Demo app" (scopes READ_PROFILE READ_BOOKING)
   client_id:     ${CLIENT_ID}
   client_secret: ${CLIENT_SECRET}

 Endpoints
   authorize: ${PORTCULLIS_ISSUER}/auth/oauth2/authorize
   token:     ${TOKEN_URL}
   me:        ${ME_URL}

 1. Open in a browser (dev login is on):
   ${AUTHORIZE_URL}

 2. After sign-in the browser lands on ${DEMO_REDIRECT_URI}?code=...&state=${STATE}
    Exchange the code for tokens:
   curl -sS -X POST $(printf '%q' "$TOKEN_URL") -u $(printf '%q' "${CLIENT_ID}:${CLIENT_SECRET}") \\
     -d grant_type=authorization_code --data-urlencode 'code=PASTE_CODE_HERE' \\
     --data-urlencode $(printf '%q' "redirect_uri=${DEMO_REDIRECT_URI}")

 3. Call the API with the access token:
   curl -sS $(printf '%q' "$ME_URL") -H 'Authorization: Bearer PASTE_ACCESS_TOKEN_HERE'

 Logs: .local/watch.log, .local/moto.log   (this text: .local/dev-info.txt)
==========================================================================================

EOF
} | tee "$PORTCULLIS_LOCAL_DIR/dev-info.txt"

# Runs until cargo lambda watch ends or Ctrl-C; the EXIT trap stops everything either way.
status=0
stack_wait_watch || status=$?
printf 'dev: cargo lambda watch exited (status %s)\n' "$status" >&2
exit "$status"
