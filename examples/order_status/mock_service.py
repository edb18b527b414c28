"""A small order-status API for the example (standard library only).

    python mock_service.py --port 8090        # token: $ORDER_API_TOKEN, default demo-token

GET /health                 -> 200 {"ok": true}
GET /orders/{id}            -> 200 {"order": {...}}, 404 for an unknown order,
                               401 without "Authorization: Bearer <token>"
"""

from __future__ import annotations

import argparse
import json
import os
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ORDERS = {
    "A1001": {"id": "A1001", "status": "shipped", "carrier": "La Poste", "eta": "Tuesday"},
    "A1002": {"id": "A1002", "status": "being prepared", "carrier": None, "eta": "Friday"},
    "A1003": {"id": "A1003", "status": "delivered", "carrier": "Chronopost", "eta": None},
}


class Handler(BaseHTTPRequestHandler):
    token = "demo-token"

    def do_GET(self) -> None:
        if self.path == "/health":
            return self._json(200, {"ok": True})
        m = re.fullmatch(r"/orders/([A-Za-z0-9_-]+)", self.path.split("?")[0])
        if m is None:
            return self._json(404, {"message": "no such route"})
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            return self._json(401, {"message": "missing or wrong token"})
        order = ORDERS.get(m.group(1).upper())
        if order is None:
            return self._json(404, {"message": f"no order {m.group(1)}"})
        return self._json(200, {"order": order})

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # one line per request
        print(f"{self.command} {self.path.split('?')[0]} -> {args[1]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8090")))
    args = parser.parse_args()
    Handler.token = os.environ.get("ORDER_API_TOKEN", "demo-token")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"order service on http://127.0.0.1:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
