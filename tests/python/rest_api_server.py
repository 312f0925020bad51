#!/usr/bin/env python3
"""A real HTTP API for the REST connector's tests (standard library only).

    rest_api_server.py PORT OTHER_PORT LOG

Serves, on 127.0.0.1:PORT, one small shop API under four base paths that
differ only in the auth they demand:

    /open/api/v1      none
    /bearer/api/v1    Authorization: Bearer cx-rest-token-0123456789
    /key/api/v1       X-API-Key: cx-rest-key-0123456789 (or ?api_key=…)
    /basic/api/v1     Basic auth reader:cx-rest-pass-0123456789

and its OpenAPI 3.0 description at GET /openapi.json?base=<base path>
(`servers` names that base). Endpoints:

    GET  /items?limit&page&state     paginated list (Link header, next_page)
    GET  /items/{id}                 one item; id echoed as received (raw path)
    GET  /echo                       echoes the query and X-Request-Tag header
    GET  /same-origin-redirect       302 to ./items?limit=2 (same origin)
    GET  /redirect-away              302 to http://127.0.0.1:OTHER_PORT/steal
    GET  /huge                       50 MB of JSON, streamed
    GET  /slow                       never answers (sleeps 600 s)
    GET  /broken                     application/json that is not JSON
    GET  /report.bin                 application/octet-stream, 4 KB
    POST/PUT/DELETE /items[/{id}]    exist in the description; must never be called

Anything under /github/ answers {"path": …, "query": …} (GitHub's
description, its base URL rewritten here). OTHER_PORT is another origin: it
logs what it receives (the tests check that no token ever reached it).

Every request on both ports is appended to LOG as one JSON line:
{"port", "method", "path", "headers"}; the tests read it.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN = "cx-rest-token-0123456789"
KEY = "cx-rest-key-0123456789"
BASIC = ("reader", "cx-rest-pass-0123456789")
ITEMS = [
    {"id": i, "name": f"item {i}", "state": "open" if i % 3 else "closed", "price": i * 1.25}
    for i in range(1, 48)
]
LOCK = threading.Lock()


def description(base: str) -> dict:
    item = {"$ref": "#/components/schemas/Item"}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Conexor test shop", "version": "1.2.0"},
        "servers": [{"url": base}],
        "paths": {
            "/items": {
                "get": {
                    "operationId": "listItems",
                    "summary": "List items, a page at a time",
                    "tags": ["items"],
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}},
                        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                        {"name": "state", "in": "query", "schema": {"type": "string", "enum": ["open", "closed"]}},
                    ],
                    "responses": {"200": {"description": "items", "content": {"application/json": {"schema": {"type": "object", "properties": {"items": {"type": "array", "items": item}}}}}}},
                },
                "post": {"operationId": "createItem", "summary": "Create an item", "responses": {"201": {"description": "created"}}},
            },
            "/items/{id}": {
                "get": {
                    "operationId": "getItem",
                    "summary": "One item by id",
                    "tags": ["items"],
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "the item", "content": {"application/json": {"schema": item}}}},
                },
                "put": {"operationId": "replaceItem", "responses": {"200": {"description": "ok"}}},
                "delete": {"operationId": "deleteItem", "responses": {"204": {"description": "gone"}}},
                "head": {"operationId": "itemExists", "summary": "Whether an item exists",
                         "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                         "responses": {"200": {"description": "yes"}}},
            },
            "/echo": {"get": {
                "operationId": "echo",
                "summary": "Echo the query and a header",
                "parameters": [
                    {"name": "q", "in": "query", "schema": {"type": "string"}},
                    {"name": "X-Request-Tag", "in": "header", "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "echo"}},
            }},
            "/same-origin-redirect": {"get": {"operationId": "sameOriginRedirect", "responses": {"302": {"description": "moved"}}}},
            "/redirect-away": {"get": {"operationId": "redirectAway", "responses": {"302": {"description": "moved"}}}},
            "/huge": {"get": {"operationId": "huge", "summary": "50 MB of JSON", "responses": {"200": {"description": "big"}}}},
            "/slow": {"get": {"operationId": "slow", "summary": "Never answers", "responses": {"200": {"description": "never"}}}},
            "/broken": {"get": {"operationId": "broken", "summary": "Invalid JSON", "responses": {"200": {"description": "bad"}}}},
            "/report.bin": {"get": {"operationId": "report", "summary": "A binary report", "responses": {"200": {"description": "bytes"}}}},
        },
        "components": {"schemas": {"Item": {"type": "object", "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"},
            "state": {"type": "string"}, "price": {"type": "number"},
            "parent": {"$ref": "#/components/schemas/Item"},
        }}}},
    }


def make_handler(port: int, other_port: int, log_path: str):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def record(self):
            line = json.dumps({
                "port": port,
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            })
            with LOCK, open(log_path, "a", encoding="utf-8") as log:
                log.write(line + "\n")

        def send_json(self, status: int, value, extra=None):
            body = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def authorised(self, scheme: str, query: dict) -> bool:
            auth = self.headers.get("authorization", "")
            if scheme == "open":
                return True
            if scheme == "bearer":
                return auth == f"Bearer {TOKEN}"
            if scheme == "key":
                return self.headers.get("x-api-key") == KEY or query.get("api_key") == [KEY]
            if scheme == "basic":
                want = base64.b64encode(f"{BASIC[0]}:{BASIC[1]}".encode()).decode()
                return auth == f"Basic {want}"
            return False

        def handle_any(self):
            self.record()
            if port == other_port:
                self.send_json(200, {"stolen": True})
                return
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if url.path == "/openapi.json":
                self.send_json(200, description(query.get("base", ["/open/api/v1"])[0]))
                return
            if url.path.startswith("/github/"):
                self.send_json(200, {"path": url.path, "query": url.query})
                return
            parts = url.path.split("/", 4)  # ['', scheme, 'api', 'v1', rest]
            if len(parts) < 5 or parts[2:4] != ["api", "v1"]:
                self.send_json(404, {"message": "Not Found"})
                return
            scheme, rest = parts[1], "/" + parts[4]
            if not self.authorised(scheme, query):
                self.send_json(401, {"message": "Bad credentials"})
                return
            if self.command not in ("GET", "HEAD"):
                self.send_json(405, {"message": "written!"})
                return
            base = f"/{scheme}/api/v1"
            if rest == "/items":
                limit = int(query.get("limit", ["10"])[0])
                page = int(query.get("page", ["1"])[0])
                rows = [i for i in ITEMS if query.get("state", [i["state"]])[0] == i["state"]]
                chunk = rows[(page - 1) * limit: page * limit]
                more = page * limit < len(rows)
                extra = {"link": f'<{base}/items?page={page + 1}&limit={limit}>; rel="next"'} if more else {}
                self.send_json(200, {"items": chunk, "page": page, "next_page": page + 1 if more else None}, extra)
            elif rest.startswith("/items/"):
                raw = rest[len("/items/"):]
                found = [i for i in ITEMS if str(i["id"]) == raw]
                if found:
                    self.send_json(200, found[0])
                else:
                    self.send_json(404, {"message": "no such item", "id_received": raw})
            elif rest == "/echo":
                self.send_json(200, {"query": url.query, "tag": self.headers.get("x-request-tag")})
            elif rest == "/same-origin-redirect":
                self.send_response(302)
                self.send_header("location", f"{base}/items?limit=2")
                self.send_header("content-length", "0")
                self.end_headers()
            elif rest == "/redirect-away":
                self.send_response(302)
                self.send_header("location", f"http://127.0.0.1:{other_port}/steal")
                self.send_header("content-length", "0")
                self.end_headers()
            elif rest == "/huge":
                size = 50 * 1024 * 1024
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(size))
                self.end_headers()
                piece = b'"' + b"x" * 1022 + b'",'
                try:
                    self.wfile.write(b"[")
                    sent = 1
                    while sent < size - 1024:
                        self.wfile.write(piece)
                        sent += len(piece)
                    self.wfile.write(b'"' + b"x" * (size - sent - 3) + b'"]')
                except (BrokenPipeError, ConnectionResetError):
                    pass
            elif rest == "/slow":
                time.sleep(600)
            elif rest == "/broken":
                body = b'{"items": [1, 2,'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif rest == "/report.bin":
                body = bytes(range(256)) * 16
                self.send_response(200)
                self.send_header("content-type", "application/octet-stream")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_json(404, {"message": "Not Found"})

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any

    return Handler


def main() -> None:
    port, other_port, log_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    servers = [
        ThreadingHTTPServer(("127.0.0.1", p), make_handler(p, other_port, log_path))
        for p in (port, other_port)
    ]
    for s in servers:
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
