#!/usr/bin/env python3
"""Smoke test of a Conexor MCP server with the official MCP Python SDK.

It drives the server the way a real assistant's client would, over Streamable
HTTP (with a bearer key) or over stdio (launching `conexor mcp` as a child):

  1. connect (initialize handshake; with --mode auto also the 2026-07-28
     server/discover probe)
  2. tools/list: list_connections, search_schema, describe_table, run_query
  3. list_connections
  4. run_query SELECT COUNT(*) AS n FROM customers  -> positive count
  5. run_query DELETE FROM customers                 -> tool error, "not allowed"
  6. an unknown tool                                 -> error
  7. (HTTP with --key) a wrong bearer key            -> connection refused

Usage:
  PY="$(scripts/python-env.sh)"
  "$PY" tests/python/mcp_client_smoke.py --url http://127.0.0.1:PORT/mcp --key cxk_...
  "$PY" tests/python/mcp_client_smoke.py --stdio target/debug/conexor mcp [ARGS...]

--stdio takes the rest of the command line as the server command. The child
gets this process's full environment (the SDK would otherwise pass only
HOME/PATH/... and drop CONEXOR_* variables).

Prints one "ok"/"FAIL" line per check and a closing "N passed, N failed"
line; exits 0 only if every check passed (1 on a failed check, 2 on usage
errors).

SDK API used (mcp 2.x; checked against mcp 2.3.0):
  mcp.Client(transport_or_params, mode="legacy"|"auto", read_timeout_seconds=...)
  mcp.client.streamable_http.streamable_http_client(url, http_client=httpx2.AsyncClient(headers=...))
  mcp.StdioServerParameters(command=..., args=[...], env={...})
  Client.list_tools(cursor=...), Client.call_tool(name, arguments) -> CallToolResult
  (.content[0].text, .structured_content, .is_error); protocol errors raise mcp.MCPError.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

try:
    import anyio
    import httpx2  # the HTTP client the mcp 2.x SDK is built on (a dependency of mcp)
    from mcp import Client, MCPError, StdioServerParameters
    from mcp.client.streamable_http import streamable_http_client
    from mcp.types import CallToolResult, TextContent
except ImportError as e:  # pragma: no cover - environment problem, not a test failure
    sys.exit(
        f"mcp_client_smoke: cannot import the MCP SDK ({e}).\n"
        "Create the venv with scripts/python-env.sh and run this file with its python."
    )

EXPECTED_TOOLS = ("list_connections", "search_schema", "describe_table", "run_query")
# What a refusal of a write should say. Deliberately loose: the wording is the
# server's, the point is that the refusal is explained to the model.
DEFAULT_DENY_PATTERN = r"not allowed|not permitted|read[- ]only|forbidden|denied|refus|reject|only select"
UNKNOWN_TOOL = "no_such_tool_cx_smoke"


class CheckFailed(Exception):
    pass


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def ok(self, msg: str) -> None:
        self.passed += 1
        print(f"ok - {msg}", flush=True)

    def fail(self, msg: str) -> None:
        self.failed += 1
        print(f"FAIL - {msg}", flush=True)


def result_text(res: CallToolResult) -> str:
    """All text content blocks of a tool result, joined."""
    return "\n".join(c.text for c in res.content if isinstance(c, TextContent))


def result_json(res: CallToolResult) -> Any:
    """The JSON payload of a tool result: content[0].text parsed as JSON.

    structured_content, when the server also sets it, must carry the same
    value (the spec says the text block SHOULD be its serialisation)."""
    if not res.content or not isinstance(res.content[0], TextContent):
        raise CheckFailed(f"expected content[0] to be text, got {[c.type for c in res.content]}")
    text = res.content[0].text
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckFailed(f"content[0].text is not JSON ({e}): {text[:300]!r}") from None
    if res.structured_content is not None and res.structured_content != value:
        raise CheckFailed(
            "structuredContent differs from the JSON in content[0].text: "
            f"{json.dumps(res.structured_content)[:200]} vs {text[:200]}"
        )
    return value


def connection_names(value: Any) -> list[str]:
    """Connection names from a list_connections payload, whatever its exact shape:
    a list of names, a list of objects with "name", or an object wrapping one
    of those (e.g. {"connections": [...]})."""
    names: list[str] = []
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                names.append(item)
            elif isinstance(item, dict) and isinstance(item.get("name"), str):
                names.append(item["name"])
    elif isinstance(value, dict):
        for v in value.values():
            if isinstance(v, list):
                names.extend(connection_names(v))
    return names


def as_int(v: Any) -> int | None:
    """COUNT(*) may arrive as a JSON number or, for 64-bit safety, a string."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()):
        return int(v)
    return None


async def run_checks(client: Client, args: argparse.Namespace, rep: Report) -> None:
    async def check(name: str, fn: Callable[[], Awaitable[str | None]]) -> None:
        try:
            detail = await fn()
            rep.ok(f"{name}{': ' + detail if detail else ''}")
        except CheckFailed as e:
            rep.fail(f"{name}: {e}")
        except MCPError as e:
            rep.fail(f"{name}: MCP error {e.code}: {e.message}")
        except Exception as e:  # noqa: BLE001 - report, keep going with the next check
            rep.fail(f"{name}: {type(e).__name__}: {e}")
            if args.verbose:
                traceback.print_exc()

    info = client.server_info
    rep.ok(
        f"connected: protocol {client.protocol_version}, server "
        f"{info.name if info else '?'} {info.version if info else ''}".rstrip()
    )

    async def tools_list() -> str:
        names: list[str] = []
        cursor: str | None = None
        for _ in range(100):  # bounded: a server that pages forever is a bug too
            page = await client.list_tools(cursor=cursor)
            for tool in page.tools:
                names.append(tool.name)
                schema = tool.input_schema
                if not isinstance(schema, dict) or schema.get("type") != "object":
                    raise CheckFailed(f"tool {tool.name}: inputSchema is not a JSON object schema: {schema!r}")
            cursor = page.next_cursor
            if not cursor:
                break
        missing = [t for t in EXPECTED_TOOLS if t not in names]
        if missing:
            raise CheckFailed(f"missing tools {missing}; server lists {names}")
        return ", ".join(names)

    await check("tools/list", tools_list)

    connection = args.connection

    async def list_connections() -> str:
        nonlocal connection
        res = await client.call_tool("list_connections", {})
        if res.is_error:
            raise CheckFailed(f"isError: {result_text(res)[:300]}")
        names = connection_names(result_json(res))
        if connection is None:
            if not names:
                raise CheckFailed(f"no connection names found in {result_text(res)[:300]!r}; pass --connection")
            connection = names[0]
        elif names and connection not in names:
            raise CheckFailed(f"--connection {connection!r} not among listed connections {names}")
        return f"{names} (using {connection!r})"

    await check("list_connections", list_connections)

    async def count_query() -> str:
        if connection is None:
            raise CheckFailed("no connection to query (list_connections failed and no --connection)")
        res = await client.call_tool(
            "run_query", {"connection": connection, "sql": "SELECT COUNT(*) AS n FROM customers"}
        )
        if res.is_error:
            raise CheckFailed(f"isError: {result_text(res)[:300]}")
        value = result_json(res)
        if not isinstance(value, dict):
            raise CheckFailed(f"expected a JSON object, got {type(value).__name__}")
        columns, rows = value.get("columns"), value.get("rows")
        if not isinstance(columns, list) or not isinstance(rows, list):
            raise CheckFailed(f"expected 'columns' and 'rows' lists: {json.dumps(value)[:300]}")
        col_names = [c.get("name") if isinstance(c, dict) else c for c in columns]
        if "n" not in col_names:
            raise CheckFailed(f"no column 'n' in {col_names}")
        if len(rows) != 1 or not isinstance(rows[0], list):
            raise CheckFailed(f"expected exactly one row (a list), got {json.dumps(rows)[:200]}")
        n = as_int(rows[0][col_names.index("n")])
        if n is None or n <= 0:
            raise CheckFailed(f"expected a positive count, got {rows[0]!r}")
        if "truncated" in value and value["truncated"] is not False:
            raise CheckFailed(f"a one-row result is marked truncated={value['truncated']!r}")
        if args.expect_count is not None and n != args.expect_count:
            raise CheckFailed(f"count {n} != --expect-count {args.expect_count}")
        return f"n = {n}"

    await check("run_query SELECT COUNT(*)", count_query)

    async def delete_refused() -> str:
        if connection is None:
            raise CheckFailed("no connection (list_connections failed and no --connection)")
        try:
            res = await client.call_tool("run_query", {"connection": connection, "sql": "DELETE FROM customers"})
        except MCPError as e:
            # A protocol error hides the reason from the model; the contract is isError.
            raise CheckFailed(f"expected a tool result with isError, got JSON-RPC error {e.code}: {e.message}") from None
        if not res.is_error:
            raise CheckFailed(f"DELETE was not refused (isError false): {result_text(res)[:300]}")
        text = result_text(res)
        if not re.search(args.deny_pattern, text, re.IGNORECASE):
            raise CheckFailed(f"refusal does not say it is not allowed (/{args.deny_pattern}/i): {text[:300]!r}")
        return f"isError: {text[:120]!r}"

    await check("run_query DELETE refused", delete_refused)

    async def unknown_tool() -> str:
        try:
            res = await client.call_tool(UNKNOWN_TOOL, {})
        except MCPError as e:
            return f"JSON-RPC error {e.code}: {e.message[:100]}"
        if res.is_error:
            return f"isError result: {result_text(res)[:100]!r}"
        raise CheckFailed(f"unknown tool succeeded: {result_text(res)[:200]!r}")

    await check("unknown tool rejected", unknown_tool)


def make_http_client(key: str | None, timeout: float) -> httpx2.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else None
    # Same shape as the SDK's own default client (mcp.shared._httpx_utils):
    # a short connect timeout, a long read one for SSE streams.
    return httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(min(timeout, 30.0), read=timeout))


async def session(args: argparse.Namespace, mode: str, rep: Report) -> None:
    """One connection in one negotiation mode, running every check."""
    print(f"# mode {mode} ({'stdio: ' + ' '.join(args.stdio) if args.stdio else 'http: ' + args.url})", flush=True)
    async with AsyncExitStack() as stack:
        if args.stdio:
            params = StdioServerParameters(command=args.stdio[0], args=args.stdio[1:], env=dict(os.environ))
            client = Client(params, mode=mode, read_timeout_seconds=args.timeout)
        else:
            http = await stack.enter_async_context(make_http_client(args.key, args.timeout))
            client = Client(
                streamable_http_client(args.url, http_client=http), mode=mode, read_timeout_seconds=args.timeout
            )
        await stack.enter_async_context(client)
        await run_checks(client, args, rep)


async def wrong_key_refused(args: argparse.Namespace, rep: Report) -> None:
    """A bad bearer key must not get a session."""
    print("# wrong bearer key", flush=True)
    bad = "cxk_wrong_" + "0" * 32
    try:
        with anyio.fail_after(args.timeout):
            async with make_http_client(bad, args.timeout) as http:
                async with Client(streamable_http_client(args.url, http_client=http), mode="legacy") as client:
                    await client.list_tools()
    except TimeoutError:
        rep.fail("wrong bearer key: no answer within the timeout (expected a prompt 401)")
    except BaseException as e:  # noqa: BLE001 - any refusal will do (MCPError, HTTP error, exception group)
        if isinstance(e, KeyboardInterrupt):
            raise
        rep.ok(f"wrong bearer key refused: {describe_exc(e)}")
    else:
        rep.fail("wrong bearer key: connected and listed tools")


def describe_exc(e: BaseException) -> str:
    """Innermost meaningful message of a (possibly grouped) exception."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    if isinstance(e, MCPError):
        return f"MCP error {e.code}: {e.message}"[:160]
    return f"{type(e).__name__}: {e}"[:160]


async def amain(args: argparse.Namespace) -> int:
    rep = Report()
    modes = ["legacy", "auto"] if args.mode == "all" else [args.mode]
    for mode in modes:
        try:
            with anyio.fail_after(args.timeout * 3):
                await session(args, mode, rep)
        except TimeoutError:
            rep.fail(f"mode {mode}: session did not finish within {args.timeout * 3:.0f} s")
        except BaseException as e:  # noqa: BLE001 - connection failures come as exception groups
            if isinstance(e, KeyboardInterrupt):
                raise
            rep.fail(f"mode {mode}: could not connect or session broke: {describe_exc(e)}")
            if args.verbose:
                traceback.print_exc()
    if not args.stdio and args.key and not args.no_auth_check:
        await wrong_key_refused(args, rep)
    print(f"{rep.passed} passed, {rep.failed} failed", flush=True)
    return 0 if rep.failed == 0 and rep.passed > 0 else 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Smoke-test a Conexor MCP server with the official MCP Python SDK.",
        epilog="--stdio must come last: everything after it is the server command.",
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="Streamable HTTP endpoint, e.g. http://127.0.0.1:PORT/mcp")
    target.add_argument(
        "--stdio",
        nargs=argparse.REMAINDER,
        metavar="CMD",
        help="launch CMD [ARGS...] (e.g. target/debug/conexor mcp) and talk to it over stdio",
    )
    p.add_argument(
        "--key",
        default=os.environ.get("CONEXOR_MCP_KEY"),
        help="bearer key cxk_... for --url (default: $CONEXOR_MCP_KEY)",
    )
    p.add_argument("--connection", help="connection name for run_query (default: the first one listed)")
    p.add_argument(
        "--mode",
        choices=["legacy", "auto", "all"],
        default="all",
        help="legacy = initialize handshake; auto = SDK default (server/discover probe, falls back to "
        "initialize); all = both, one after the other (default)",
    )
    p.add_argument("--expect-count", type=int, help="exact COUNT(*) of customers to expect (shop fixture: 200)")
    p.add_argument(
        "--deny-pattern",
        default=DEFAULT_DENY_PATTERN,
        help="regex (case-insensitive) the DELETE refusal must match (default: %(default)s)",
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default: %(default)s)")
    p.add_argument("--no-auth-check", action="store_true", help="skip the wrong-bearer-key check")
    p.add_argument("-v", "--verbose", action="store_true", help="print tracebacks of failures")
    args = p.parse_args(argv)
    if args.stdio is not None and not args.stdio:
        p.error("--stdio needs a command")
    if args.url and not re.match(r"https?://", args.url):
        p.error("--url must be an http(s):// URL")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return anyio.run(amain, args)


if __name__ == "__main__":
    sys.exit(main())
