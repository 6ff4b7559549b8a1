#!/usr/bin/env python3
"""The OpenAPI document against the real service (.ci/run runs this after `cargo test`).

For each of two services, one without tokens (open, on loopback) and one with tokens:
  1. start `orderly serve` on a free loopback port with a fresh SQLite file and the shipped
     workflows, and wait for /healthz;
  2. validate GET /v1/openapi.json with openapi-spec-validator;
  3. create real data (orders, an event, a lock, a fulfillment action, customers linked and
     merged) and read every GET route,
     refusing any JSON answer that holds a key twice in one object;
  4. run schemathesis against it with every check, a bounded number of examples per operation,
     the settings of schemathesis.toml beside this file (each one explained there), and, for the
     service with tokens, a valid admin token.
Any finding fails the run (exit 1). The services are always stopped.

Usage: python tests/openapi/check.py [--binary target/debug/orderly] [--max-examples N]
Run it with the Python of a venv that has requirements.txt installed.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ADMIN_SECRET = "schemathesis-admin-secret-0123456789"


def log(message):
    print(f"[openapi] {message}", flush=True)


class Finding(Exception):
    """Something the check found wrong."""


def no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise Finding(f"a JSON object holds {', '.join(repr(k) for k in twice)} more than once")
    return dict(pairs)


def parse_json(text, what):
    try:
        return json.loads(text, object_pairs_hook=no_duplicate_keys)
    except Finding as e:
        raise Finding(f"{what}: {e}") from None
    except json.JSONDecodeError as e:
        raise Finding(f"{what}: not JSON ({e}): {text[:200]!r}") from None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """One `orderly serve` in a temporary folder of its own."""

    def __init__(self, binary, name, tokens):
        self.name = name
        self.tokens = tokens
        self.dir = Path(tempfile.mkdtemp(prefix=f"orderly-openapi-{name}-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.binary = binary
        self.process = None
        self.log_path = self.dir / "serve.log"

    def start(self):
        config = self.dir / "orderly.toml"
        # Tracking is rate-limited per address; schemathesis asks for it far more often than a
        # customer would, so the limit is raised here and 429 is still documented and checked.
        config.write_text("track_per_minute = 100000\nwatch = false\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERLY_")}
        env["ORDERLY_TOKENS"] = json.dumps(self.tokens)
        env.setdefault("RUST_LOG", "warn")
        self.log_file = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [
                str(self.binary), "serve",
                "--config", str(config),
                "--bind", f"127.0.0.1:{self.port}",
                "--database", f"sqlite://{self.dir / 'orderly.db'}",
                "--workflows", str(ROOT / "workflows"),
            ],
            cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
            stdout=self.log_file, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Finding(f"{self.name}: orderly serve exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                status, _, _ = self.request("GET", "/healthz")
                if status == 200:
                    log(f"{self.name}: serving on {self.base}")
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise Finding(f"{self.name}: /healthz did not answer within 60 s:\n{self.log_text()}")

    def log_text(self):
        self.log_file.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self.log_file.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, method, path, body=None, token=True):
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token and self.tokens:
            headers["Authorization"] = f"Bearer {ADMIN_SECRET}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                return res.status, res.headers.get("Content-Type", ""), res.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def validate_document(service):
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    status, _, text = service.request("GET", "/v1/openapi.json", token=False)
    if status != 200:
        raise Finding(f"{service.name}: GET /v1/openapi.json answered {status}")
    doc = parse_json(text, f"{service.name}: GET /v1/openapi.json")
    try:
        validate(doc)
    except OpenAPIValidationError as e:
        raise Finding(f"{service.name}: the OpenAPI document is not valid: {e}") from None
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    log(f"{service.name}: the document is valid OpenAPI {doc['openapi']} ({len(ids)} operations)")
    # What the service promises about tokens, and keeps: protected routes say 401 and 403 with
    # tokens, and ask for nothing without them.
    for path, item in doc["paths"].items():
        for method, op in item.items():
            secured = bool(op.get("security"))
            answers = set(op["responses"])
            if service.tokens and secured and not {"401", "403"} <= answers:
                raise Finding(f"{method.upper()} {path} needs a token but documents no 401/403")
            if not service.tokens and (secured or answers & {"401", "403"}):
                raise Finding(f"{method.upper()} {path}: the service has no tokens, yet the document asks for one")
    return doc


def check_answers(service):
    """Real data through every route, and every JSON answer read with duplicate keys refused."""
    seen = []

    def call(method, path, body=None, expect=None):
        status, content_type, text = service.request(method, path, body)
        if expect is not None and status != expect:
            raise Finding(f"{service.name}: {method} {path} answered {status}, not {expect}: {text[:300]}")
        if content_type.startswith("application/json"):
            value = parse_json(text, f"{service.name}: {method} {path} ({status})")
        else:
            value = text
        seen.append(f"{method} {path} {status}")
        return value

    order = {
        "channel": "website",
        "customer": {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"},
        "shipping_address": {"first_name": "Ann", "last_name": "Lee", "address": "12 Elm St",
                             "city": "Albany", "state": "NY", "zip": "12207"},
        "payment": {"method": "check", "outcome": "pending"},
        "lines": [{"sku": "GTR-1", "description": "Acoustic guitar", "qty": 1, "unit_price": "499.00",
                   "in_stock": True}],
    }
    created = call("POST", "/v1/orders", order, expect=201)
    number = created["number"]
    call("POST", f"/v1/orders/{number}/events",
         {"event": "payment_received", "data": {"amount": "499.00", "outcome": "approved"}}, expect=200)
    call("POST", f"/v1/orders/{number}/events", {"event": "void_it"})  # 422, a did-you-mean
    call("POST", f"/v1/orders/{number}/lock", {"holder": "alice", "ttl_seconds": 60}, expect=200)
    call("DELETE", f"/v1/orders/{number}/lock", {"holder": "alice"}, expect=200)
    fulfillment = dict(order, workflow="fulfillment", payment={"method": "credit_card", "outcome": "approved"})
    fulfillment["customer"] = {"email": "bo@example.com", "first_name": "Bo", "last_name": "Ray"}
    second = call("POST", "/v1/orders", fulfillment, expect=201)["number"]
    call("POST", f"/v1/orders/{second}/fulfillment-actions", {"name": "Picked", "note": "shelf 4"}, expect=201)
    call("PATCH", f"/v1/orders/{second}/fulfillment-actions/1", {"complete": False}, expect=200)
    call("PATCH", f"/v1/orders/{second}/fulfillment-actions/9", {"complete": False}, expect=404)
    kept = call("POST", "/v1/customers", {"email": "cy@example.com", "first_name": "Cy", "last_name": "Moss"}, expect=201)
    other = call("POST", "/v1/customers", {"phone": "555-0100", "company": "Moss Music"}, expect=201)
    call("POST", f"/v1/orders/{second}/customer", {"customer_id": other["id"]}, expect=200)
    call("POST", f"/v1/customers/{kept['id']}/merge", {"from": other["id"]}, expect=200)
    call("POST", f"/v1/customers/{kept['id']}/merge", {"from": kept["id"]}, expect=422)

    call("GET", "/healthz", expect=200)
    call("GET", "/metrics", expect=200)
    call("GET", "/v1/orders", expect=200)
    call("GET", "/v1/orders?status=awaiting_payment,ready_to_process&limit=1", expect=200)
    call("GET", "/v1/orders?status=awaiting_paymnt", expect=400)
    call("GET", f"/v1/orders/{number}", expect=200)
    call("GET", f"/v1/orders/{second}", expect=200)
    call("GET", "/v1/orders/ORD999999", expect=404)
    call("GET", "/v1/outbox", expect=200)
    call("GET", "/v1/customers?q=moss&limit=5", expect=200)
    call("GET", f"/v1/customers/{kept['id']}", expect=200)
    call("GET", "/v1/customers/999999", expect=404)
    call("GET", f"/v1/track/{number}?email=ann@example.com", expect=200)
    workflows = call("GET", "/v1/workflows", expect=200)
    for w in workflows["workflows"]:
        detail = call("GET", f"/v1/workflows/{w['name']}", expect=200)
        if not isinstance(detail["statuses"], list):
            raise Finding(f"GET /v1/workflows/{w['name']}: `statuses` is not the list")
        for fmt in ("svg", "dot", "mermaid"):
            call("GET", f"/v1/workflows/{w['name']}/graph?format={fmt}", expect=200)
    call("GET", "/v1/openapi.json", expect=200)
    log(f"{service.name}: {len(seen)} answers, no JSON object with a key twice")


def run_schemathesis(service, venv_bin, max_examples, seed, workdir):
    command = [
        str(venv_bin / "schemathesis"), "--config-file", str(HERE / "schemathesis.toml"),
        "run", f"{service.base}/v1/openapi.json",
        "--checks", "all",
        "--max-examples", str(max_examples),
        "--seed", str(seed),
        "--workers", "1",
        "--generation-database", "none",
        "--request-timeout", "30",
        "--no-color",
        "--warnings", "off",
    ]
    if service.tokens:
        command += ["--header", f"Authorization: Bearer {ADMIN_SECRET}"]
    log(f"{service.name}: schemathesis, {max_examples} examples per operation, seed {seed}")
    started = time.monotonic()
    result = subprocess.run(command, cwd=workdir, stdin=subprocess.DEVNULL)
    log(f"{service.name}: schemathesis exited {result.returncode} after {time.monotonic() - started:.0f} s")
    if result.returncode != 0:
        raise Finding(f"{service.name}: schemathesis found problems (above)\nservice log:\n{service.log_text()}")
    # Whatever schemathesis sent, the service must still be up and its log free of panics.
    if service.process.poll() is not None:
        raise Finding(f"{service.name}: the service died:\n{service.log_text()}")
    if "panicked" in service.log_text():
        raise Finding(f"{service.name}: a handler panicked:\n{service.log_text()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=str(ROOT / "target" / "debug" / "orderly"))
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("OPENAPI_MAX_EXAMPLES", "150")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("OPENAPI_SEED", "20261201")))
    args = parser.parse_args()
    binary = Path(args.binary).resolve()
    if not binary.is_file():
        sys.exit(f"no binary at {binary}: build it first (cargo build)")
    venv_bin = Path(sys.executable).parent
    started = time.monotonic()
    services = [
        Service(binary, "open", []),
        Service(binary, "tokens", [{"name": "ops", "secret": ADMIN_SECRET, "scopes": ["admin"], "acts_for": ["alice"]}]),
    ]
    workdir = Path(tempfile.mkdtemp(prefix="orderly-schemathesis-"))
    failures = []
    try:
        for service in services:
            try:
                service.start()
                validate_document(service)
                check_answers(service)
                run_schemathesis(service, venv_bin, args.max_examples, args.seed, workdir)
            except Finding as e:
                failures.append(str(e))
                log(f"FAILED: {e}")
            finally:
                service.stop()
    finally:
        for service in services:
            service.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    log(f"done in {time.monotonic() - started:.0f} s")
    if failures:
        log(f"{len(failures)} of {len(services)} services failed the check")
        sys.exit(1)
    log("the OpenAPI document is valid and the service keeps it: no finding")


if __name__ == "__main__":
    main()
