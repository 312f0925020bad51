#!/usr/bin/env python3
"""Client side of bench/growth.sh: MCP calls against a running `conexor server`,
timed from outside. Every subcommand prints one JSON object on stdout.

  growth.py schema   URL KEY CONN --pattern P ... [--repeat N]
  growth.py tools    URL KEY --call NAME
  growth.py auth     URL --keys FILE [--sample N] [--rounds N]
  growth.py firstcall URL --keys FILE --workspaces WS,... --conn NAME
  growth.py sessions URL --keys FILE --sessions N --pid PID

Stateless requests (schema, tools, auth, firstcall) are plain 2026-07-28 POSTs
on one keep-alive connection (http.client), as bench/http.sh sends them, so the
figures are the server's and not an SDK's. `sessions` uses the official MCP
Python SDK: N stateful sessions (initialize, then the SDK's standalone stream).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import time
import urllib.parse

META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "conexor-growth", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


class Rpc:
    """One keep-alive HTTP connection sending stateless MCP requests."""

    def __init__(self, url: str):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = u.hostname, u.port, u.path or "/mcp"
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def call(self, key: str, method: str, params: dict | None = None, name: str | None = None):
        """Returns (seconds, body bytes, result or error object)."""
        params = dict(params or {})
        params["_meta"] = META
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2026-07-28",
            "Mcp-Method": method,
        }
        if name:
            headers["Mcp-Name"] = name
        started = time.perf_counter()
        self.conn.request("POST", self.path, body=body, headers=headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        elapsed = time.perf_counter() - started
        if resp.status != 200:
            raise SystemExit(f"{method}: HTTP {resp.status}: {raw[:300]!r}")
        text = raw.decode()
        if resp.getheader("Content-Type", "").startswith("text/event-stream"):
            data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
            text = next(d for d in data if d)
        msg = json.loads(text)
        if "error" in msg:
            raise SystemExit(f"{method}: {msg['error']}")
        return elapsed, len(raw), msg["result"]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def tool(rpc: Rpc, key: str, name: str, args: dict):
    t, n, result = rpc.call(key, "tools/call", {"name": name, "arguments": args}, name)
    if result.get("isError"):
        raise SystemExit(f"{name}: {result}")
    return t, n, result


def list_all(rpc: Rpc, key: str, method: str, field: str):
    """Every page of a paginated list: pages, items, bytes, seconds per page."""
    cursor, pages, items, total_bytes, times = None, 0, 0, 0, []
    while True:
        t, n, result = rpc.call(key, method, {"cursor": cursor} if cursor else {})
        pages += 1
        items += len(result[field])
        total_bytes += n
        times.append(t)
        cursor = result.get("nextCursor")
        if not cursor:
            break
    return {
        "pages": pages,
        "items": items,
        "bytes": total_bytes,
        "total_ms": ms(sum(times)),
        "first_page_ms": ms(times[0]),
        "page_p50_ms": ms(statistics.median(times)),
        "last_page_ms": ms(times[-1]),
    }


def cmd_schema(a):
    rpc = Rpc(a.url)
    out = {"search": [], "resources": None, "describe": None}
    for pattern in a.pattern:
        times, size, result = [], 0, None
        for _ in range(a.repeat):
            t, size, result = tool(rpc, a.key, "search_schema", {"pattern": pattern, "connection": a.conn})
            times.append(t)
        answer = result.get("structuredContent") or json.loads(result["content"][0]["text"])
        out["search"].append({
            "pattern": pattern,
            "p50_ms": ms(statistics.median(times)),
            "min_ms": ms(min(times)),
            "bytes": size,
            "matches_shown": len(answer["matches"]),
            "total": answer["total"],
        })
    times = []
    for _ in range(a.repeat):
        t, size, _ = tool(rpc, a.key, "describe_table", {"connection": a.conn, "table": a.describe})
        times.append(t)
    out["describe"] = {"table": a.describe, "p50_ms": ms(statistics.median(times)), "bytes": size}
    out["resources"] = list_all(rpc, a.key, "resources/list", "resources")
    print(json.dumps(out))


def cmd_tools(a):
    rpc = Rpc(a.url)
    runs = [list_all(rpc, a.key, "tools/list", "tools") for _ in range(a.repeat)]
    best = min(runs, key=lambda r: r["total_ms"])
    if a.call != "-":
        times = []
        for i in range(a.repeat):
            t, size, _ = tool(rpc, a.key, a.call, {"id": 1 + i})
            times.append(t)
        best["call"] = {"name": a.call, "p50_ms": ms(statistics.median(times)), "bytes": size}
    print(json.dumps(best))


def read_keys(path: str):
    keys = []
    with open(path) as f:
        for line in f:
            ws, scope, key = line.split()
            keys.append((ws, scope, key))
    return keys


def cmd_auth(a):
    """A cheap authenticated call (stateless tools/list: bearer check, one
    store lookup of the key, the workspace's tools) with many different keys."""
    keys = read_keys(a.keys)
    random.seed(7)
    sample = random.sample(keys, min(a.sample, len(keys)))
    rpc = Rpc(a.url)
    first = [rpc.call(k, "tools/list")[0] for _, _, k in sample]
    warm = []
    for _ in range(a.rounds):
        warm += [rpc.call(k, "tools/list")[0] for _, _, k in sample]
    one = sample[0][2]
    same = [rpc.call(one, "tools/list")[0] for _ in range(len(sample) * a.rounds)]
    print(json.dumps({
        "keys_in_file": len(keys),
        "sampled_keys": len(sample),
        "first_p50_ms": ms(statistics.median(first)),
        "warm_p50_ms": ms(statistics.median(warm)),
        "warm_p99_ms": ms(sorted(warm)[int(len(warm) * 0.99) - 1]),
        "one_key_p50_ms": ms(statistics.median(same)),
    }))


def cmd_firstcall(a):
    """run_query with keys of the given workspaces: a key's first call derives
    its KEK (PBKDF2) on the server; later calls use the cached master key."""
    keys = [k for k in read_keys(a.keys) if k[0] in a.workspaces.split(",")]
    rpc = Rpc(a.url)
    args = {"connection": a.conn, "sql": "SELECT id, email FROM customers WHERE id = $1", "params": [42]}
    first_pool, first, warm = [], [], []
    seen = set()
    for ws, _, key in keys:
        t = tool(rpc, key, "run_query", args)[0]
        (first if ws in seen else first_pool).append(t)
        seen.add(ws)
    for _ in range(a.rounds):
        for _, _, key in keys:
            warm.append(tool(rpc, key, "run_query", args)[0])
    print(json.dumps({
        "keys": len(keys),
        "first_call_new_pool_p50_ms": ms(statistics.median(first_pool)),
        "first_call_p50_ms": ms(statistics.median(first)) if first else None,
        "warm_p50_ms": ms(statistics.median(warm)),
    }))


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def cmd_sessions(a):
    import anyio
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    keys = [k for _, _, k in read_keys(a.keys)]
    per_key = -(-a.sessions // len(keys))
    result = {"sessions": a.sessions, "keys": len(keys), "sessions_per_key": per_key,
              "rss_before_mib": rss_mib(a.pid), "threads_before": threads(a.pid)}

    async def main():
        opened = anyio.Event()
        release = anyio.Event()
        clients = []
        count = [0]
        open_times = []
        errors = []
        started = time.perf_counter()
        server_cpu, client_cpu = cpu_s(a.pid), time.process_time()
        limiter = anyio.CapacityLimiter(a.parallel)

        async def one(i):
            key = keys[i % len(keys)]
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=120,
                                      limits=httpx2.Limits(max_connections=4, max_keepalive_connections=4))
            try:
                async with limiter:
                    t0 = time.perf_counter()
                    cm = Client(streamable_http_client(a.url, http_client=http))
                    client = await cm.__aenter__()
                    open_times.append(time.perf_counter() - t0)
                clients.append(client)
                count[0] += 1
                if count[0] == a.sessions:
                    opened.set()
                await release.wait()
                await cm.__aexit__(None, None, None)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e)[:200])
                count[0] += 1
                if count[0] == a.sessions:
                    opened.set()

        async with anyio.create_task_group() as tg:
            for i in range(a.sessions):
                tg.start_soon(one, i)
            with anyio.fail_after(600):
                await opened.wait()
            result["open_all_s"] = round(time.perf_counter() - started, 2)
            result["open_server_cpu_s"] = round(cpu_s(a.pid) - server_cpu, 2)
            result["open_client_cpu_s"] = round(time.process_time() - client_cpu, 2)
            result["open_p50_ms"] = ms(statistics.median(open_times)) if open_times else None
            result["open_max_ms"] = ms(max(open_times)) if open_times else None
            result["errors"] = len(errors)
            result["first_errors"] = errors[:3]
            await anyio.sleep(1)
            result["rss_open_mib"] = rss_mib(a.pid)
            result["threads_open"] = threads(a.pid)
            # A small call on sessions spread over all of them, one at a time.
            lat = []
            step = max(1, len(clients) // 50)
            for c in clients[::step]:
                t0 = time.perf_counter()
                await c.call_tool("list_connections", {})
                lat.append(time.perf_counter() - t0)
            result["call_p50_ms"] = ms(statistics.median(lat))
            result["call_max_ms"] = ms(max(lat))
            result["calls"] = len(lat)
            # The same call on one session when all of them are open, repeated.
            lat = []
            for _ in range(50):
                t0 = time.perf_counter()
                await clients[0].call_tool("list_connections", {})
                lat.append(time.perf_counter() - t0)
            result["one_session_call_p50_ms"] = ms(statistics.median(lat))
            result["rss_after_calls_mib"] = rss_mib(a.pid)
            t0 = time.perf_counter()
            release.set()
        result["close_all_s"] = round(time.perf_counter() - t0, 2)
        await anyio.sleep(1)
        result["rss_closed_mib"] = rss_mib(a.pid)

    anyio.run(main)
    print(json.dumps(result))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("schema")
    s.add_argument("url"), s.add_argument("key"), s.add_argument("conn")
    s.add_argument("--pattern", action="append", required=True)
    s.add_argument("--describe", required=True)
    s.add_argument("--repeat", type=int, default=5)
    s = sub.add_parser("tools")
    s.add_argument("url"), s.add_argument("key")
    s.add_argument("--call", required=True)
    s.add_argument("--repeat", type=int, default=5)
    s = sub.add_parser("auth")
    s.add_argument("url")
    s.add_argument("--keys", required=True)
    s.add_argument("--sample", type=int, default=500)
    s.add_argument("--rounds", type=int, default=3)
    s = sub.add_parser("firstcall")
    s.add_argument("url")
    s.add_argument("--keys", required=True)
    s.add_argument("--workspaces", required=True)
    s.add_argument("--conn", required=True)
    s.add_argument("--rounds", type=int, default=5)
    s = sub.add_parser("sessions")
    s.add_argument("url")
    s.add_argument("--keys", required=True)
    s.add_argument("--sessions", type=int, default=500)
    s.add_argument("--parallel", type=int, default=50)
    s.add_argument("--pid", type=int, required=True)
    a = p.parse_args()
    {"schema": cmd_schema, "tools": cmd_tools, "auth": cmd_auth, "firstcall": cmd_firstcall,
     "sessions": cmd_sessions}[a.cmd](a)


if __name__ == "__main__":
    main()
