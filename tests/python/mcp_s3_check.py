#!/usr/bin/env python3
"""Object storage through Conexor with the official MCP Python SDK.

    mcp_s3_check.py --url https://localhost:PORT/mcp --key cxk_... --connection lake [--ca ca.crt]

The connection must point at a store filled by tests/python/s3_fixtures.py.
Checks: the object tools are listed; list_objects pages; read_object returns
a byte range; preview_object reads CSV, gzip JSON Lines and Parquet; a
traversal-shaped key is refused; run_query on the store says to use the
object tools. Exits 0 only when every check passed.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


def result_json(result) -> dict:
    if result.structured_content is not None:
        return result.structured_content
    return json.loads("".join(c.text for c in result.content if getattr(c, "text", None)))


def text_of(result) -> str:
    return "".join(c.text for c in result.content if getattr(c, "text", None))


async def amain(args: argparse.Namespace) -> int:
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(("ok - " if ok else "FAIL - ") + what, flush=True)
        if not ok:
            failures.append(what)

    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=args.ca) if args.ca else True
    headers = {"Authorization": f"Bearer {args.key}"}
    async with httpx2.AsyncClient(headers=headers, verify=verify, timeout=httpx2.Timeout(30.0, read=60.0)) as http:
        async with Client(streamable_http_client(args.url, http_client=http), mode="legacy") as client:
            names = set()
            cursor = None
            while True:
                page = await client.list_tools(cursor=cursor)
                names.update(t.name for t in page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
            wanted = {"list_objects", "object_info", "read_object", "preview_object"}
            check(wanted <= names, f"object tools listed ({sorted(wanted - names) or 'all'})")
            c = args.connection

            page = result_json(await client.call_tool("list_objects", {"connection": c, "bucket": "cx-data", "limit": 2}))
            check(len(page["objects"]) == 2 and page["next_cursor"], "list_objects returns a page and a cursor")
            more = result_json(await client.call_tool(
                "list_objects", {"connection": c, "bucket": "cx-data", "limit": 2, "cursor": page["next_cursor"]}))
            check(more["objects"][0]["key"] != page["objects"][0]["key"], "the cursor gives the next page")

            read = result_json(await client.call_tool(
                "read_object", {"connection": c, "bucket": "cx-data", "key": "sales.csv", "offset": 0, "length": 14}))
            check(read["data"] == "id,name,amount" and read["truncated"], "read_object returns the byte range")

            for key, first in (("sales.csv", ["1", "customer 1", "1.5"]), ("events.jsonl.gz", [1, "click", 0.5]),
                               ("big.parquet", [0, "row 0", 0.0, True, 0])):
                p = result_json(await client.call_tool(
                    "preview_object", {"connection": c, "bucket": "cx-data", "key": key, "rows": 2}))
                check(p["rows"][0] == first and len(p["rows"]) == 2, f"preview_object {key}: {p['rows'][:1]}")

            bad = await client.call_tool("read_object", {"connection": c, "bucket": "cx-data", "key": "../secret"})
            check(bool(bad.is_error) and "SECRET" not in text_of(bad), "a traversal key is refused")
            sql = await client.call_tool("run_query", {"connection": c, "sql": "SELECT 1"})
            check(bool(sql.is_error) and "list_objects" in text_of(sql), "run_query on object storage points to the object tools")
    print(f"{len(failures)} failed", flush=True)
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--connection", required=True)
    parser.add_argument("--ca")
    return anyio.run(amain, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
