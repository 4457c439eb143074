"""Cost per million requests, as `make bench` reports it (docs/deploy.md, "Cost").

Each release function binary runs against a minimal Lambda Runtime API with moto as AWS (the
harness of scripts/cpu.py), with PORTCULLIS_METER_FILE set: the real DynamoDB client's meter
(shared/aws/src/metering.rs) writes one line per DynamoDB call the adapters send, with each item
read or written. After a warm-up flow, COST_REQUESTS (env, default 40) flows of
authorize GET -> authorize POST -> token (code exchange) -> me -> refresh -> client credentials
(secret, private_key_jwt) -> a dynamic registration (open) -> authorize GET and POST naming a
resource (RFC 8707) -> the example MCP server's tools/call with the resource's token -> authorize GET
for a Client ID Metadata Document client whose stored copy is fresh, and for one seen for the first
time (fetched from a local https server: the fetch's time is in the row, as on Lambda) are measured.

Capacity units. moto does return `ConsumedCapacity` when asked (the meter asks), but a fixed
placeholder (1.0 for any write, 0.5 for any read, nothing for transactions, no index writes), so
the units are computed here from what the meter saw, by DynamoDB's on-demand rules:
  read:  ceil(size / 4 KB) x 0.5 (eventually consistent), x 1 (consistent), x 2 (transactional);
         a key not found still bills the minimum;
  write: ceil(size / 1 KB) x 1, x 2 in a transaction; a transaction's ConditionCheck is billed
         as a transactional write (assumed, conservative);
  index: each write also writes every global secondary index whose key attributes the item has
         (1 unit, the projections are small); when the call does not show the item (an update or
         delete that returns nothing), every index of the table is counted (an upper bound).
The indexes are read from infra/template.yaml.

Lambda duration. Measured here per request: wall time from handing the event to the function to
its response (DynamoDB = moto on this machine, behind a keep-alive front) and the function's own
CPU time. At 128 MB Lambda gives a function 128/1769 of a vCPU, so CPU time stretches ~13.8x:
the billed duration is modelled as wall - cpu + cpu x 1769/128, rounded up to 1 ms.

Usage: cost.py [--bin-dir DIR] [--detail] (default: $CARGO_TARGET_DIR/release; --detail lists
each request's items and their units).
"""
import argparse
import base64
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import threading
import time
import urllib.parse
import http.server
import subprocess

from cpu import (DOCUMENT_ENV, DocumentServer, KeepAliveFront, Function, REGISTER_ENV, ROOT, TARGET, REDIRECT, VERIFIER, assertion, cli,
                 document_query, machine_key, mcp_tool_call, registration, wait_port)
from localstack import free_port, stack_env

REQUESTS = int(os.environ.get("COST_REQUESTS", "40"))

# us-east-1 list prices, on-demand, as published on the AWS pricing pages (checked 2025-06; the
# DynamoDB on-demand prices are those after the November 2024 reduction). Change them here.
REGION = "us-east-1"
PRICES_AS_OF = "2025-06"
API_PER_M = 1.00  # HTTP API, per million requests (first 300 M a month; 512 KB units)
LAMBDA_REQ_PER_M = 0.20  # Lambda, per million requests
LAMBDA_GB_S = 0.0000133334  # Lambda arm64, per GB-second (first 7.5 G GB-s a month)
WRU_PER_M = 0.625  # DynamoDB on-demand, per million write request units
RRU_PER_M = 0.125  # DynamoDB on-demand, per million read request units
MEMORY_MB = 128
FULL_VCPU_MB = 1769


def template_indexes():
    """{table logical id: [([key attribute, ...], [projected attribute, ...]) per GSI]} from the template."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    with open(os.path.join(ROOT, "infra", "template.yaml")) as f:
        t = yaml.load(f, Loader=Loader)
    out = {}
    for rid, r in t["Resources"].items():
        if r.get("Type") == "AWS::DynamoDB::Table":
            gsis = r["Properties"].get("GlobalSecondaryIndexes") or []
            out[rid] = [
                (
                    [k["AttributeName"] for k in g["KeySchema"]],
                    {"KEYS_ONLY": [], "ALL": ["*"]}.get(g["Projection"]["ProjectionType"], g["Projection"].get("NonKeyAttributes", [])),
                )
                for g in gsis
            ]
    return out


def units(item, gsis):
    """(RRU, WRU) of one metered item."""
    size = item.get("bytes") or 0
    if item["kind"] == "read":
        n = max(1, math.ceil(size / 4096))
        factor = 2 if item.get("transactional") else (1 if item.get("consistent") else 0.5)
        return n * factor, 0
    n = max(1, math.ceil(size / 1024))
    wru = n * (2 if item.get("transactional") else 1)
    if item["kind"] == "write":
        attrs = item.get("attrs")
        touched = item.get("touched")
        for keys, projected in gsis:
            # An item is in an index only if it has the index's key attributes.
            if attrs is not None and not all(k in attrs for k in keys):
                continue
            # DynamoDB writes an index entry for an update only when the update changes one of
            # the index's key or projected attributes; a put or delete always writes it.
            if touched is None or "*" in projected or any(a in touched for a in keys + projected):
                wru += 1
    return 0, wru


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin-dir", default=os.path.join(TARGET, "release"))
    parser.add_argument("--detail", action="store_true", help="also list each request's items and their units")
    args = parser.parse_args()

    aws_port, front_port = free_port(), free_port()
    env = dict(os.environ, **stack_env(os.path.join(args.bin_dir, "portcullis"), {"PORTCULLIS_AWS_PORT": str(aws_port)}))
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_LAMBDA_FUNCTION_VERSION="1", AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(MEMORY_MB),
               AWS_LAMBDA_LOG_STREAM_NAME="bench", AWS_LAMBDA_LOG_GROUP_NAME="bench", RUST_LOG="warn")
    env.pop("DEV_LOGIN", None)
    env.pop("PORTCULLIS_METER_FILE", None)
    by_logical = template_indexes()
    table_gsis = {
        env["PORTCULLIS_CLIENTS_TABLE"]: by_logical.get("ClientsTable", []),
        env["PORTCULLIS_CODES_TABLE"]: by_logical.get("CodesTable", []),
        env["PORTCULLIS_TOKENS_TABLE"]: by_logical.get("TokensTable", []),
    }
    meter_dir = tempfile.mkdtemp(prefix="portcullis-meter-")

    moto = subprocess.Popen([os.path.join(ROOT, ".venv", "bin", "moto_server"), "-H", "127.0.0.1", "-p", str(aws_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    front = http.server.ThreadingHTTPServer(("127.0.0.1", front_port), KeepAliveFront)
    front.upstream, front.count = aws_port, 0
    threading.Thread(target=front.serve_forever, daemon=True).start()
    functions = []
    documents = DocumentServer()
    try:
        wait_port(aws_port)
        cli(args.bin_dir, env, "init")
        client = cli(args.bin_dir, env, "client", "create", "--name", "Cost app", "--redirect-uri", REDIRECT)
        machine = cli(args.bin_dir, env, "client", "create", "--name", "Cost job", "--grant-type", "client_credentials")
        signing_key, jwks_path = machine_key(meter_dir)
        keyed = cli(args.bin_dir, env, "client", "create", "--name", "Cost keyed job", "--grant-type", "client_credentials", "--jwks-file", jwks_path)
        session = cli(args.bin_dir, env, "session", "--sub", "cost-user", "--username", "ada", "--ttl", "86400")
        cli(args.bin_dir, env, "resource", "create", "--uri", env["PORTCULLIS_ISSUER"] + "/mcp", "--scopes", "READ_BOOKING", "--name", "Cost MCP")
        meters = {}
        for name in ("authorize", "token", "me", "refresh", "register", "mcp-example"):
            meters[name] = os.path.join(meter_dir, f"{name}.jsonl")
            open(meters[name], "a").close()
            fn_env = dict(env, AWS_ENDPOINT_URL=f"http://127.0.0.1:{front_port}", PORTCULLIS_METER_FILE=meters[name])
            if name == "register":
                fn_env.update(REGISTER_ENV)
            if name == "authorize":
                fn_env.update(DOCUMENT_ENV)
            functions.append(Function(name, args.bin_dir, fn_env))
        authorize, token, me, refresh, register, mcp = functions
        offsets = {name: 0 for name in meters}

        def metered_lines(name):
            with open(meters[name]) as f:
                f.seek(offsets[name])
                data = f.read()
                offsets[name] = f.tell()
            return [json.loads(l) for l in data.splitlines() if l.strip()]

        cookie = f"{session['cookie']}={session['session']}"
        challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
        query = urllib.parse.urlencode({
            "client_id": client["client_id"], "redirect_uri": REDIRECT, "response_type": "code",
            "scope": "READ_PROFILE READ_BOOKING", "state": "s1",
            "code_challenge": challenge, "code_challenge_method": "S256",
        })
        basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
        form_headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Basic {basic}"}
        rows = {k: {"n": 0, "calls": 0, "rru": 0.0, "wru": 0.0, "wall": 0.0, "cpu": 0.0, "ops": {}, "detail": []} for k in
                ("code exchange (token)", "refresh (refreshToken)", "/me", "authorize GET (consent page)", "authorize POST (allow)",
                 "client credentials (secret)", "client credentials (private_key_jwt)", "register (open)",
                 "authorize GET (resource)", "authorize POST (resource)", "mcp-example (tools/call)",
                 "authorize GET (doc, cached)", "authorize GET (doc, fetched)")}
        machine_basic = base64.b64encode(f"{machine['client_id']}:{machine['client_secret']}".encode()).decode()
        measuring = [False]
        flows = [0]
        resource_query = urllib.parse.urlencode({
            "client_id": client["client_id"], "redirect_uri": REDIRECT, "response_type": "code",
            "scope": "READ_BOOKING", "state": "s1", "resource": env["PORTCULLIS_ISSUER"] + "/mcp",
            "code_challenge": challenge, "code_challenge_method": "S256",
        })

        def call(row, fn, *a, **kw):
            metered_lines(fn.name)  # drop anything before this request
            cpu0, t0 = fn.cpu_ns(), time.perf_counter()
            r = fn.invoke(*a, **kw)
            wall, cpu = time.perf_counter() - t0, (fn.cpu_ns() - cpu0) / 1e9
            lines = metered_lines(fn.name)
            if measuring[0]:
                acc = rows[row]
                acc["n"] += 1
                acc["calls"] += len(lines)
                acc["wall"] += wall
                acc["cpu"] += cpu
                for line in lines:
                    acc["ops"][line["op"]] = acc["ops"].get(line["op"], 0) + 1
                    for item in line["items"]:
                        rru, wru = units(item, table_gsis.get(item.get("table"), []))
                        acc["rru"] += rru
                        acc["wru"] += wru
                        if acc["n"] == 1:
                            what = f"{line['op']} {item['kind']} {item.get('table')}" + (f"/{item['index']}" if item.get("index") else "")
                            acc["detail"].append(f"{what} ({item.get('bytes')} B): {rru:g} RRU, {wru:g} WRU")
            return r

        def flow():
            status, _, page = call("authorize GET (consent page)", authorize, "GET", "/auth/oauth2/authorize", query, cookies=[cookie])
            assert status == 200, (status, page[:300])
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            form = query + "&" + urllib.parse.urlencode({"csrf_token": csrf, "decision": "allow"})
            status, headers, _ = call("authorize POST (allow)", authorize, "POST", "/auth/oauth2/authorize", headers={"content-type": "application/x-www-form-urlencoded"}, body=form, cookies=[cookie])
            assert status == 303, status
            code = urllib.parse.parse_qs(urllib.parse.urlparse(headers["location"]).query)["code"][0]
            form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": VERIFIER})
            status, _, body = call("code exchange (token)", token, "POST", "/api/auth/oauth/token", headers=form_headers, body=form)
            assert status == 200, (status, body)
            issued = json.loads(body)
            status, _, body = call("/me", me, "GET", "/api/auth/oauth/me", headers={"authorization": f"Bearer {issued['access_token']}"})
            assert status == 200, (status, body)
            form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
            status, _, body = call("refresh (refreshToken)", refresh, "POST", "/api/auth/oauth/refreshToken", headers=form_headers, body=form)
            assert status == 200, (status, body)
            form = "grant_type=client_credentials"
            status, _, body = call("client credentials (secret)", token, "POST", "/api/auth/oauth/token",
                                   headers={"content-type": "application/x-www-form-urlencoded", "authorization": f"Basic {machine_basic}"}, body=form)
            assert status == 200, (status, body)
            form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": keyed["client_id"],
                                           "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                                           "client_assertion": assertion(signing_key, keyed["client_id"], env["PORTCULLIS_ISSUER"] + "/api/auth/oauth/token")})
            status, _, body = call("client credentials (private_key_jwt)", token, "POST", "/api/auth/oauth/token",
                                   headers={"content-type": "application/x-www-form-urlencoded"}, body=form)
            assert status == 200, (status, body)
            flows[0] += 1
            status, _, body = call("register (open)", register, "POST", "/api/auth/oauth/register",
                                   headers={"content-type": "application/json"}, body=registration(flows[0]))
            assert status == 201, (status, body)
            status, _, page = call("authorize GET (resource)", authorize, "GET", "/auth/oauth2/authorize", resource_query, cookies=[cookie])
            assert status == 200, (status, page[:300])
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            form = resource_query + "&" + urllib.parse.urlencode({"csrf_token": csrf, "decision": "allow"})
            status, headers, _ = call("authorize POST (resource)", authorize, "POST", "/auth/oauth2/authorize",
                                      headers={"content-type": "application/x-www-form-urlencoded"}, body=form, cookies=[cookie])
            assert status == 303, status
            code = urllib.parse.parse_qs(urllib.parse.urlparse(headers["location"]).query)["code"][0]
            form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": VERIFIER})
            status, _, body = token.invoke("POST", "/api/auth/oauth/token", headers=form_headers, body=form)  # not a row
            assert status == 200, (status, body)
            mcp_headers, mcp_body = mcp_tool_call(json.loads(body)["access_token"])
            status, _, body = call("mcp-example (tools/call)", mcp, "POST", "/mcp", headers=mcp_headers, body=mcp_body)
            assert status == 200, (status, body)
            status, _, page = call("authorize GET (doc, cached)", authorize, "GET", "/auth/oauth2/authorize",
                                   document_query(documents.url("/agent/client.json")), cookies=[cookie])
            assert status == 200, (status, page[:300])
            before = documents.fetches
            status, _, page = call("authorize GET (doc, fetched)", authorize, "GET", "/auth/oauth2/authorize",
                                   document_query(documents.url(f"/agent/{flows[0]}/client.json")), cookies=[cookie])
            assert status == 200 and documents.fetches == before + 1, (status, page[:300])

        flow()  # warm-up: connections, caches, the first key read
        measuring[0] = True
        for _ in range(REQUESTS):
            flow()

        print(f"\nCost per million requests ({REQUESTS} of each after one warm-up; {REGION} on-demand list prices as of {PRICES_AS_OF}:")
        print(f"HTTP API ${API_PER_M:.2f}/M requests; Lambda ${LAMBDA_REQ_PER_M:.2f}/M requests + ${LAMBDA_GB_S}/GB-s arm64 at {MEMORY_MB} MB;")
        print(f"DynamoDB ${WRU_PER_M}/M WRU, ${RRU_PER_M}/M RRU. DynamoDB calls counted by the SDK meter on the real client;")
        print("units by DynamoDB's sizing rules (moto's ConsumedCapacity is a placeholder); duration modelled for 128 MB from")
        print("this machine's wall and CPU time, see scripts/cost.py)\n")
        print("| request                      | DynamoDB calls (metered)           | RRU | WRU  | ms: local wall / CPU / billed at 128 MB | HTTP API | Lambda | DynamoDB | total $/M |")
        print("|------------------------------|------------------------------------|-----|------|-----------------------------------------|----------|--------|----------|-----------|")
        for name, acc in rows.items():
            n = max(acc["n"], 1)
            rru, wru = acc["rru"] / n, acc["wru"] / n
            wall_ms, cpu_ms = acc["wall"] / n * 1000, acc["cpu"] / n * 1000
            billed_ms = math.ceil(wall_ms - cpu_ms + cpu_ms * FULL_VCPU_MB / MEMORY_MB)
            lam = LAMBDA_REQ_PER_M + billed_ms / 1000 * MEMORY_MB / 1024 * LAMBDA_GB_S * 1e6
            ddb = rru * RRU_PER_M + wru * WRU_PER_M
            total = API_PER_M + lam + ddb
            ops = ", ".join(f"{c // n if c % n == 0 else round(c / n, 2)} {op}" for op, c in sorted(acc["ops"].items())) or "none"
            times = f"{wall_ms:.1f} / {cpu_ms:.2f} / {billed_ms}"
            print(f"| {name:<28} | {ops:<34} | {rru:3g} | {wru:4g} | {times:>39} | {API_PER_M:8.2f} | {lam:6.2f} | {ddb:8.2f} | {total:9.2f} |")
        if args.detail:
            for name, acc in rows.items():
                print(f"\n{name}, item by item (one request; index writes included in WRU):")
                for d in acc["detail"]:
                    print(f"  {d}")
        print("\nAt rest: DynamoDB storage ($0.25/GB-month), the four secrets ($0.40/month each), CloudWatch Logs storage; nothing else.")
    finally:
        for f in functions:
            f.stop()
        documents.stop()
        front.shutdown()
        moto.kill()
        moto.wait()


if __name__ == "__main__":
    sys.exit(main())
