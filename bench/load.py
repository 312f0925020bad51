#!/usr/bin/env python3
"""Load and fault client for bench/load.sh (issue 10, "Load and faults").

Subcommands (bench/load.sh runs them; each prints JSON on stdout):

  mix     N sessions of the official MCP Python SDK (Streamable HTTP, the
          initialize handshake, so each holds an Mcp-Session-Id) for D
          seconds, closed loop, each call one of:
            small    run_query  SELECT $1::bigint AS n, id, email FROM customers WHERE id = $2
            large    run_query  SELECT $1::bigint AS n, id, bucket, payload FROM big WHERE id > $2 ORDER BY id  (limit 1000)
            schema   search_schema / describe_table
            refused  run_query  DELETE … WHERE id = $1  or  SELECT pg_sleep($1)  (must be refused)
          Every run_query carries a unique $1 (n) so that its audit record can
          be found. A session whose transport fails (server killed, session
          unknown after a restart) closes its client and opens a new one.
          --window LABEL,AT,SCRIPT,RESTORE_AT,RESTORE_SCRIPT (repeatable) runs
          those scripts during the load and notes when they ended; errors
          from the fault's start until --grace seconds after the restore ended
          are counted as expected, every other error as unexpected.
  audit   compare an audit export (JSON Lines) with the answered calls of
          one or more mix runs: every answered run_query's n has its record,
          and the counts by tool and outcome.
  slow    K raw HTTP connections each send one tools/call with a large answer
          and never read it, while a mix runs beside them; the server's RSS is
          sampled every second.
  report  the Markdown section from the JSON of each scenario.

A mix's clock starts when every session is open (the ramp-up); it also
records its own event-loop lag, since under 200 SDK sessions this process,
not the server, is what runs out of CPU first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import re
import resource
import socket
import statistics
import sys
import time
from collections import Counter, defaultdict

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

CALL_TIMEOUT = 20.0


def text_of(res) -> str:
    return "".join(getattr(c, "text", "") for c in res.content)


def pct(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))]


def err_class(msg: str) -> str:
    """A short, stable label for an error text (numbers and ids removed)."""
    msg = re.sub(r"0x[0-9a-f]+|\b[0-9a-f]{8,}\b|\d+", "#", msg)
    return msg.strip().replace("\n", " ")[:110]


class Mix:
    def __init__(self, a):
        self.a = a
        self.url = a.url
        self.keys = a.keys.split(",")
        self.conn = a.connection
        self.calls = []  # (session, kind, tool, n, t0, t1, status, detail)
        self.t_start = 0.0
        self.stop_at = 0.0
        self.events = {}
        self.reconnects = Counter()
        self.phase = {}  # session -> (what it is doing, since when)
        self.opens = []  # (session, started, ended, ok)
        self.died = Counter()
        self.opened_once = set()
        self.ramp_s = None
        self.connect_failures = Counter()
        self.windows = []
        for w in a.window or []:
            label, fa, fc, ra, rc = w.split(",")
            self.windows.append((label, float(fa), fc, float(ra) if ra else None, rc or None))
        self.weights = [("small", a.w_small), ("large", a.w_large), ("schema", a.w_schema), ("refused", a.w_refused)]

    def now(self):
        return time.monotonic() - self.t_start

    def pick(self, rnd):
        total = sum(w for _, w in self.weights)
        x = rnd.uniform(0, total)
        for k, w in self.weights:
            x -= w
            if x <= 0:
                return k
        return self.weights[-1][0]

    def request(self, kind, n, rnd):
        c = self.conn
        if kind == "small":
            return "run_query", {"connection": c, "sql": "SELECT $1::bigint AS n, id, email FROM customers WHERE id = $2",
                                 "params": [n, 1 + n % 200]}
        if kind == "large":
            return "run_query", {"connection": c, "limit": self.a.large_rows,
                                 "sql": f"SELECT $1::bigint AS n, id, bucket, payload FROM {self.a.big_table} WHERE id > $2 ORDER BY id",
                                 "params": [n, rnd.randrange(0, self.a.big_offset_max)]}
        if kind == "schema":
            if rnd.random() < 0.5:
                return "search_schema", {"pattern": rnd.choice(["cust", "order", "prod%", "big"]), "connection": c}
            return "describe_table", {"connection": c, "table": rnd.choice(["customers", "orders", "products"])}
        if rnd.random() < 0.5:
            return "run_query", {"connection": c, "sql": "DELETE FROM customers WHERE id = $1", "params": [n]}
        return "run_query", {"connection": c, "sql": "SELECT pg_sleep($1)", "params": [n]}

    def judge(self, kind, n, res):
        """'ok' or 'refused' when the answer is what this kind must get, else ('bad', text)."""
        body = text_of(res)
        if kind == "refused":
            if res.is_error and ("not allowed" in body or "only" in body or "refused" in body):
                return "refused", None
            return "bad", "refused query was not refused: " + body[:200]
        if res.is_error:
            return "bad", body[:300]
        if kind == "small":
            rows = json.loads(body).get("rows")
            return ("ok", None) if rows and rows[0][0] == n else ("bad", "wrong rows: " + body[:200])
        if kind == "large":
            d = json.loads(body)
            rows = d.get("rows") or []
            if len(rows) == self.a.large_rows and rows[0][0] == n:
                return "ok", None
            return "bad", f"large answer: {len(rows)} rows: " + body[:200]
        return ("ok", None) if any(t in body for t in ("customers", "orders", "products", "big")) else ("bad", body[:200])

    async def session(self, sid):
        self.alive = getattr(self, "alive", 0) + 1
        try:
            await self._session(sid)
        except BaseException as e:
            self.died[f"{type(e).__name__}: {_first(e)}"[:120]] += 1
            raise
        finally:
            self.alive -= 1

    async def _session(self, sid):
        rnd = random.Random(self.a.seed * 100003 + sid)
        key = self.keys[sid % len(self.keys)]
        seq = 0
        delay = 0.2
        while self.now() < self.stop_at:
            state = {"opened": False, "failed_call": False}
            self.phase[sid] = ("opening", self.now())
            t_open = self.now()
            try:
                async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=CALL_TIMEOUT) as http:
                    async with Client(streamable_http_client(self.url, http_client=http), mode=self.a.mode) as client:
                        state["opened"] = True
                        self.opened_once.add(sid)
                        self.opens.append((sid, t_open, self.now(), True))
                        delay = 0.2
                        self.phase[sid] = ("open", self.now())
                        while self.now() < self.stop_at:
                            seq += 1
                            n = self.a.id_base + sid * 1_000_000 + seq
                            kind = self.pick(rnd)
                            tool, args = self.request(kind, n, rnd)
                            rid = n if tool == "run_query" else None
                            t0 = self.now()
                            self.phase[sid] = ("calling", t0)
                            try:
                                with anyio.fail_after(CALL_TIMEOUT):
                                    res = await client.call_tool(tool, args)
                            except BaseException as e:  # noqa: BLE001 - any failure is data here
                                # A call cancelled because the transport's task group
                                # failed (the server went away) is an error too.
                                self.calls.append((sid, kind, tool, rid, t0, self.now(), "error",
                                                   f"{type(e).__name__}: {e}"))
                                state["failed_call"] = True
                                self.phase[sid] = ("closing", self.now())
                                if isinstance(e, Exception):
                                    break
                                raise
                            self.phase[sid] = ("open", self.now())
                            status, detail = self.judge(kind, n, res)
                            self.calls.append((sid, kind, tool, rid, t0, self.now(), status, detail))
                            if self.a.think_ms:
                                await anyio.sleep(rnd.uniform(0, 2 * self.a.think_ms) / 1000)
            except Exception as e:  # noqa: BLE001 - closing a broken session may fail too
                if not state["opened"]:
                    self.opens.append((sid, t_open, self.now(), False))
                    self.connect_failures[err_class(f"{type(e).__name__}: {_first(e)}")] += 1
            if self.now() < self.stop_at:
                self.reconnects[sid] += 1
                if not state["opened"]:
                    self.phase[sid] = ("backoff", self.now())
                    await anyio.sleep(delay)
                    delay = min(delay * 2, 2.0)

    async def window(self, w):
        label, fault_at, fault_cmd, restore_at, restore_cmd = w
        ev = self.events.setdefault(label, {})
        await anyio.sleep(max(0.0, self.ramp_s + fault_at - self.now()))
        # The times are taken by the shell around the script: this event loop
        # may be busy for seconds under 200 sessions.
        w0, w1 = await run_script(fault_cmd)
        ev["fault_start"], ev["fault_end"] = w0 - self.t_start_wall, w1 - self.t_start_wall
        ev["fault_start_wall"] = w0
        if restore_cmd:
            await anyio.sleep(max(0.0, self.ramp_s + restore_at - self.now()))
            w0, w1 = await run_script(restore_cmd)
            ev["restore_start"], ev["restore_end"] = w0 - self.t_start_wall, w1 - self.t_start_wall
            ev["restore_start_wall"], ev["restore_end_wall"] = w0, w1
            # What the sessions are doing in the seconds after the restore.
            ev["phases"] = []
            for _ in range(12):
                ev["phases"].append(dict(Counter(ph for ph, since in self.phase.values())))
                await anyio.sleep(1.0)

    async def lag_monitor(self):
        """How late this event loop wakes up from a 100 ms sleep: when it is busy,
        every time the client measures is late by that much."""
        self.lags = []
        while self.now() < self.stop_at:
            t = self.now()
            await anyio.sleep(0.1)
            if self.ramp_s is None:
                continue
            self.lags.append((t, self.now() - t - 0.1))

    async def ramp(self, tg):
        while len(self.opened_once) < self.a.sessions and self.now() < self.a.ramp_timeout:
            await anyio.sleep(0.2)
        self.ramp_s = self.now()
        self.stop_at = self.ramp_s + self.a.duration
        for w in self.windows:
            tg.start_soon(self.window, w)
        tg.start_soon(self.snapshot)

    async def snapshot(self):
        """What each session was doing when the run's time was up, and since when."""
        await anyio.sleep(max(0.0, self.stop_at - self.now()))
        t = self.now()
        self.alive_at_end = self.alive
        self.at_end = Counter(f"{ph} for >5 s" if t - since > 5 else ph for ph, since in self.phase.values())

    async def run(self):
        self.t_start = time.monotonic()
        self.t_start_wall = time.time()
        # Until every session is open (the ramp-up), the run has no end; then it
        # lasts --duration, and the faults are timed from there.
        self.stop_at = float("inf")
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.lag_monitor)
            tg.start_soon(self.ramp, tg)
            for sid in range(self.a.sessions):
                tg.start_soon(self.session, sid)
                # The opening handshakes in batches of 25. (One sleep per session
                # would take far longer than it says once this loop is busy: each
                # sleep waits for a turn of the loop.)
                if sid % 25 == 24:
                    await anyio.sleep(0.1)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        self.wall = self.now()
        self.client_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
        return self.summary()

    def summary(self):
        a = self.a
        spans = []  # (label, fault start, restore end) of each window
        for label, ev in self.events.items():
            f0 = ev.get("fault_start")
            f1 = ev.get("restore_end", ev.get("fault_end"))
            if f0 is not None and f1 is not None:
                spans.append((label, f0, f1))
        answered = Counter()
        errors = Counter()
        unexpected = Counter()
        expected = Counter()
        lat = defaultdict(list)
        answered_n = []
        answered_by_tool = Counter()
        for sid, kind, tool, n, t0, t1, status, detail in self.calls:
            if status in ("ok", "refused"):
                answered[kind] += 1
                answered_by_tool[f"{tool}/{'denied' if status == 'refused' else 'ok'}"] += 1
                lat[kind].append(t1 - t0)
                if n is not None:
                    answered_n.append(n)
                continue
            if status == "bad":
                # An answer, but not the one expected (a tool error): it has a record too.
                answered_by_tool[f"{tool}/error"] += 1
                if n is not None:
                    answered_n.append(n)
            cls = err_class(detail or "")
            if any(t1 >= f0 and t1 <= f1 + a.grace for _, f0, f1 in spans):
                expected[f"{kind}: {cls}"] += 1
            else:
                unexpected[f"{kind}: {cls}"] += 1
            errors[kind] += 1
        windows = {}
        spans.sort(key=lambda x: x[1])
        for i, (label, f0, f1) in enumerate(spans):
            nxt = spans[i + 1][1] if i + 1 < len(spans) else float("inf")
            w = {"fault_at_s": round(f0, 2), "restored_at_s": round(f1, 2)}
            ev = self.events[label]
            w["fault_start_wall"] = ev.get("fault_start_wall")
            w["session_phases_after_restore"] = ev.get("phases")
            w["restore_end_wall"] = ev.get("restore_end_wall")
            if "restore_start" in ev:
                w["restore_took_s"] = round(ev["restore_end"] - ev["restore_start"], 2)
            # Calls that ended between the fault and the restore's end, by result.
            during = Counter("answered" if st in ("ok", "refused") else st
                             for sid, kind, tool, n, t0, t1, st, d in self.calls if f0 <= t1 <= f1)
            w["calls_during_fault"] = dict(during)
            w["error_kinds"] = dict(Counter(err_class(d or "") for sid, kind, tool, n, t0, t1, st, d in self.calls
                                            if st != "ok" and st != "refused" and f0 <= t1 <= f1 + a.grace).most_common(6))
            ok_after = sorted((t1, sid) for sid, kind, tool, n, t0, t1, st, d in self.calls
                              if st in ("ok", "refused") and f1 <= t0 < nxt)
            if ok_after:
                w["first_answer_after_restore_s"] = round(ok_after[0][0] - f1, 3)
                seen = {}
                for t, sid in ok_after:
                    seen.setdefault(sid, t)
                w["sessions_answered_again"] = len(seen)
                w["all_sessions_answered_again_s"] = round(max(seen.values()) - f1, 3)
            # The client's side of the recovery, second by second after the restore:
            # sessions opened (initialize answered), calls sent, calls answered.
            w["client_loop_lag_max_s_after_restore"] = [
                round(max([l for t, l in self.lags if f1 + i <= t < f1 + i + 1] or [0]), 2) for i in range(15)]
            w["client_per_s_after_restore"] = {
                "opened": [sum(1 for x in self.opens if x[3] and f1 + i <= x[2] < f1 + i + 1) for i in range(15)],
                "open_failed": [sum(1 for x in self.opens if not x[3] and f1 + i <= x[2] < f1 + i + 1) for i in range(15)],
                "sent": [sum(1 for c in self.calls if f1 + i <= c[4] < f1 + i + 1) for i in range(15)],
                "answered": [sum(1 for c in self.calls if c[6] in ("ok", "refused") and f1 + i <= c[5] < f1 + i + 1)
                             for i in range(15)],
            }
            errs_after = [t1 for sid, kind, tool, n, t0, t1, st, d in self.calls if st not in ("ok", "refused") and f1 <= t1 < nxt]
            w["last_error_after_restore_s"] = round(max(errs_after) - f1, 3) if errs_after else None
            windows[label] = w
        if a.probe_log:
            probe_windows(a.probe_log, self.events, windows)
        if a.agent_log:
            agent_windows(a.agent_log, self.events, self.t_start_wall, windows, spans)
        all_lat = [x for v in lat.values() for x in v]
        steady = [t1 - t0 for sid, kind, tool, n, t0, t1, st, d in self.calls
                  if st in ("ok", "refused") and t0 >= (self.ramp_s or 0) and not any(t1 >= f0 - 1 and t0 <= f1 + a.grace for _, f0, f1 in spans)]
        total_answered = sum(answered.values())
        return {
            "sessions": a.sessions,
            "keys": len(self.keys),
            "duration_s": round(self.wall, 1),
            "mode": a.mode,
            "answered": dict(answered),
            "answered_total": total_answered,
            "answered_per_s": round(total_answered / max(self.wall, 1e-9), 1),
            "answered_by_tool": dict(sorted(answered_by_tool.items())),
            "errors": dict(errors),
            "unexpected_errors": dict(unexpected.most_common(20)),
            "unexpected_total": sum(unexpected.values()),
            "expected_fault_errors": dict(expected.most_common(20)),
            "expected_total": sum(expected.values()),
            "latency_ms": {k: {"p50": ms(pct(v, 50)), "p99": ms(pct(v, 99)), "n": len(v)} for k, v in sorted(lat.items())},
            "latency_all_ms": {"p50": ms(pct(all_lat, 50)), "p99": ms(pct(all_lat, 99))},
            "latency_steady_ms": {"p50": ms(pct(steady, 50)), "p99": ms(pct(steady, 99)), "n": len(steady)},
            "reconnects": sum(self.reconnects.values()),
            "sessions_reconnected": len(self.reconnects),
            "connect_failures": dict(self.connect_failures.most_common(10)),
            "windows": windows,
            "client_loop_lag_s": {"p50": round(pct([l for t, l in getattr(self, "lags", [])], 50) or 0, 3),
                                  "max": round(max([l for t, l in getattr(self, "lags", [])] or [0]), 3)},
            "sessions_at_end": dict(getattr(self, "at_end", {})),
            "sessions_alive_at_end": getattr(self, "alive_at_end", None),
            "sessions_tracked": len(self.phase),
            "ramp_up_s": None if self.ramp_s is None else round(self.ramp_s, 1),
            "sessions_open_after_ramp": len(self.opened_once),
            "session_tasks_died": dict(self.died),
            "client_cpu_s_per_s": round(self.client_cpu / max(self.wall, 1e-9), 2),
            "answered_n": answered_n,
        }


def probe_windows(path, events, windows):
    """The probe (bench/load.sh: one curl every 0.2 s, a stateless run_query with
    its own key, outside this process) sees the server without this client's
    event loop in the way."""
    rows = []
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 4:
                    rows.append((float(p[0]), p[1], float(p[2]), p[3] == "1"))
    except OSError:
        return
    for label, ev in events.items():
        if label not in windows or "restore_end_wall" not in ev:
            continue
        f0, r = ev["fault_start_wall"], ev["restore_end_wall"]
        ok_after = [t + lat for t, code, lat, ok in rows if ok and t >= r]
        after = [(t, lat, ok) for t, code, lat, ok in rows if r <= t < r + 30]
        w = windows[label]
        w["probe_first_ok_after_restore_s"] = round(ok_after[0] - r, 3) if ok_after else None
        w["probe_failed_after_restore"] = sum(1 for t, lat, ok in after if not ok)
        lats = [lat for t, lat, ok in after if ok]
        w["probe_latency_after_restore_ms"] = {"p50": ms(pct(lats, 50)), "max": ms(max(lats)) if lats else None,
                                               "n": len(lats)}
        steady = [lat for t, code, lat, ok in rows if ok and t < f0]
        w["probe_latency_before_fault_ms"] = {"p50": ms(pct(steady, 50)), "max": ms(max(steady)) if steady else None}


def parse_ts(text):
    from datetime import datetime
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def agent_windows(path, events, t0_wall, windows, spans):
    """From the agent's log: each reconnection attempt's delay, and when it
    connected again after each window's restore; the bound the documented
    backoff gives is the sleep in progress when the restore happened."""
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    lines = []
    try:
        with open(path, errors="replace") as f:
            for raw in f:
                line = ansi.sub("", raw)
                m = re.match(r"(\S+Z)\s", line)
                if not m:
                    continue
                t = parse_ts(m.group(1)) - t0_wall
                if "Reconnecting" in line:
                    d = re.search(r"delay_ms=(\d+)", line)
                    at = re.search(r"attempt=(\d+)", line)
                    lines.append((t, "retry", int(d.group(1)) if d else None, int(at.group(1)) if at else None))
                elif "Connected" in line:
                    lines.append((t, "connected", None, None))
    except OSError:
        return
    for label, ev in events.items():
        if label not in windows or "restore_end" not in ev:
            continue
        w = windows[label]
        f0, r = ev["fault_start"], ev["restore_end"]
        nxt = min([x[1] for x in spans if x[1] > f0] + [float("inf")])
        retries = [(round(t, 2), d, at) for t, k, d, at in lines if k == "retry" and f0 - 1 <= t < min(r + 60, nxt)]
        w["agent_retries"] = [{"at_s": t, "attempt": at, "delay_ms": d} for t, d, at in retries]
        # The sleep in progress at the restore: it ends at t + delay.
        pending = [t + d / 1000 for t, k, d, at in lines if k == "retry" and f0 - 1 <= t <= r and d is not None]
        if pending:
            w["backoff_sleep_left_at_restore_s"] = round(max(0.0, max(pending) - r), 3)
            w["backoff_delay_at_restore_ms"] = [d for t, k, d, at in lines if k == "retry" and f0 - 1 <= t <= r][-1]
        conn = [t for t, k, d, at in lines if k == "connected" and r - 0.5 <= t < nxt]
        if conn:
            w["agent_connected_after_restore_s"] = round(conn[0] - r, 3)


def _first(e):
    """The first leaf of an exception group, else the exception."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return f"{type(e).__name__}: {e}"


def ms(x):
    return None if x is None else round(x * 1000, 1)


async def run_script(path):
    """Runs a fault or restore script; returns the wall times, taken by the shell,
    at which it started and ended."""
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", 'date +%s.%N; bash "$1" >&2; date +%s.%N', "run_script", path,
        stdout=asyncio.subprocess.PIPE, stderr=sys.stderr)
    out, _ = await proc.communicate()
    w0, w1 = (float(x) for x in out.split())
    return w0, w1


# --------------------------------------------------------------------------
# audit: compare an export with the answered calls.
# --------------------------------------------------------------------------

TOOLS = {"list_connections", "search_schema", "describe_table", "run_query"}


def audit_cmd(a):
    records = []
    with open(a.export) as f:
        for line in f:
            o = json.loads(line)
            if "record" in o:
                records.append(o["record"])
    by = Counter()
    ns = set()
    dup = 0
    server_ms = defaultdict(list)
    probe = [r for r in records if r.get("user") == "probe"]
    records = [r for r in records if r.get("user") != "probe"]
    for r in records:
        if r["tool"] in TOOLS:
            server_ms["refused" if r["outcome"] == "denied" else r["tool"]].append(r["duration_ms"])
        if r["tool"] not in TOOLS:
            by[(r["tool"], r["outcome"])] += 1
            continue
        by[(r["tool"], r["outcome"])] += 1
        p = r.get("params")
        if r["tool"] == "run_query" and isinstance(p, dict) and isinstance(p.get("params"), list) and p["params"]:
            n = p["params"][0]
            if isinstance(n, int):
                if n in ns:
                    dup += 1
                ns.add(n)
    answered_n = []
    answered_tools = Counter()
    for path in a.runs:
        with open(path) as f:
            s = json.load(f)
        answered_n += s["answered_n"]
        for k, v in s["answered_by_tool"].items():
            answered_tools[k] += v
    missing = [n for n in answered_n if n not in ns]
    # Server-side view of each fault, from the records' own timestamps: the last
    # tool call recorded before the fault, and the first one answered after the restore.
    recs = [(parse_ts(r["ts"]), r) for r in records]
    server_windows = {}
    for path in a.runs:
        with open(path) as f:
            s = json.load(f)
        for label, w in s.get("windows", {}).items():
            f0, r1 = w.get("fault_start_wall"), w.get("restore_end_wall")
            if f0 is None or r1 is None:
                continue
            before = [t for t, r in recs if t <= f0 and r["tool"] in TOOLS]
            after_ok = [t for t, r in recs if t >= r1 and r["tool"] in TOOLS and r["outcome"] == "ok"]
            sw = {}
            if before:
                sw["last_record_before_fault_s"] = round(before[-1] - f0, 3)
            if after_ok:
                sw["first_ok_record_after_restore_s"] = round(after_ok[0] - r1, 3)
                # How many tool calls the server answered in each second after the restore.
                sw["ok_records_per_s_after_restore"] = [
                    sum(1 for t, r in recs if r1 + i <= t < r1 + i + 1 and r["tool"] in TOOLS and r["outcome"] == "ok")
                    for i in range(10)]
            server_windows[label] = sw
    tool_records = sum(c for (t, o), c in by.items() if t in TOOLS)
    out = {
        "records_total": len(records),
        "tool_records": tool_records,
        "answered_calls": sum(answered_tools.values()),
        "records_by_tool": {f"{t}/{o}": c for (t, o), c in sorted(by.items())},
        "answered_by_tool": dict(sorted(answered_tools.items())),
        "answered_run_query_with_id": len(answered_n),
        "answered_without_record": len(missing),
        "missing_examples": missing[:10],
        "duplicate_ids_in_records": dup,
        "server_windows": server_windows,
        "probe_records": len(probe),
        "admin_start_records": by.get(("admin.start", "ok"), 0),
        # The gateway's own wall time per call (the record's duration_ms): the
        # key's concurrency wait, guard and source; not HTTP or the audit commit.
        "server_ms": {k: {"p50": pct(v, 50), "p99": pct(v, 99), "max": max(v)} for k, v in sorted(server_ms.items())},
    }
    print(json.dumps(out))


# --------------------------------------------------------------------------
# slow: clients that never read their large answers, beside a mix.
# --------------------------------------------------------------------------


def rss_kib(pid_file):
    try:
        pid = open(pid_file).read().strip()
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def slow_request(host, port, key, conn, rows, sql, i):
    body = json.dumps({
        "jsonrpc": "2.0", "id": i, "method": "tools/call",
        "params": {"name": "run_query",
                   "arguments": {"connection": conn, "sql": sql, "params": [9_000_000_000 + i], "limit": rows},
                   "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                             "io.modelcontextprotocol/clientInfo": {"name": "slow-reader", "version": "1"},
                             "io.modelcontextprotocol/clientCapabilities": {}}}}).encode()
    head = (f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
            "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: run_query\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head + body


def sock_mem_kib():
    """Kernel memory of all TCP sockets (pages in /proc/net/sockstat), KiB."""
    try:
        with open("/proc/net/sockstat") as f:
            for line in f:
                if line.startswith("TCP:"):
                    parts = line.split()
                    return int(parts[parts.index("mem") + 1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, ValueError):
        return None
    return None


async def slow_cmd(a):
    samples = []
    socks = []
    phases = {}
    mix_args = argparse.Namespace(**vars(a))
    mix_args.window = None
    mix_args.agent_log = None
    mix = Mix(mix_args)
    t_start = time.monotonic()

    async def sampler():
        while time.monotonic() - t_start < mix.stop_at + 0.5:
            samples.append((round(time.monotonic() - t_start), rss_kib(a.pid_file), sock_mem_kib()))
            await anyio.sleep(1.0)

    async def slow_readers():
        while mix.ramp_s is None:
            await anyio.sleep(0.2)
        await anyio.sleep(max(0.0, mix.ramp_s + a.slow_at - (time.monotonic() - t_start)))
        phases["slow_open_s"] = round(time.monotonic() - t_start, 2)
        # About 2.8 MB of answer each (10,000 rows of ~280 bytes), under the 4 MiB byte cap.
        sql = ("SELECT $1::bigint AS n, id, bucket, repeat(payload, 8) AS p FROM big ORDER BY id")
        for i in range(a.slow_clients):
            s = socket.socket()
            # A small receive window: the answer has to wait on the server's side.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect((a.host, a.port))
            s.sendall(slow_request(a.host, a.port, a.slow_key, a.connection, a.slow_rows, sql, i))
            socks.append(s)
        await anyio.sleep(a.slow_hold)
        # Then the slow clients go away without ever reading.
        phases["slow_close_s"] = round(time.monotonic() - t_start, 2)
        for s in socks:
            s.close()

    async with anyio.create_task_group() as tg:
        tg.start_soon(sampler)
        tg.start_soon(slow_readers)
        s = await mix.run()
    # Latency of the other sessions before, during and after the slow readers.
    o0 = phases.get("slow_open_s", a.duration)
    o1 = phases.get("slow_close_s", a.duration)
    per = {"before": [], "during": [], "after": []}
    errs = {"before": 0, "during": 0, "after": 0}
    for sid, kind, tool, n, t0, t1, status, d in mix.calls:
        if t0 < (mix.ramp_s or 0):
            continue
        ph = "before" if t1 < o0 else ("during" if t0 >= o0 + 2 and t1 < o1 else ("after" if t0 >= o1 + 1 else None))
        if ph is None:
            continue
        if status in ("ok", "refused"):
            per[ph].append(t1 - t0)
        else:
            errs[ph] += 1
    s["phase_latency_ms"] = {k: {"p50": ms(pct(v, 50)), "p99": ms(pct(v, 99)), "n": len(v), "errors": errs[k]}
                             for k, v in per.items()}
    s["rss_kib"] = samples
    s["phases"] = phases
    s["slow_clients"] = a.slow_clients
    print(json.dumps(s))


# --------------------------------------------------------------------------
# report: the Markdown section from the JSON of each scenario.
# --------------------------------------------------------------------------

TITLES = {
    "load": "Steady load",
    "kill": "SIGKILL of the server mid-load, restarted at once",
    "pg": "PostgreSQL stopped mid-load (pg_ctl -m fast) and started again 10 s later",
    "agent": "Agent SIGKILLed and restarted; then its network cut for 20 s and restored",
    "slow": "Clients that never read their large answer",
}


def fmt_counts(d):
    return ", ".join(f"{k} {v:,}" for k, v in d.items()) if d else "none"


def report_cmd(a):
    files = dict(x.split("=", 1) for x in a.files)
    for name in ("load", "kill", "pg", "agent", "slow"):
        if name not in files:
            continue
        s = json.load(open(files[name]))
        au = json.load(open(files[name + "-audit"])) if name + "-audit" in files else None
        print()
        print(f"### {TITLES[name]}")
        print()
        print(f"- {s['sessions']} sessions on {s['keys']} MCP keys, {s['duration_s']} s, "
              f"{s['answered_total']:,} calls answered ({s['answered_per_s']}/s); client CPU {s['client_cpu_s_per_s']} core; "
              f"client event-loop lag p50 {s['client_loop_lag_s']['p50']} s, max {s['client_loop_lag_s']['max']} s")
        print(f"- Ramp-up: {s.get('sessions_open_after_ramp')} of {s['sessions']} sessions open after {s.get('ramp_up_s')} s "
              "(the SDK's opening handshakes are costly for one Python process; the run's time and its faults count from "
              "then; calls made during the ramp-up are counted too)")
        print(f"- Sessions started: {s.get('sessions_tracked')} of {s['sessions']}; alive at the end: "
              f"{s.get('sessions_alive_at_end')}; session tasks that died: {fmt_counts(s.get('session_tasks_died') or {})}")
        print(f"- Answered by kind: {fmt_counts(s['answered'])} (refused = refused as expected)")
        print(f"- Errors: **{s['unexpected_total']} unexpected**" +
              (f" ({'; '.join(f'{k} ×{v}' for k, v in s['unexpected_errors'].items())})" if s["unexpected_total"] else "") +
              f"; {s['expected_total']} in the fault window" +
              (f" ({'; '.join(f'{k} ×{v}' for k, v in list(s['expected_fault_errors'].items())[:5])})" if s["expected_total"] else ""))
        if s.get("sessions_at_end") and (s["reconnects"] or s.get("windows")):
            print(f"- Sessions when the time was up: {fmt_counts(s['sessions_at_end'])} "
                  "(calling = a call in flight; opening = initialize in flight; 'for >5 s' = stuck that long)")
        if s["reconnects"] or s["connect_failures"]:
            print(f"- Sessions re-opened: {s['reconnects']} times by {s['sessions_reconnected']} sessions; "
                  f"failed opens: {fmt_counts(s['connect_failures'])}")
        lat = s["latency_ms"]
        print("- Latency (ms, client side, whole call): " + "; ".join(
            f"{k} p50 {v['p50']} / p99 {v['p99']}" for k, v in lat.items()) +
              f"; all answered outside fault windows p50 {s['latency_steady_ms']['p50']} / p99 {s['latency_steady_ms']['p99']}")
        if au:
            ok = au["answered_without_record"] == 0
            print(f"- Audit: {au['tool_records']:,} tool-call records for {au['answered_calls']:,} answered calls "
                  f"({au['answered_run_query_with_id']:,} run_query calls with a unique id: "
                  f"**{au['answered_without_record']} without a record**); {au['admin_start_records']} `admin.start`; "
                  f"`audit verify --pubkey`: exit {au['verify_exit']}, \"{au['verify']}\"")
            print("  - server-side time per call (record `duration_ms`: concurrency wait, guard, source; not the HTTP layer or the audit commit), ms: " +
                  "; ".join(f"{k} p50 {v['p50']} / p99 {v['p99']} / max {v['max']}" for k, v in au["server_ms"].items()))
            for label, sw in au.get("server_windows", {}).items():
                bits = []
                if "first_ok_record_after_restore_s" in sw:
                    bits.append(f"first successful call recorded {sw['first_ok_record_after_restore_s']} s after the restore "
                                f"step ended (shell clock)")
                if "ok_records_per_s_after_restore" in sw:
                    bits.append("successful calls recorded in each of the 10 s after: "
                                + ", ".join(str(x) for x in sw["ok_records_per_s_after_restore"]))
                if bits:
                    print(f"  - `{label}` seen from the records: " + "; ".join(bits))
            if au.get("probe_records"):
                print(f"  - the probe's own {au['probe_records']} records (key label `probe`) are left out of these counts")
            print(f"  - records by tool/outcome: {fmt_counts(au['records_by_tool'])}")
            print(f"  - answered by tool/outcome: {fmt_counts(au['answered_by_tool'])}")
        for label, w in s.get("windows", {}).items():
            parts = [f"fault at {w['fault_at_s']} s, restored at {w['restored_at_s']} s"
                     + (f" (the restore step took {w['restore_took_s']} s)" if "restore_took_s" in w else ""),
                     f"calls ending during the fault: {fmt_counts(w['calls_during_fault'])}"]
            if "first_answer_after_restore_s" in w:
                parts.append(f"first answer {w['first_answer_after_restore_s']} s after the restore, every session answered "
                             f"again within {w['all_sessions_answered_again_s']} s ({w['sessions_answered_again']} sessions)")
            parts.append(f"last error {w['last_error_after_restore_s']} s after the restore" if w["last_error_after_restore_s"] is not None
                         else "no error after the restore")
            if "agent_connected_after_restore_s" in w:
                parts.append(f"agent connected {w['agent_connected_after_restore_s']} s after the restore")
            if "backoff_sleep_left_at_restore_s" in w:
                parts.append(f"backoff sleep in progress at the restore: {w['backoff_delay_at_restore_ms']} ms, "
                             f"{w['backoff_sleep_left_at_restore_s']} s of it left")
            if w.get("agent_retries"):
                parts.append("agent retries (at s: delay ms): " + ", ".join(
                    f"{r['at_s']}: {r['delay_ms']}" for r in w["agent_retries"][:12]))
            if "probe_first_ok_after_restore_s" in w:
                parts.append(f"**probe** (curl every 0.2 s, own key, outside the client process): first answer "
                             f"{w['probe_first_ok_after_restore_s']} s after the restore, "
                             f"{w['probe_failed_after_restore']} failed probes in the 30 s after, latency p50/max "
                             f"{w['probe_latency_after_restore_ms']['p50']}/{w['probe_latency_after_restore_ms']['max']} ms "
                             f"after vs {w['probe_latency_before_fault_ms']['p50']}/{w['probe_latency_before_fault_ms']['max']} ms before the fault")
            if w.get("client_per_s_after_restore"):
                c = w["client_per_s_after_restore"]
                parts.append("client, per second after the restore: sessions opened " + " ".join(map(str, c["opened"][:12]))
                             + "; calls sent " + " ".join(map(str, c["sent"][:12]))
                             + "; answered " + " ".join(map(str, c["answered"][:12]))
                             + "; its event loop's worst lag in each second (s) "
                             + " ".join(str(x) for x in w.get("client_loop_lag_max_s_after_restore", [])[:12]))
            if w.get("error_kinds"):
                parts.append("errors seen: " + "; ".join(f"{k} ×{v}" for k, v in w["error_kinds"].items()))
            print(f"- Window `{label}`: " + "; ".join(parts))
        if name == "slow":
            ph = s["phases"]
            pl = s["phase_latency_ms"]
            rss = [(t, r) for t, r, k in s["rss_kib"] if r is not None]
            before = max([r for t, r in rss if t < ph.get("slow_open_s", 0)] or [0])
            held = max([r for t, r in rss if ph.get("slow_open_s", 0) <= t < ph.get("slow_close_s", 0)] or [0])
            after = rss[-1][1] if rss else 0
            extra = au["tool_records"] - au["answered_calls"] if au else "?"
            print(f"- {s['slow_clients']} slow clients (one stateless `run_query` each; the answer is ~5.4 MB on the wire: "
                  f"10,000 rows of ~270 bytes, as text content and again as structuredContent) opened at "
                  f"{ph.get('slow_open_s')} s, closed without reading at {ph.get('slow_close_s')} s; "
                  f"their calls are the {extra} records above the answered calls")
            print(f"- Server RSS: {before / 1024:.0f} MiB before, {held / 1024:.0f} MiB while they were held "
                  f"(+{(held - before) / 1024 / max(1, s['slow_clients']):.1f} MiB per un-read answer, flat while held), "
                  f"{after / 1024:.0f} MiB after they closed")
            print("- Other sessions: " + "; ".join(
                f"{k} p50 {v['p50']} / p99 {v['p99']} ms ({v['n']:,} calls, {v['errors']} errors)" for k, v in pl.items()))
            rows = s["rss_kib"]
            step = max(1, len(rows) // 12)
            print()
            print("| t (s) | server RSS MiB | TCP socket memory (kernel) MiB |")
            print("| ---: | ---: | ---: |")
            for t, r, k in rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else []):
                print(f"| {t} | {'' if r is None else round(r / 1024, 1)} | {'' if k is None else round(k / 1024, 1)} |")


def main():
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("mcp").setLevel(logging.CRITICAL)
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)

    def mix_opts(q):
        q.add_argument("--url", required=True)
        q.add_argument("--keys", required=True, help="comma-separated MCP keys; sessions take them in turn")
        q.add_argument("--connection", default="shop")
        q.add_argument("--sessions", type=int, default=200)
        q.add_argument("--duration", type=float, default=60)
        q.add_argument("--mode", default="legacy", help="SDK connect mode: legacy (initialize + session id) or auto")
        q.add_argument("--think-ms", type=float, default=0, help="mean pause between a session's calls")
        q.add_argument("--w-small", type=float, default=50)
        q.add_argument("--w-large", type=float, default=15)
        q.add_argument("--w-schema", type=float, default=20)
        q.add_argument("--w-refused", type=float, default=15)
        q.add_argument("--large-rows", type=int, default=1000)
        q.add_argument("--big-table", default="big")
        q.add_argument("--big-offset-max", type=int, default=990_000)
        q.add_argument("--id-base", type=int, default=0)
        q.add_argument("--seed", type=int, default=1)
        q.add_argument("--ramp-timeout", type=float, default=120,
                       help="start the clock after this long even if not every session is open")
        q.add_argument("--window", action="append",
                       help="LABEL,FAULT_AT,FAULT_SCRIPT,RESTORE_AT,RESTORE_SCRIPT (restore fields may be empty)")
        q.add_argument("--agent-log", help="the agent's log, to read its reconnection attempts")
        q.add_argument("--probe-log", help="the probe's log (wall time, HTTP code, seconds, ok) from bench/load.sh")
        q.add_argument("--grace", type=float, default=10.0,
                       help="errors up to this long after the restore ended count as expected")

    m = sub.add_parser("mix")
    mix_opts(m)
    au = sub.add_parser("audit")
    au.add_argument("--export", required=True)
    au.add_argument("runs", nargs="+")
    sl = sub.add_parser("slow")
    mix_opts(sl)
    sl.add_argument("--host", default="127.0.0.1")
    sl.add_argument("--port", type=int, required=True)
    sl.add_argument("--pid-file", required=True)
    sl.add_argument("--slow-key", required=True)
    sl.add_argument("--slow-clients", type=int, default=20)
    sl.add_argument("--slow-rows", type=int, default=10000)
    sl.add_argument("--slow-at", type=float, default=10)
    sl.add_argument("--slow-hold", type=float, default=30)
    rp = sub.add_parser("report")
    rp.add_argument("files", nargs="+", help="NAME=FILE.json")
    a = p.parse_args()
    if a.cmd == "report":
        report_cmd(a)
    elif a.cmd == "mix":
        s = anyio.run(Mix(a).run)
        print(json.dumps(s))
    elif a.cmd == "audit":
        audit_cmd(a)
    else:
        anyio.run(slow_cmd, a)


if __name__ == "__main__":
    main()
