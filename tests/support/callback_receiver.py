#!/usr/bin/env python3
"""A receiver of completion callbacks for the integration tests, independent of hookrun's C
code: it checks each request's Standard Webhooks signature with Python's own hmac, hashlib
and base64 (https://www.standardwebhooks.com), answers with the statuses it is told to, one
per request in order (the last one repeats), and writes one JSON line per request to LOG.

    callback_receiver.py LOG SECRET_FILE STATUSES      # STATUSES e.g. "503,503,204"

It listens on 127.0.0.1 on a free port and prints "listening port=N" once it does. It stops on
SIGTERM."""

import base64
import hashlib
import hmac
import http.server
import json
import signal
import sys
import time


def verify(secret, headers, body):
    """Whether the webhook-signature header holds a v1 signature of id.timestamp.body."""
    key = base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)
    msg_id = headers.get("webhook-id", "")
    ts = headers.get("webhook-timestamp", "")
    signed = f"{msg_id}.{ts}.".encode() + body
    want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    fresh = ts.isdigit() and abs(time.time() - int(ts)) < 300
    sigs = headers.get("webhook-signature", "").split()
    return fresh and any(s.startswith("v1,") and hmac.compare_digest(s[3:], want) for s in sigs)


def main():
    log_path, secret_path, statuses = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    with open(secret_path, encoding="ascii") as f:
        secret = f.read().strip()
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = int(statuses[min(len(seen), len(statuses) - 1)])
            seen.append(status)
            record = {
                "n": len(seen),
                "answered": status,
                "path": self.path,
                "webhook_id": self.headers.get("webhook-id"),
                "content_type": self.headers.get("Content-Type"),
                "verified": verify(secret, self.headers, body),
                "body": body.decode("utf-8", "replace"),
            }
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, fmt, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening port={server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
