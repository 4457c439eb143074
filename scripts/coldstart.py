"""Cold start of each function binary, as `make bench` reports it.

For each release binary: start it against a minimal Lambda Runtime API on 127.0.0.1 (this file),
with moto as DynamoDB and Secrets Manager, and measure
  - init: process start until the runtime asks for its first event (config, AWS clients, and for
    authorize the first Secrets Manager read),
  - first: process start until the first response is posted back,
  - rss: the process's peak resident memory after that first response (VmHWM).
Runs each function RUNS times (env COLDSTART_RUNS, default 5) and prints the medians.
"""
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

from localstack import free_port, stack_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
RUNS = int(os.environ.get("COLDSTART_RUNS", "5"))

EVENTS = {
    "authorize": ("GET", "/auth/oauth2/authorize", 400),
    "token": ("GET", "/api/auth/oauth/token", 405),
    "me": ("GET", "/api/auth/oauth/me", 401),
    "list-bookings": ("GET", "/api/bookings", 401),
    "refresh": ("GET", "/api/auth/oauth/refreshToken", 405),
    "revoke": ("GET", "/api/auth/oauth/revoke", 405),
    "introspect": ("GET", "/api/auth/oauth/introspect", 405),
    "metadata": ("GET", "/.well-known/oauth-authorization-server", 200),
    "register": ("GET", "/api/auth/oauth/register", 405),
    "mcp-example": ("POST", "/mcp", 401),
}


def event(method, path):
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "127.0.0.1"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "coldstart"},
            "requestId": "cold-1",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
    }


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    """Just enough of the Lambda Runtime API for one invocation."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        if srv.served:
            # A second /next: block like Lambda does until the process is frozen (here: killed).
            time.sleep(30)
            return
        srv.served = True
        srv.t_next = time.monotonic()
        body = json.dumps(event(*srv.request[:2])).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "cold-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:cold")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        srv = self.server
        length = int(self.headers.get("Content-Length", "0") or 0)
        payload = self.rfile.read(length) if length else b""
        srv.t_response = time.monotonic()
        srv.response = payload
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        srv.done.set()


def measure(name, env):
    port = free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), RuntimeApi)
    srv.served, srv.done, srv.request = False, threading.Event(), EVENTS[name]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    run_env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}", AWS_LAMBDA_FUNCTION_NAME=name)
    t0 = time.monotonic()
    proc = subprocess.Popen([os.path.join(TARGET, "release", name)], env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not srv.done.wait(30):
            raise SystemExit(f"{name}: no response within 30 s")
        with open(f"/proc/{proc.pid}/status") as f:
            hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
        status = json.loads(srv.response or b"{}").get("statusCode")
        if status != srv.request[2]:
            raise SystemExit(f"{name}: expected status {srv.request[2]}, got {status}: {srv.response[:200]!r}")
        return (srv.t_next - t0) * 1000, (srv.t_response - t0) * 1000, hwm / 1024
    finally:
        proc.kill()
        proc.wait()
        srv.shutdown()


def main():
    aws_port = free_port()
    env = dict(os.environ, **stack_env(os.path.join(TARGET, "release", "portcullis"), {"PORTCULLIS_AWS_PORT": str(aws_port)}))
    env.pop("DEV_LOGIN", None)
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_LAMBDA_FUNCTION_VERSION="1",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
        AWS_LAMBDA_LOG_STREAM_NAME="cold",
        AWS_LAMBDA_LOG_GROUP_NAME="cold",
        RUST_LOG="warn",
    )
    moto = subprocess.Popen(
        [os.path.join(ROOT, ".venv", "bin", "moto_server"), "-H", "127.0.0.1", "-p", str(aws_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", aws_port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        subprocess.run([os.path.join(TARGET, "release", "portcullis"), "init"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        print(f"\nCold start of the release binaries ({RUNS} runs each, medians; moto as AWS on 127.0.0.1)\n")
        print("| function  | init (ms) | first response (ms) | peak RSS (MiB) | binary (MiB) |")
        print("|-----------|-----------|---------------------|----------------|--------------|")
        for name in EVENTS:
            runs = [measure(name, env) for _ in range(RUNS)]
            size = os.path.getsize(os.path.join(TARGET, "release", name)) / (1024 * 1024)
            init, first, rss = (statistics.median(r[i] for r in runs) for i in range(3))
            print(f"| {name:<9} | {init:9.1f} | {first:19.1f} | {rss:14.1f} | {size:12.1f} |")
    finally:
        moto.kill()
        moto.wait()


if __name__ == "__main__":
    sys.exit(main())
