#!/usr/bin/env python3
"""An example operator for wallet-backup-service's self-managed custodians.

The service POSTs each custodian share of a WEBHOOK client to this server and
asks for it back at recovery (Portal's webhook contract; service/README.md,
"Custodian shares kept by the operator"):

  POST <base>/backup        { backupMethod, clientId, share }  -> 200 {}
  POST <base>/backup/fetch  { clientId }  -> 200 { backupShares: [share, ...] }

Every request must carry `X-Webhook-Secret: <secret>` and
`X-Wallet-Backup-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`;
both are checked in constant time, and `t` must be within --max-skew seconds.

Shares are kept in SQLite keyed by the pair id inside `share`, so a new backup
never overwrites the previous one: the previous stays recoverable until the
new one is confirmed. The newest --keep shares per client and method are kept.
The share strings are stored exactly as received and never logged.

Python 3 standard library only:

  python3 examples/operator/operator.py --listen 127.0.0.1:8700 \\
      --secret-file webhook-secret --db operator.sqlite3
"""

import argparse
import hmac
import hashlib
import json
import signal
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The largest custodian share the service sends (its api::MAX_CUSTODIAN_SHARE)
# plus room for the ids and the JSON around them.
MAX_SHARE_CHARS = 1_398_059 + 1024
MAX_BODY = MAX_SHARE_CHARS + 64 * 1024
METHODS = {"PASSWORD", "PASSKEY", "GDRIVE", "ICLOUD", "FIREBASE", "CUSTOM"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS custodian_shares (
    pair_id       TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL,
    backup_method TEXT NOT NULL,
    share         TEXT NOT NULL,
    stored_at     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS custodian_shares_client
    ON custodian_shares (client_id, backup_method, stored_at);
"""


class Refused(Exception):
    """An answer other than 200: status and a short reason (no request data)."""

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Operator:
    """The storage and the checks, apart from HTTP."""

    def __init__(self, db_path, secret, keep, max_skew):
        self.db_path = db_path
        self.secret = secret
        self.keep = keep
        self.max_skew = max_skew
        self.lock = threading.Lock()
        with self.connect() as db:
            db.executescript(SCHEMA)

    def connect(self):
        db = sqlite3.connect(self.db_path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def authenticate(self, headers, body):
        given = (headers.get("X-Webhook-Secret") or "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, self.secret):
            raise Refused(401, "wrong X-Webhook-Secret")
        fields = dict(
            part.strip().split("=", 1)
            for part in (headers.get("X-Wallet-Backup-Signature") or "").split(",")
            if "=" in part
        )
        try:
            t = int(fields.get("t", ""))
        except ValueError:
            raise Refused(401, "no signature timestamp") from None
        if abs(time.time() - t) > self.max_skew:
            raise Refused(401, "signature too old or from the future")
        expected = hmac.new(self.secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(fields.get("v1", "").encode(), expected.encode()):
            raise Refused(401, "bad signature")

    def store(self, request):
        method, client_id, share = (request.get(k) for k in ("backupMethod", "clientId", "share"))
        if method not in METHODS or not isinstance(client_id, str) or not client_id or len(client_id) > 128:
            raise Refused(400, "backupMethod and clientId are needed")
        if not isinstance(share, str) or not share or len(share) > MAX_SHARE_CHARS:
            raise Refused(400, "share must be a string")
        try:
            pair_id = json.loads(share)["pairId"]
        except (ValueError, KeyError, TypeError):
            raise Refused(400, "share names no pairId") from None
        if not isinstance(pair_id, str) or not pair_id or len(pair_id) > 128:
            raise Refused(400, "share names no pairId")
        with self.lock, self.connect() as db:
            # A retried delivery of the same pair replaces its row (same share).
            db.execute(
                "INSERT OR REPLACE INTO custodian_shares VALUES (?, ?, ?, ?, ?)",
                (pair_id, client_id, method, share, time.time()),
            )
            db.execute(
                "DELETE FROM custodian_shares WHERE client_id = ? AND backup_method = ? AND pair_id NOT IN ("
                "SELECT pair_id FROM custodian_shares WHERE client_id = ? AND backup_method = ? "
                "ORDER BY stored_at DESC LIMIT ?)",
                (client_id, method, client_id, method, self.keep),
            )
        return {}

    def fetch(self, request):
        client_id = request.get("clientId")
        if not isinstance(client_id, str) or not client_id:
            raise Refused(400, "clientId is needed")
        with self.connect() as db:
            rows = db.execute(
                "SELECT share FROM custodian_shares WHERE client_id = ? ORDER BY stored_at DESC", (client_id,)
            ).fetchall()
        return {"backupShares": [row[0] for row in rows]}


def handler_for(operator, base):
    routes = {base + "/backup": operator.store, base + "/backup/fetch": operator.fetch}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "wallet-backup-example-operator"

        def do_POST(self):
            try:
                route = routes.get(self.path)
                if route is None:
                    raise Refused(404, "no such route")
                try:
                    length = int(self.headers.get("Content-Length", ""))
                except ValueError:
                    raise Refused(411, "Content-Length is needed") from None
                if length < 0 or length > MAX_BODY:
                    raise Refused(413, "body too large")
                body = self.rfile.read(length)
                operator.authenticate(self.headers, body)
                if self.headers.get_content_type() != "application/json":
                    raise Refused(415, "JSON only")
                try:
                    request = json.loads(body)
                except ValueError:
                    raise Refused(400, "not JSON") from None
                if not isinstance(request, dict):
                    raise Refused(400, "not a JSON object")
                self.answer(200, route(request))
            except Refused as refused:
                self.close_connection = refused.status in (411, 413)
                self.answer(refused.status, {"error": refused.reason})
            except Exception as failure:  # the database, say: a 500, which the service retries
                sys.stderr.write("operator: %s failed: %s\n" % (self.path, type(failure).__name__))
                self.close_connection = True
                self.answer(500, {"error": "internal error"})

        def answer(self, status, value):
            data = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):
            # The request line and status only: never a body or a header.
            sys.stderr.write("operator: %s\n" % (fmt % args))

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:8700", help="host:port (port 0: any free port)")
    parser.add_argument("--secret-file", required=True, help="the shared secret (one trailing newline is ignored)")
    parser.add_argument("--db", default="operator.sqlite3", help="the SQLite file")
    parser.add_argument("--base-path", default="", help="path prefix of the two endpoints, e.g. /custody")
    parser.add_argument("--keep", type=int, default=3, help="shares kept per client and method (newest first)")
    parser.add_argument("--max-skew", type=int, default=300, help="accepted signature age, in seconds")
    args = parser.parse_args()

    with open(args.secret_file, "rb") as f:
        secret = f.read()
    secret = secret[:-1] if secret.endswith(b"\n") else secret
    if len(secret) < 32:
        parser.error("the secret must be at least 32 bytes")
    host, _, port = args.listen.rpartition(":")
    operator = Operator(args.db, secret, max(1, args.keep), args.max_skew)
    server = ThreadingHTTPServer((host.strip("[]"), int(port)), handler_for(operator, args.base_path.rstrip("/")))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    bound_host, bound_port = server.server_address[:2]
    print(f"listening on http://{bound_host}:{bound_port}{args.base_path.rstrip('/')}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
