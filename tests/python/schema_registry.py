#!/usr/bin/env python3
"""A schema registry with Confluent's REST API, for the Kafka tests
(standard library only; no real one runs here without Java and Kafka).

    schema_registry.py PORT

    POST /subjects/{subject}/versions   {"schema": "...", "schemaType": "AVRO"|"JSON"} -> {"id": N}
    GET  /schemas/ids/{id}              -> {"schema": "...", ["schemaType": "JSON"]}
    GET  /subjects                      -> ["payments-value", ...]

Schemas are kept in memory, one id per distinct (type, text).
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
SCHEMAS: dict[int, dict] = {}
SUBJECTS: dict[str, list[int]] = {}
MEDIA = "application/vnd.schemaregistry.v1+json"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status: int, value) -> None:
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", MEDIA)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        parts = self.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "subjects" or parts[2] != "versions":
            self.answer(404, {"error_code": 404, "message": "not found"})
            return
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        entry = {"schema": body["schema"], "schemaType": body.get("schemaType", "AVRO")}
        with LOCK:
            found = [i for i, s in SCHEMAS.items() if s == entry]
            sid = found[0] if found else len(SCHEMAS) + 1
            SCHEMAS[sid] = entry
            SUBJECTS.setdefault(parts[1], [])
            if sid not in SUBJECTS[parts[1]]:
                SUBJECTS[parts[1]].append(sid)
        self.answer(200, {"id": sid})

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if parts == ["subjects"]:
            with LOCK:
                self.answer(200, sorted(SUBJECTS))
            return
        if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
            with LOCK:
                entry = SCHEMAS.get(int(parts[2]))
            if entry is None:
                self.answer(404, {"error_code": 40403, "message": "Schema not found"})
                return
            out = {"schema": entry["schema"]}
            if entry["schemaType"] != "AVRO":
                out["schemaType"] = entry["schemaType"]
            self.answer(200, out)
            return
        self.answer(404, {"error_code": 404, "message": "not found"})


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
