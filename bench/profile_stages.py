"""Turns callgrind_annotate's listings into the stage table of bench/profile.sh.

Inclusive costs follow the poll nesting of async code, so a stage is the
largest inclusive cost among the functions that make it (the outermost one);
work handed to another task or thread (the guard's parsing threads, the audit
writer task) is counted where it runs. Self costs are grouped by crate, with C
code by library.
"""
import re
import sys
from collections import defaultdict

LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*?)(?:\s+\[(.*)\])?\s*$")

# (stage, what it covers, regular expressions over the function name)
STAGES = [
    ("HTTP connection task (hyper, axum, middleware)", "request and response framing, authentication, the stateless path's parse and encode (the call itself runs in its own task)",
     [r"^hyper::proto::h1::dispatch::Dispatcher<.*>::poll_catch"]),
    ("key check", "salted SHA-256 of the presented secret, constant-time compare",
     [r"^conexor_crypto::key::verify_auth"]),
    ("rmcp request handling", "only for calls the stateless path leaves to rmcp (0 here)",
     [r"StreamableHttpService<.*>::handle_post"]),
    ("stateless tools/call and all below", "the call's own task: gateway, audit wait, result encoding",
     [r"^conexor_server::stateless::tools_call"]),
    ("gateway dispatch and all below", "connection lookup, guard, source read (not the audit)",
     [r"^conexor_server::gateway::Gateway::dispatch"]),
    ("connection record lookup", "store (or its in-memory cache)",
     [r"^conexor_server::gateway::Gateway::connection"]),
    ("guard: check (caller side)", "hand-off to a parsing thread and back",
     [r"^conexor_guard::check_with_params", r"^conexor_guard::check_with_policy"]),
    ("guard: parse and walk (parsing threads)", "sqlparser and the walker",
     [r"^conexor_guard::Job::run"]),
    ("source_sql (cap and row-size wrapping)", "the SQL text sent, built from the AST",
     [r"^conexor_guard::CheckedQuery::source_sql"]),
    ("query hash", "SHA-256 of the statement sent",
     [r"^conexor_connectors::query_hash"]),
    ("PostgreSQL read", "catalog admit, session checkout, the statement (one round trip), rows",
     [r"^conexor_connectors::Source::read"]),
    ("audit: writer task", "chain append (JCS, SHA-256), the SQLite commit",
     [r"^conexor_server::audit::Writer::run"]),
    ("audit: record hash", "JCS of the record and its SHA-256",
     [r"^conexor_audit::record::record_hash"]),
    ("SQLite (C), all callers", "audit commits, store reads",
     [r"^sqlite3_step$"]),
]

# The agent's share of an agent-mode call (bench/profile.sh --agent-side).
AGENT_STAGES = [
    ("session loop: read a frame, decode, dispatch", "tungstenite read, JSON decode of the request, spawning its task",
     [r"^conexor_agent::session::run"]),
    ("request task and all below", "guard, read, audit wait, reply encoding",
     [r"^conexor_agent::serve::handle"]),
    ("guard: check (caller side)", "hand-off to a parsing thread and back",
     [r"^conexor_guard::check_with_policy"]),
    ("guard: parse and walk (parsing threads)", "sqlparser and the walker",
     [r"^conexor_guard::Job::run"]),
    ("source_sql and query hash", "the SQL text sent and its SHA-256",
     [r"^conexor_guard::CheckedQuery::source_sql", r"^conexor_connectors::query_hash"]),
    ("PostgreSQL read", "session checkout, the statement (one round trip), rows",
     [r"^conexor_connectors::Source::read"]),
    ("audit: wait for the group (request side)", "queueing the record, the blocking hand-off",
     [r"^conexor_agent::audit_log::AuditSink::record"]),
    ("audit: group write (blocking thread)", "JCS, SHA-256 chain, checkpoint signature, file write",
     [r"^conexor_agent::audit_log::AuditSink::write_waiting"]),
    ("audit: Ed25519 signatures", "checkpoint signing",
     [r"^ed25519_dalek::signing::.*sign"]),
    ("reply: rows and done", "encoding the rows and done messages, queueing them",
     [r"^conexor_agent::serve::send_rows"]),
    ("socket writes (tungstenite)", "framing, masking, the write",
     [r"^tungstenite::protocol::WebSocketContext::write", r"^tungstenite::protocol::WebSocketContext::flush"]),
]


def parse(path):
    total = None
    rows = []
    for line in open(path, encoding="utf-8", errors="replace"):
        m = LINE.match(line)
        if not m:
            continue
        count = int(m.group(1).replace(",", ""))
        where = m.group(2)
        if where == "PROGRAM TOTALS":
            total = count
            continue
        function = where.split(":", 1)[1] if ":" in where else where
        rows.append((count, function, m.group(3) or ""))
    return total, rows


def crate_of(function, obj):
    name = function.lstrip("<&*").replace("dyn ", "")
    if "::" in name:
        return name.split("::", 1)[0]
    if name.startswith("sqlite3") or "sqlite" in obj:
        return "SQLite (C)"
    if "aws_lc" in name or "aws-lc" in obj:
        return "aws-lc (C)"
    if "libc" in obj or "ld-linux" in obj:
        return "libc (malloc, memcpy, …)"
    if "vgpreload" in obj:
        return "libc (malloc, memcpy, …)"
    return "other C (" + (obj.rsplit("/", 1)[-1] or "?") + ")"


def main():
    inclusive, self_cost, calls, command, binary = sys.argv[1:6]
    side = sys.argv[6] if len(sys.argv) > 6 else "server"
    stages = AGENT_STAGES if side == "agent" else STAGES
    calls = int(calls)
    total, inc_rows = parse(inclusive)
    _, self_rows = parse(self_cost)
    if not total:
        sys.exit("no totals in the callgrind listing")
    print(f"### Instructions per small call, by stage (callgrind, the {side})")
    print()
    print(f"- Command: `{command}`; binary `{binary}`")
    print(f"- {calls} sequential stateless `run_query` calls over one keep-alive connection, after a warm-up;")
    print(f"  user-space instructions of the {side} process only (kernel work is not counted).")
    print(f"- **{total / calls:,.0f} instructions per call** ({total:,} in all).")
    print()
    print("| stage | instructions per call | share | covers |")
    print("| --- | ---: | ---: | --- |")
    for stage, covers, patterns in stages:
        best = 0
        for count, function, _ in inc_rows:
            if any(re.search(p, function) for p in patterns):
                best = max(best, count)
        print(f"| {stage} | {best / calls:,.0f} | {100 * best / total:.1f} % | {covers} |")
    by_crate = defaultdict(int)
    for count, function, obj in self_rows:
        by_crate[crate_of(function, obj)] += count
    print()
    print("Self cost by crate (where the instructions are executed), top 15:")
    print()
    print("| crate | instructions per call | share |")
    print("| --- | ---: | ---: |")
    for crate, count in sorted(by_crate.items(), key=lambda kv: -kv[1])[:15]:
        print(f"| {crate} | {count / calls:,.0f} | {100 * count / total:.1f} % |")


main()
