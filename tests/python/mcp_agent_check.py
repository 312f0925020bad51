#!/usr/bin/env python3
"""Drives an agent-mode connection through the official MCP Python SDK.

Checks, over Streamable HTTP with a bearer key: list_connections shows the
connection with mode "agent"; search_schema finds its tables; describe_table
reads one; run_query answers a parameterised SELECT; a DELETE is refused.

Usage: mcp_agent_check.py --url http://HOST:PORT/mcp --key cxk_… --connection NAME
Exits 0 only when every check passed.
"""

from __future__ import annotations

import argparse
import json
import sys

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


def text(res) -> str:
    return "".join(getattr(c, "text", "") for c in res.content)


async def main(url: str, key: str, name: str) -> int:
    failures = 0

    def check(ok: bool, what: str, detail: str = "") -> None:
        nonlocal failures
        print(("ok   " if ok else "FAIL ") + what + ("" if ok else f": {detail[:400]}"))
        failures += 0 if ok else 1

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    async with Client(streamable_http_client(url, http_client=http)) as client:
        res = await client.call_tool("list_connections", {})
        listed = json.loads(text(res)).get("connections", [])
        mine = [c for c in listed if c.get("name") == name]
        check(bool(mine) and mine[0].get("mode") == "agent", "list_connections shows the agent connection", text(res))
        res = await client.call_tool("search_schema", {"pattern": "cust", "connection": name})
        check("customers" in text(res), "search_schema finds its tables", text(res))
        res = await client.call_tool("describe_table", {"connection": name, "table": "customers"})
        check(not res.is_error and "email" in text(res), "describe_table reads a table", text(res))
        res = await client.call_tool(
            "run_query",
            {"connection": name, "sql": "SELECT count(*) AS n FROM customers WHERE id <= $1", "params": [10]},
        )
        body = json.loads(text(res)) if not res.is_error else {}
        check(body.get("rows") == [[10]], "run_query answers through the agent", text(res))
        res = await client.call_tool("run_query", {"connection": name, "sql": "DELETE FROM customers"})
        check(res.is_error and "allowed" in text(res), "a DELETE is refused", text(res))
    print(f"{5 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--connection", required=True)
    a = p.parse_args()
    sys.exit(anyio.run(main, a.url, a.key, a.connection))
