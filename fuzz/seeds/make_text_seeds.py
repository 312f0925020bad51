#!/usr/bin/env python3
"""Writes the initial seed inputs of the text targets into fuzz/corpus/<target>/
from the project's own test inputs (guard corpora, format-v1 vectors, the
protocol's and tools' examples). Run once before the first fuzzing; the
committed corpora were grown from these and minimised (fuzz/README.md).
The audit_verify seeds come from tests/seeds.rs (real signed exports)."""
import hashlib, json, os, re, sys

FUZZ = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(FUZZ)

def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(FUZZ, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)

def entries(path):
    text = open(path, encoding="utf-8").read()
    for chunk in re.split(r"(?m)^-- next$", text):
        chunk = chunk.strip()
        lines = [l for l in chunk.splitlines() if l.strip()]
        if not lines or all(l.lstrip().startswith("--") for l in lines):
            continue
        yield chunk

# guard: first byte = dialect (0 pg, 1 mysql, 2 sqlite, 3 sqlserver) | 4 (policy) | 8+16*n (n params)
data = os.path.join(ROOT, "crates/conexor-guard/tests/data")
for i, dialect in enumerate(["postgresql", "mysql", "sqlite", "sqlserver"]):
    for kind in ["attacks", "legit"]:
        for e in entries(os.path.join(data, f"{kind}-{dialect}.sql")):
            put("guard", bytes([i]) + e.encode())
            if kind == "legit":
                put("guard", bytes([i | 4]) + e.encode())
put("guard", b"\x04SELECT my_func(a), reporting.total(b) FROM t WHERE x = $1")
put("guard", b"\x19SELECT a FROM t WHERE x = ? AND y = ?")

# keys_envelopes: first byte = parser (0 api key, 1 envelope json, 2 ids,
# 3 audit public key, 4 agent seed/challenge, 5 seal-open bytes)
v = json.load(open(os.path.join(ROOT, "tests/data/format-v1-vectors.json")))
def walk(x):
    if isinstance(x, dict):
        if set(x) >= {"v", "alg", "nonce", "ct"}:
            yield ("env", json.dumps(x, separators=(",", ":")))
        for k, y in x.items():
            if isinstance(y, str) and k in ("text", "api_key_text"):
                yield ("key", y)
            if isinstance(y, str) and k in ("workspace_id", "secret_id", "key_id"):
                yield ("id", y)
            yield from walk(y)
    elif isinstance(x, list):
        for y in x:
            yield from walk(y)
for kind, s in walk(v):
    put("keys_envelopes", bytes([{"key": 0, "env": 1, "id": 2}[kind]]) + s.encode())
av = json.load(open(os.path.join(ROOT, "crates/conexor-audit/tests/data/audit-vector.json")))
put("keys_envelopes", b"\x03" + av["checkpoint"]["pubkey"].encode())
put("keys_envelopes", b"\x04AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA")
put("keys_envelopes", b"\x04ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ\nnonce\nenrol\n" + av["checkpoint"]["sig"].encode())
put("keys_envelopes", b"\x05" + bytes(range(12)) + b'{"host":"db","password":"x"}')

# agent_frames: one frame per line of the protocol's documented shapes.
frames = [
    {"type": "challenge", "nonce": "bm9uY2U"},
    {"type": "welcome", "agent_id": "ag_1", "workspace_id": "ws_0123456789abcdef", "accepted": ["wh"], "rejected": [{"name": "x", "reason": "dup"}]},
    {"type": "refused", "code": "bad_token", "reason": "expired"},
    {"type": "request", "id": 7, "connection": "wh", "op": {"kind": "query", "sql": "SELECT 1", "params": [1, "a", None, True, 1.5], "max_rows": 10, "max_bytes": 100, "timeout_ms": 1000}},
    {"type": "request", "id": 8, "connection": "wh", "op": {"kind": "test"}},
    {"type": "request", "id": 9, "connection": "wh", "op": {"kind": "discover"}},
    {"type": "cancel", "id": 7},
    {"type": "ping", "seq": 1},
    {"type": "pong", "seq": 1},
    {"type": "enrol", "version": 1, "token": "cxa_" + "a" * 43, "public_key": "ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ", "signature": "sig", "name": "edge", "offers": [{"name": "wh", "kind": "postgresql"}]},
    {"type": "hello", "version": 1, "agent_id": "ag_1", "workspace_id": "ws_0123456789abcdef", "signature": "sig", "offers": [{"name": "wh", "kind": "sqlite"}]},
    {"type": "schema", "connection": "wh", "schema": {"tables": []}},
    {"type": "rows", "id": 7, "columns": [{"name": "a", "type": "int4"}], "rows": [[1, "x", None]]},
    {"type": "done", "id": 7, "row_count": 1, "truncated": False, "bytes": 10, "elapsed_ms": 3},
    {"type": "error", "id": 7, "code": "guard.denied_function", "message": "no"},
]
for f in frames:
    put("agent_frames", json.dumps(f))
# The protocol crate's own examples (string literals that look like frames).
src = open(os.path.join(ROOT, "crates/conexor-protocol/src/messages.rs"), encoding="utf-8").read()
for m in re.finditer(r'r#"(\{.*?\})"#', src, re.S):
    put("agent_frames", m.group(1))
for m in re.finditer(r'json!\((\{"type".*?\})\)', src):
    put("agent_frames", m.group(1))

# tools_file: the tools crate's test files and the README examples.
for path in ["crates/conexor-tools/src/tests.rs", "README.md"] + [
    os.path.join("docs", p) for p in os.listdir(os.path.join(ROOT, "docs"))
]:
    try:
        text = open(os.path.join(ROOT, path), encoding="utf-8").read()
    except (IsADirectoryError, UnicodeDecodeError):
        continue
    for m in re.finditer(r'r#"(\s*(?:#[^\n]*\n\s*)*\[\[tools\]\].*?)"#', text, re.S):
        put("tools_file", m.group(1))
    for m in re.finditer(r"```toml\n(.*?)```", text, re.S):
        if "[[tools" in m.group(1):
            put("tools_file", m.group(1))

# mcp_call: tools/call bodies (and a few other methods) as clients send them.
calls = [
    {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "run_query", "arguments": {"connection": "shop", "sql": "SELECT 1", "params": [1], "limit": 5}}},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "orders", "arguments": {"country": "FR", "status": "open", "limit": 3, "x": 2.5, "paid": True, "day": "2026-01-31", "at": "2026-01-31T10:00:00Z"}}},
    {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "shop_orders", "arguments": {"columns": ["id", "name", "we\"ird"], "where": {"total": {"gt": 10}, "name": {"like": "a%"}, "id": {"in": [1, 2, 3]}, "paid": {"eq": True}, "created": {"gte": "2026-01-01"}}, "order_by": [{"column": "id", "desc": True}], "limit": 10}}},
    {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "shop_orders", "arguments": {"where": {"back`tick": {"lt": 5}, "Mixed Case": {"lte": "2026-01-01"}}, "order_by": "name"}}},
    {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "x", "arguments": [1, 2]}},
    {"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": 5}},
    {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {"cursor": "p1.100"}},
    {"jsonrpc": "2.0", "id": 8, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "search_schema", "arguments": {"connection": "shop", "query": "order"}, "_meta": {"progressToken": 1}}},
]
for c in calls:
    put("mcp_call", json.dumps(c))
put("mcp_call", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_query","arguments":{"sql":"SELECT 1","limit":1e400}}}')
print("seeds:", {t: len(os.listdir(os.path.join(FUZZ, "corpus", t))) for t in os.listdir(os.path.join(FUZZ, "corpus"))})

# More tools files: ordinary string literals holding [[tools]] in the tests.
for path in ["crates/conexor-tools/src/tests.rs", "tests/it/tools.rs", "crates/conexor/src/tools_cmds.rs"]:
    text = open(os.path.join(ROOT, path), encoding="utf-8").read()
    for m in re.finditer(r'"((?:[^"\\]|\\.)*\[\[tools\]\](?:[^"\\]|\\.)*)"', text):
        try:
            s = json.loads('"' + m.group(1) + '"')
        except json.JSONDecodeError:
            continue
        put("tools_file", s.replace("{FILE}", ""))
    for m in re.finditer(r'r#"(.*?)"#', text, re.S):
        if "[[tools" in m.group(1):
            put("tools_file", m.group(1))
print("tools_file seeds:", len(os.listdir(os.path.join(FUZZ, "corpus", "tools_file"))))
