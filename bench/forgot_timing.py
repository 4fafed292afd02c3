#!/usr/bin/env python3
"""Forgot-password timing, known against unknown addresses (issue 19, point 9).

usage: forgot_timing.py DOORMAN_BINARY DATABASE_URL [N] [GAP_MS] [one]

Starts the binary on loopback against DATABASE_URL (a fresh SQLite file or an empty
PostgreSQL database), registers one account, then sends N (default 600) forgot requests for
the known address and N for an unknown one, alternating, one at a time on one keep-alive
connection each (or, with `one`, both kinds on one connection), GAP_MS milliseconds apart
(default 0), after 100 warm-up requests of each kind; prints the median and the quartiles
of each in milliseconds.
"""
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time

binary, database_url = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 600
gap = float(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0.0
one = len(sys.argv) > 5 and sys.argv[5] == "one"
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
env = dict(
    os.environ,
    DATABASE_URL=database_url,
    DOORMAN_BIND=f"127.0.0.1:{port}",
    DOORMAN_RATE_LIMIT_PER_SECOND="0",
    RUST_LOG="warn",
)
server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.1)
    conns = {k: http.client.HTTPConnection("127.0.0.1", port) for k in ("known", "unknown", "setup")}
    if one:
        conns["unknown"] = conns["known"]

    def post(kind, path, body):
        conn = conns[kind]
        start = time.perf_counter()
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - start

    status, _ = post("setup", "/api/v1/users", {"email": "known@example.com", "password": "correct horse battery staple"})
    assert status == 201, status
    emails = {"known": "known@example.com", "unknown": "nobody@example.com"}
    times = {"known": [], "unknown": []}
    for i in range(100 + n):
        for kind in ("known", "unknown") if i % 2 == 0 else ("unknown", "known"):
            status, took = post(kind, "/api/v1/auth/password/forgot", {"email": emails[kind]})
            assert status == 202, status
            time.sleep(gap)
            if i >= 100:
                times[kind].append(took * 1000)
    for kind, ms in times.items():
        q = statistics.quantiles(ms, n=4)
        print(f"{kind:8} n={len(ms)} median {statistics.median(ms):.3f} ms  (p25 {q[0]:.3f}, p75 {q[2]:.3f})")
finally:
    server.terminate()
    server.wait(timeout=30)
