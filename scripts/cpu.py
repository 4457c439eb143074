"""CPU per warm request of each function, as `make bench` reports it.

Each release function binary runs as its own process against a minimal Lambda Runtime API on
127.0.0.1 (this file), with moto as DynamoDB and Secrets Manager behind a keep-alive front (so
the function's DynamoDB connection is reused as it is on Lambda, and no TCP connect is counted).
The driver walks the whole flow as a browser and an app would, request after request:

    authorize GET (consent page) -> authorize POST (Allow, a code) -> token (code exchange)
    -> me (one BatchGetItem) -> refresh (Cal.com's refreshToken path, a rotation); a /me request
    refused before any store call; introspect (the new access token) -> revoke (it) -> metadata;
    client credentials; a dynamic registration (open); authorize GET and POST naming a resource
    (RFC 8707) -> its code exchange -> the example MCP server's tools/call with that token;
    authorize GET for a Client ID Metadata Document client whose stored copy is fresh, and for
    one seen for the first time (fetched over TLS from a local https server, `DocumentServer`).

CPU is each function process's own accounting, every thread summed (/proc/PID/task/*/schedstat:
nanoseconds on CPU), read before and after the measured requests, so the driver's and moto's CPU
are not counted. The first flow warms each process up and is not measured; then CPU_REQUESTS
(env, default 150) flows are. Figures are averages in microseconds.

Usage: cpu.py [--bin-dir DIR] (default: $CARGO_TARGET_DIR/release). The CLI (`portcullis`) in the
same directory sets the stack up and names every setting (`portcullis --local env --json`).
"""
import argparse
import base64
import hashlib
import http.client
import http.server
import json
import os
import queue
import re
import socket
import subprocess
import tempfile
import sys
import threading
import time
import urllib.parse

from localstack import free_port, stack_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
REQUESTS = int(os.environ.get("CPU_REQUESTS", "150"))
REDIRECT = "https://app.example/cb"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


def reply(handler, status, headers, body=b""):
    """Writes a whole HTTP/1.1 response in one send, as a real server would: headers and body in
    separate writes would wake the function's event loop twice per response and bill it for it."""
    reason = http.server.BaseHTTPRequestHandler.responses.get(status, ("",))[0]
    head = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers] + [f"Content-Length: {len(body)}", "", ""]
    handler.wfile.write("\r\n".join(head).encode("latin-1") + body)


def wait_port(port, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


class KeepAliveFront(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive towards the function; one plain request to moto per call behind it."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _forward(self):
        self.server.count += 1
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection("127.0.0.1", self.server.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        skip = ("connection", "keep-alive", "transfer-encoding", "content-length", "server", "date")
        reply(self, resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() not in skip], data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    """The Lambda Runtime API for one function: /next hands out events from a queue, /response
    hands the answer back to the driver."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        event = self.server.events.get()
        self.server.seq += 1
        body = json.dumps(event).encode()
        reply(self, 200, [
            ("Lambda-Runtime-Aws-Request-Id", f"req-{self.server.seq}"),
            ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000)),
            ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:bench"),
            ("Content-Type", "application/json"),
        ], body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0") or 0)
        payload = self.rfile.read(length) if length else b""
        reply(self, 202, [])
        self.server.responses.put((self.path, payload))


class Function:
    """One function process under its own runtime API."""

    def __init__(self, name, bin_dir, env):
        self.name = name
        port = free_port()
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), RuntimeApi)
        self.srv.events, self.srv.responses, self.srv.seq = queue.Queue(), queue.Queue(), 0
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        run_env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}", AWS_LAMBDA_FUNCTION_NAME=name)
        self.proc = subprocess.Popen([os.path.join(bin_dir, name)], env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def invoke(self, method, path, query="", headers=None, body=None, cookies=None):
        event = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": query,
            "headers": dict({"host": "127.0.0.1"}, **(headers or {})),
            "requestContext": {
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
                "requestId": "bench",
                "routeKey": "$default",
                "stage": "$default",
                "timeEpoch": int(time.time() * 1000),
            },
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if body is not None:
            event["body"] = body
        self.srv.events.put(event)
        where, payload = self.srv.responses.get(timeout=30)
        if where.endswith("/error"):
            raise SystemExit(f"{self.name}: the runtime reported an error: {payload[:300]!r}")
        r = json.loads(payload)
        b = r.get("body") or ""
        if r.get("isBase64Encoded"):
            b = base64.b64decode(b).decode()
        return r.get("statusCode"), {k.lower(): v for k, v in (r.get("headers") or {}).items()}, b

    def cpu_ns(self):
        total = 0
        task_dir = f"/proc/{self.proc.pid}/task"
        for tid in os.listdir(task_dir):
            try:
                with open(f"{task_dir}/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
        return total

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.srv.shutdown()


def cli(bin_dir, env, *args):
    out = subprocess.run([os.path.join(bin_dir, "portcullis"), "--local", *args, "--json"], env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def machine_key(directory):
    """A P-256 key for the private_key_jwt rows, and its public JWKS written to a file."""
    from joserfc import jwk
    key = jwk.ECKey.generate_key("P-256", parameters={"kid": "cost-1"})
    path = os.path.join(directory, "jwks.json")
    with open(path, "w") as f:
        json.dump({"keys": [key.as_dict(private=False)]}, f)
    return key, path


def assertion(key, client_id, audience):
    """A fresh RFC 7523 client assertion (ES256, 2 minutes, a new jti)."""
    from joserfc import jwt
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 120,
              "jti": base64.urlsafe_b64encode(os.urandom(18)).decode()}
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key, algorithms=["ES256"])


MCP_VERSION = "2026-07-28"


def registration(n):
    """RFC 7591: a new public client's registration, distinct for each flow `n` (its loopback
    redirect's port), as an MCP client sends it."""
    return json.dumps({"redirect_uris": [f"http://127.0.0.1:{1024 + n % 60000}/callback"], "token_endpoint_auth_method": "none",
                       "grant_types": ["authorization_code", "refresh_token"], "client_name": "Bench agent"})


# Open registration, with caps no bench run reaches (each flow registers a new client).
REGISTER_ENV = {"PORTCULLIS_DYNAMIC_REGISTRATION": "open", "PORTCULLIS_REGISTRATIONS_PER_HOUR": "1000000000",
                "PORTCULLIS_REGISTRATIONS_PER_DAY": "1000000000"}


def mcp_tool_call(access):
    """A 2026-07-28 `tools/call` of the example MCP server's `list_bookings`: (headers, body)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_bookings", "arguments": {}, "_meta": {
        "io.modelcontextprotocol/protocolVersion": MCP_VERSION, "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}}}})
    headers = {"authorization": f"Bearer {access}", "content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": MCP_VERSION, "mcp-method": "tools/call", "mcp-name": "list_bookings"}
    return headers, body


FIXTURES = os.path.join(ROOT, "shared", "aws", "tests", "fixtures")

# The authorize function with Client ID Metadata Documents on, fetching from `localhost` (allowed
# only because the bench's issuer is loopback) over https with the test fixtures' CA.
DOCUMENT_ENV = {"PORTCULLIS_CLIENT_METADATA_DOCUMENTS": "on", "PORTCULLIS_METADATA_DOCUMENT_LOOPBACK_HOSTS": "localhost",
                "PORTCULLIS_METADATA_DOCUMENT_CA_FILE": os.path.join(FIXTURES, "ca.pem")}


class DocumentServer:
    """An https server on 127.0.0.1 with the fixtures' `localhost` certificate: every path answers
    a valid Client ID Metadata Document for its own URL (`https://localhost:PORT/PATH`), cacheable
    for an hour, as an MCP client's host would. `fetches` counts the documents served."""

    def __init__(self):
        import ssl

        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.fetches += 1
                doc = json.dumps({"client_id": owner.url(self.path), "client_name": "Bench agent",
                                  "redirect_uris": ["http://127.0.0.1/callback"], "token_endpoint_auth_method": "none",
                                  "grant_types": ["authorization_code", "refresh_token"], "scope": "READ_BOOKING"}).encode()
                reply(self, 200, [("Content-Type", "application/json"), ("Cache-Control", "max-age=3600"), ("Connection", "close")], doc)

        self.fetches = 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(FIXTURES, "localhost.pem"), os.path.join(FIXTURES, "localhost-key.pem"))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"https://localhost:{self.port}{path}"

    def stop(self):
        self.server.shutdown()


def document_query(client_id):
    """An authorization request (RFC 6749 §4.1.1, with PKCE) from a metadata-document client: its
    URL as `client_id`, a loopback redirect on any port (RFC 8252 §7.3)."""
    return urllib.parse.urlencode({
        "client_id": client_id, "redirect_uri": "http://127.0.0.1:53682/callback", "response_type": "code",
        "scope": "READ_BOOKING", "state": "s1",
        "code_challenge": base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    })


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin-dir", default=os.path.join(TARGET, "release"))
    parser.add_argument("--cli-dir", default=None, help="where `portcullis` is (default: --bin-dir)")
    args = parser.parse_args()
    cli_dir = args.cli_dir or args.bin_dir

    aws_port, front_port = free_port(), free_port()
    # Every setting from the one list the code keeps (portcullis_core::settings::local_stack).
    env = dict(os.environ, **stack_env(os.path.join(cli_dir, "portcullis"), {"PORTCULLIS_AWS_PORT": str(aws_port)}))
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_LAMBDA_FUNCTION_VERSION="1",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
        AWS_LAMBDA_LOG_STREAM_NAME="bench",
        AWS_LAMBDA_LOG_GROUP_NAME="bench",
        RUST_LOG="info",
    )
    env.pop("DEV_LOGIN", None)
    issuer = env["PORTCULLIS_ISSUER"]

    moto = subprocess.Popen([os.path.join(ROOT, ".venv", "bin", "moto_server"), "-H", "127.0.0.1", "-p", str(aws_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    front = http.server.ThreadingHTTPServer(("127.0.0.1", front_port), KeepAliveFront)
    front.upstream, front.count = aws_port, 0
    threading.Thread(target=front.serve_forever, daemon=True).start()
    functions = []
    documents = DocumentServer()
    try:
        wait_port(aws_port)
        cli(cli_dir, env, "init")
        client = cli(cli_dir, env, "client", "create", "--name", "Bench app", "--redirect-uri", REDIRECT)
        session = cli(cli_dir, env, "session", "--sub", "bench-user", "--username", "ada", "--ttl", "86400")
        machine = cli(cli_dir, env, "client", "create", "--name", "Bench job", "--grant-type", "client_credentials")
        key_dir = tempfile.mkdtemp(prefix="portcullis-cpu-")
        signing_key, jwks_path = machine_key(key_dir)
        keyed = cli(cli_dir, env, "client", "create", "--name", "Bench keyed job", "--grant-type", "client_credentials", "--jwks-file", jwks_path)
        machine_basic = base64.b64encode(f"{machine['client_id']}:{machine['client_secret']}".encode()).decode()
        # RFC 8707: the example MCP server's resource ({issuer}/mcp, its default URI).
        cli(cli_dir, env, "resource", "create", "--uri", issuer + "/mcp", "--scopes", "READ_BOOKING", "--name", "Bench MCP")
        fn_env = dict(env, AWS_ENDPOINT_URL=f"http://127.0.0.1:{front_port}")
        extra = {"register": REGISTER_ENV, "authorize": DOCUMENT_ENV}
        functions = [Function(n, args.bin_dir, dict(fn_env, **extra.get(n, {})))
                     for n in ("authorize", "token", "me", "refresh", "introspect", "revoke", "metadata", "register", "mcp-example")]
        authorize, token, me, refresh, introspect, revoke, metadata, register, mcp = functions
        resource_query = urllib.parse.urlencode({
            "client_id": client["client_id"], "redirect_uri": REDIRECT, "response_type": "code",
            "scope": "READ_BOOKING", "state": "s1", "resource": issuer + "/mcp",
            "code_challenge": base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        })
        flows = [0]
        cookie = f"{session['cookie']}={session['session']}"
        challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
        query = urllib.parse.urlencode({
            "client_id": client["client_id"], "redirect_uri": REDIRECT, "response_type": "code",
            "scope": "READ_PROFILE READ_BOOKING", "state": "s1",
            "code_challenge": challenge, "code_challenge_method": "S256",
        })
        basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()

        def flow():
            status, _, page = authorize.invoke("GET", "/auth/oauth2/authorize", query, cookies=[cookie])
            assert status == 200, (status, page[:300])
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            form = query + "&" + urllib.parse.urlencode({"csrf_token": csrf, "decision": "allow"})
            status, headers, _ = authorize.invoke("POST", "/auth/oauth2/authorize", headers={"content-type": "application/x-www-form-urlencoded"}, body=form, cookies=[cookie])
            assert status == 303, status
            code = urllib.parse.parse_qs(urllib.parse.urlparse(headers["location"]).query)["code"][0]
            form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": VERIFIER})
            status, _, body = token.invoke("POST", "/api/auth/oauth/token", headers={"content-type": "application/x-www-form-urlencoded", "authorization": f"Basic {basic}"}, body=form)
            assert status == 200, (status, body)
            issued = json.loads(body)
            access = issued["access_token"]
            status, _, body = me.invoke("GET", "/api/auth/oauth/me", headers={"authorization": f"Bearer {access}"})
            assert status == 200, (status, body)
            form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
            status, _, body = refresh.invoke("POST", "/api/auth/oauth/refreshToken", headers={"content-type": "application/x-www-form-urlencoded", "authorization": f"Basic {basic}"}, body=form)
            assert status == 200, (status, body)
            status, _, _ = me.invoke("GET", "/api/auth/oauth/me", headers={"authorization": "Bearer not-one-of-ours"})
            assert status == 401, status
            form = urllib.parse.urlencode({"token": json.loads(body)["access_token"]})
            auth = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Basic {basic}"}
            status, _, answer = introspect.invoke("POST", "/api/auth/oauth/introspect", headers=auth, body=form)
            assert status == 200 and json.loads(answer)["active"], (status, answer)
            status, _, answer = revoke.invoke("POST", "/api/auth/oauth/revoke", headers=auth, body=form)
            assert status == 200, (status, answer)
            status, _, answer = metadata.invoke("GET", "/.well-known/oauth-authorization-server")
            assert status == 200, (status, answer)
            status, _, answer = token.invoke("POST", "/api/auth/oauth/token", headers={"content-type": "application/x-www-form-urlencoded", "authorization": f"Basic {machine_basic}"}, body="grant_type=client_credentials")
            assert status == 200, (status, answer)
            # Signed here, outside the function's CPU accounting.
            form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": keyed["client_id"],
                                           "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                                           "client_assertion": assertion(signing_key, keyed["client_id"], issuer + "/api/auth/oauth/token")})
            status, _, answer = token.invoke("POST", "/api/auth/oauth/token", headers={"content-type": "application/x-www-form-urlencoded"}, body=form)
            assert status == 200, (status, answer)
            # Issue 18: a registration, an authorization for a resource and the MCP server's tool call.
            flows[0] += 1
            status, _, answer = register.invoke("POST", "/api/auth/oauth/register", headers={"content-type": "application/json"}, body=registration(flows[0]))
            assert status == 201, (status, answer)
            status, _, page = authorize.invoke("GET", "/auth/oauth2/authorize", resource_query, cookies=[cookie])
            assert status == 200, (status, page[:300])
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            form = resource_query + "&" + urllib.parse.urlencode({"csrf_token": csrf, "decision": "allow"})
            status, headers, _ = authorize.invoke("POST", "/auth/oauth2/authorize", headers={"content-type": "application/x-www-form-urlencoded"}, body=form, cookies=[cookie])
            assert status == 303, status
            code = urllib.parse.parse_qs(urllib.parse.urlparse(headers["location"]).query)["code"][0]
            form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": VERIFIER})
            status, _, body = token.invoke("POST", "/api/auth/oauth/token", headers={"content-type": "application/x-www-form-urlencoded", "authorization": f"Basic {basic}"}, body=form)
            assert status == 200, (status, body)
            headers, body = mcp_tool_call(json.loads(body)["access_token"])
            status, _, answer = mcp.invoke("POST", "/mcp", headers=headers, body=body)
            assert status == 200, (status, answer)
            # A metadata-document client whose copy is stored and fresh (the warm-up flow fetched
            # it), then one seen for the first time (a new URL each flow: fetched over TLS).
            status, _, page = authorize.invoke("GET", "/auth/oauth2/authorize", document_query(documents.url("/agent/client.json")), cookies=[cookie])
            assert status == 200, (status, page[:300])
            status, _, page = authorize.invoke("GET", "/auth/oauth2/authorize", document_query(documents.url(f"/agent/{flows[0]}/client.json")), cookies=[cookie])
            assert status == 200, (status, page[:300])

        # Split per request kind: the driver reads each process's CPU around each invocation.
        calls = {}
        rows = {k: 0 for k in ("authorize GET (consent page)", "authorize POST (allow)", "token (code exchange)", "me (one BatchGetItem)", "refresh (rotation)", "me refused before any store call", "introspect (access token)", "revoke (access token)", "metadata",
                                 "token (client credentials, secret)", "token (client credentials, private_key_jwt)",
                                 "register (open, a new client)", "authorize GET (resource)", "authorize POST (resource)",
                                 "token (code exchange, resource)", "mcp-example (tools/call)",
                                 "authorize GET (document, cached)", "authorize GET (document, fetched)")}
        flow()  # warm-up: connections, caches, first key read
        order = list(rows)
        originals = {f: f.invoke for f in functions}

        def metered(f):
            def call(*a, **kw):
                before, aws_before = f.cpu_ns(), front.count
                r = originals[f](*a, **kw)
                rows[order[metered.i]] += f.cpu_ns() - before
                calls.setdefault(order[metered.i], set()).add(front.count - aws_before)
                metered.i = (metered.i + 1) % len(order)
                return r
            return call

        metered.i = 0
        for f in functions:
            f.invoke = metered(f)
        for _ in range(REQUESTS):
            flow()
        print(f"\nCPU per warm request ({REQUESTS} requests each after one warm-up; every thread of the function process; "
              f"DynamoDB = moto behind a keep-alive front; binaries from {os.path.relpath(args.bin_dir, ROOT)})\n")
        print("| request                            | AWS calls (counted) | CPU per request (µs) |")
        print("|------------------------------------|---------------------|----------------------|")
        for name, ns in rows.items():
            seen = sorted(calls.get(name, {0}))
            counted = str(seen[0]) if len(seen) == 1 else f"{seen[0]}-{seen[-1]}"
            print(f"| {name:<34} | {counted:>19} | {ns / REQUESTS / 1000:20.0f} |")
    finally:
        for f in functions:
            f.stop()
        documents.stop()
        front.shutdown()
        moto.kill()
        moto.wait()


if __name__ == "__main__":
    sys.exit(main())
