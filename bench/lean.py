#!/usr/bin/env python3
"""Token-lean tool lists: what an AI client receives from Conexor and from
DBHub for the same 100+-table PostgreSQL database, with the official MCP
Python SDK.

For each server: the bytes of tools/list (the JSON the client puts in the
model's context, as the SDK serialises it), and a scripted "typical
question" -- "which 5 countries have the most paid orders?" -- done the way
each server's tools allow, counting calls and the bytes they return.

Usage: lean.py --conexor URL KEY --dbhub URL [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

QUESTION_SQL = (
    "SELECT c.country, count(*) AS paid_orders FROM orders o JOIN customers c ON c.id = o.customer_id "
    "WHERE o.status = 'paid' GROUP BY c.country ORDER BY paid_orders DESC LIMIT 5"
)


def tools_bytes(tools) -> int:
    return len(json.dumps([t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in tools], separators=(",", ":")))


def text(res) -> str:
    return "".join(getattr(c, "text", "") for c in res.content)


async def session(url: str, key: str | None, steps):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    http = httpx2.AsyncClient(headers=headers, timeout=60)
    async with Client(streamable_http_client(url, http_client=http)) as client:
        listed = await client.list_tools()
        calls = []
        for name, args in steps(listed.tools):
            res = await client.call_tool(name, args)
            calls.append({"tool": name, "bytes": len(text(res)), "error": bool(res.is_error)})
        answer = text(await client.call_tool(*steps.final(listed.tools)))
        return listed.tools, calls, answer


class ConexorSteps:
    """search the schema, read the two tables, then one query."""

    def __call__(self, tools):
        return [
            ("search_schema", {"pattern": "order", "connection": "shop"}),
            ("describe_table", {"connection": "shop", "table": "orders"}),
            ("describe_table", {"connection": "shop", "table": "customers"}),
        ]

    def final(self, tools):
        return ("run_query", {"connection": "shop", "sql": QUESTION_SQL})


class DbhubSteps:
    """DBHub's own discovery tool when it offers one, else information_schema through execute_sql."""

    def __call__(self, tools):
        names = {t.name for t in tools}
        if "search_objects" in names:
            return [
                ("search_objects", {"object_type": "table", "pattern": "%order%"}),
                ("search_objects", {"object_type": "column", "schema": "public", "table": "orders", "detail_level": "summary"}),
                ("search_objects", {"object_type": "column", "schema": "public", "table": "customers", "detail_level": "summary"}),
            ]
        return [
            ("execute_sql", {"sql": "SELECT table_schema, table_name FROM information_schema.tables WHERE table_name LIKE '%order%'"}),
            ("execute_sql", {"sql": "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'orders'"}),
            ("execute_sql", {"sql": "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'customers'"}),
        ]

    def final(self, tools):
        return ("execute_sql", {"sql": QUESTION_SQL})


async def main(a) -> int:
    rows = []
    for label, url, key, steps in (
        ("Conexor", a.conexor[0], a.conexor[1], ConexorSteps()),
        ("DBHub", a.dbhub, None, DbhubSteps()),
    ):
        tools, calls, answer = await session(url, key, steps)
        rows.append((label, tools, calls, answer))
    out = []
    out.append("| server | tools listed | tools/list bytes | calls for the question | bytes returned by discovery calls | discovery errors |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, tools, calls, answer in rows:
        out.append(
            f"| {label} | {len(tools)} ({', '.join(t.name for t in tools)}) | {tools_bytes(tools)} | {len(calls) + 1} | "
            f"{sum(c['bytes'] for c in calls)} | {sum(c['error'] for c in calls)} |"
        )
    out.append("")
    for label, _, calls, answer in rows:
        out.append(f"- {label}: " + "; ".join(f"{c['tool']} {c['bytes']} B" + (" (error)" if c["error"] else "") for c in calls) + f"; answer {len(answer)} B.")
    text_out = "\n".join(out) + "\n"
    print(text_out)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text_out)
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--conexor", nargs=2, metavar=("URL", "KEY"), required=True)
    p.add_argument("--dbhub", required=True)
    p.add_argument("--out")
    sys.exit(anyio.run(main, p.parse_args()))
