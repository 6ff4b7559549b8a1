"""What the browser sessions share: a free port, calls to the API with a token, waiting for
`orderly serve` to answer."""

import json
import socket
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base, token, method, path, body=None):
    """Calls the API with a bearer token; gives (status, JSON body)."""
    req = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_for(proc, base, log_file, tries=300):
    """Waits for the service to answer /healthz; stops the run if it exits first."""
    for _ in range(tries):
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):
                return
        except Exception:
            if proc.poll() is not None:
                raise SystemExit("orderly serve stopped:\n" + log_file.read_text())
            time.sleep(0.1)
    raise SystemExit("orderly serve did not answer /healthz")
