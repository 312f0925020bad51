#!/usr/bin/env python3
"""Loopback reverse proxy that adds `Authorization: Bearer <key>` to every request.

Why it exists: the MCP conformance suite (npm @modelcontextprotocol/conformance
0.1.16) has no way to send a custom header in server mode (no --header option,
no environment variable; it builds its clients from the bare --url). Conexor
rejects every request without a bearer key, so scripts/conformance.sh points
the suite at this proxy instead, and the proxy forwards to the real server.

What it does, and nothing more:
  * listens on 127.0.0.1, on a free port chosen by the kernel, and writes that
    port to --ready-file once it accepts connections;
  * forwards every request (any method, path and query unchanged) to the
    upstream origin given by --upstream;
  * passes all end-to-end headers through unchanged, *including Host and
    Origin* (the server sees Host 127.0.0.1:<proxy port>, a loopback host, so
    its DNS-rebinding check treats the request exactly as it would treat the
    suite talking to it directly, and the dns-rebinding-protection scenario's
    forged Host/Origin arrive untouched), Mcp-Session-Id,
    MCP-Protocol-Version, Last-Event-ID, Accept, Content-Type ...;
  * adds `Authorization: Bearer <key>` only when the request has no
    Authorization header of its own (the key comes from the environment
    variable named by --key-env, so it never shows in `ps`);
  * drops only hop-by-hop headers (RFC 9110 7.6.1) and re-frames bodies;
  * streams responses without a Content-Length (SSE, chunked) through as they
    arrive, one read at a time, flushed immediately; when the client goes
    away mid-stream, the upstream connection is closed too, so the server
    sees the stream end just as it would without the proxy.

Stdlib only (python3 >= 3.8). Not a general-purpose proxy: test use only.
"""

import argparse
import http.client
import os
import select
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


def log(msg):
    sys.stderr.write(f"auth-proxy: {msg}\n")
    sys.stderr.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive + chunked, like a real server
    server_version = "conexor-conformance-auth-proxy"
    upstream = None  # urllib.parse.SplitResult, set in main()
    auth_value = None  # "Bearer <key>"
    verbose = False

    # -- plumbing ---------------------------------------------------------
    def log_message(self, fmt, *args):  # quiet unless --verbose
        if self.verbose:
            log(f"{self.address_string()} {fmt % args}")

    def _read_request_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until blank line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after chunk
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length is not None:
            return self.rfile.read(int(length))
        return None

    def _connection_tokens(self, headers):
        # Headers named in Connection are hop-by-hop too.
        toks = set()
        for v in headers.get_all("Connection") or []:
            toks.update(t.strip().lower() for t in v.split(",") if t.strip())
        return toks

    def _upstream_conn(self):
        u = self.upstream
        port = u.port or (443 if u.scheme == "https" else 80)
        if u.scheme == "https":
            return http.client.HTTPSConnection(u.hostname, port, timeout=300)
        return http.client.HTTPConnection(u.hostname, port, timeout=300)

    def _send_plain(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # -- one request ------------------------------------------------------
    def _proxy(self):
        body = self._read_request_body()
        drop = HOP_BY_HOP | self._connection_tokens(self.headers) | {"content-length"}

        conn = self._upstream_conn()
        try:
            # skip_host: we forward the client's own Host header unchanged.
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            has_auth = False
            for name, value in self.headers.items():
                lname = name.lower()
                if lname in drop:
                    continue
                if lname == "authorization":
                    has_auth = True
                conn.putheader(name, value)
            if not has_auth:
                conn.putheader("Authorization", self.auth_value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
        except OSError as e:
            conn.close()
            log(f"upstream error for {self.command} {self.path}: {e}")
            self._send_plain(502, f"auth-proxy: upstream unreachable: {e}\n")
            return

        try:
            self._relay_response(resp, conn)
        finally:
            conn.close()

    def _relay_response(self, resp, conn):
        drop = HOP_BY_HOP | {t.strip().lower() for v in (resp.msg.get_all("Connection") or []) for t in v.split(",")}
        self.send_response_only(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() in drop:
                continue
            self.send_header(name, value)

        no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
        length = resp.getheader("Content-Length")
        if no_body:
            self.end_headers()
            resp.read()
            return
        if length is not None:
            # Fixed-size body: Content-Length was forwarded above.
            self.end_headers()
            remaining = int(length)
            while remaining > 0:
                data = resp.read(min(65536, remaining))
                if not data:
                    break
                self.wfile.write(data)
                remaining -= len(data)
            self.wfile.flush()
            return

        # Streamed body (SSE / chunked / close-delimited): re-chunk to the
        # client as data arrives.
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        stop = threading.Event()
        watcher = threading.Thread(target=self._watch_client, args=(conn, stop), daemon=True)
        watcher.start()
        try:
            while True:
                try:
                    data = resp.read1(65536)
                except (OSError, http.client.HTTPException, ValueError):
                    data = b""
                if not data:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            if not stop.is_set():
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except OSError:
            # Client went away while we were writing.
            self.close_connection = True
        finally:
            stop.set()

    def _watch_client(self, conn, stop):
        """While a stream is relayed, notice the client hanging up and close upstream."""
        sock = self.connection
        while not stop.is_set():
            try:
                r, _, _ = select.select([sock], [], [], 0.5)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                peek = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                peek = b""
            if peek:
                return  # client sent something (next request); not a hang-up
            stop.set()
            self.close_connection = True
            try:
                if conn.sock is not None:
                    conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = do_HEAD = _proxy


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client dropping an idle keep-alive connection is normal here (the
        # suite aborts its streams when a scenario ends): not worth a traceback.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--upstream", required=True, help="upstream URL, e.g. http://127.0.0.1:8080/mcp (only scheme/host/port are used)")
    ap.add_argument("--key-env", default="CONEXOR_CONFORMANCE_KEY", help="environment variable holding the bearer key")
    ap.add_argument("--port", type=int, default=0, help="listen port (default: a free one)")
    ap.add_argument("--ready-file", help="write the listen port here once listening")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    key = os.environ.get(args.key_env)
    if not key:
        ap.error(f"environment variable {args.key_env} is empty or unset")
    up = urllib.parse.urlsplit(args.upstream)
    if up.scheme not in ("http", "https") or not up.hostname:
        ap.error(f"--upstream must be an http(s) URL, got {args.upstream!r}")

    Handler.upstream = up
    Handler.auth_value = f"Bearer {key}"
    Handler.verbose = args.verbose

    srv = Server(("127.0.0.1", args.port), Handler)
    port = srv.server_address[1]
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.ready_file)
    log(f"listening on 127.0.0.1:{port}, forwarding to {up.scheme}://{up.netloc}")
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
