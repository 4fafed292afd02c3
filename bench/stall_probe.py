"""Catch a stall of GET /api/v1/users/me and say where the time went.

`python3 bench/stall_probe.py BASE TOKENS PID SECONDS OUT` (bench/stall_probe.sh sets it
up). Beside a wrk load the caller runs, for SECONDS it keeps:

- a client at 4 connections timing every request (each over 100 ms is kept);
- a heartbeat: a thread sleeping 10 ms at a time, talking to nothing, whose late wake-ups
  (over 30 ms) say the whole machine paused;
- every 20 ms: the state and kernel wait channel of each of doorman's threads (PID), and
  the machine's steal and iowait time and pressure (/proc/stat, /proc/pressure).

Then, for each stall, what the threads were doing and what the machine did around it.
"""

import ast
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from urllib.parse import urlparse

base, tokens_file, pid, seconds, out = sys.argv[1:6]
seconds = float(seconds)
url = urlparse(base)
tokens = [t.strip() for t in open(tokens_file) if t.strip()]
stop = time.monotonic() + seconds
slow, samples = [], []
served = [0]
lock = threading.Lock()


def client(k):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    i = k
    while time.monotonic() < stop:
        i += 1
        headers = {"Authorization": "Bearer " + tokens[i % len(tokens)]}
        t0 = time.monotonic()
        conn.request("GET", "/api/v1/users/me", headers=headers)
        r = conn.getresponse()
        r.read()
        took = time.monotonic() - t0
        with lock:
            served[0] += 1
            if took > 0.1 or r.status != 200:
                slow.append((t0, took, k, r.status))


# A process of its own, so that this one's threads (and their lock) cannot delay it.
HEARTBEAT = """
import sys, time
stop, gaps = float(sys.argv[1]), []
last = time.monotonic()
while last < stop:
    time.sleep(0.01)
    now = time.monotonic()
    if now - last > 0.03:
        gaps.append((last, now - last))
    last = now
print(repr(gaps))
"""


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def machine():
    cpu = read("/proc/stat").split("\n", 1)[0].split()
    # user nice system idle iowait irq softirq steal
    pressure = {}
    for kind in ("cpu", "io", "memory"):
        text = read(f"/proc/pressure/{kind}")
        for line in text.splitlines():
            if line.startswith("some"):
                pressure[kind] = int(line.rsplit("total=", 1)[1])
    return int(cpu[5]), int(cpu[8]), pressure


def ticks(stat):
    """utime + stime of a /proc stat line, in jiffies."""
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def threads():
    """(name#tid, state, wait channel, CPU jiffies) of each of doorman's threads."""
    states = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        stat = read(f"/proc/{pid}/task/{tid}/stat")
        if not stat:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")] + "#" + tid
        state = stat[stat.rindex(")") + 2]
        wchan = read(f"/proc/{pid}/task/{tid}/wchan") if state not in "RS" else ""
        states.append((name, state, wchan, ticks(stat)))
    return states


def others():
    """CPU jiffies of PostgreSQL's processes and of wrk, together by name."""
    used = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        stat = read(f"/proc/{p}/stat")
        if not stat:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        kind = "postgres" if name.startswith("postgres") else name if name in ("wrk",) else None
        if kind:
            used[kind] = used.get(kind, 0) + ticks(stat)
    return used


def sampler():
    while time.monotonic() < stop:
        t = time.monotonic()
        samples.append((t, machine(), threads(), others()))
        time.sleep(max(0.0, 0.02 - (time.monotonic() - t)))


workers = [threading.Thread(target=client, args=(k,)) for k in range(4)]
workers += [threading.Thread(target=sampler)]
beating = subprocess.Popen(
    [sys.executable, "-c", HEARTBEAT, str(stop)], stdout=subprocess.PIPE, text=True
)
for w in workers:
    w.start()
for w in workers:
    w.join()
beats = ast.literal_eval(beating.communicate()[0])

report = []
print(f"requests {served[0]}, over 100 ms {len(slow)}, heartbeat gaps over 30 ms {len(beats)}")
for t0, took, k, status in sorted(slow):
    t1 = t0 + took
    near = [s for s in samples if t0 - 0.1 <= s[0] <= t1 + 0.1]
    gaps = [(round(b - t0, 3), round(g, 3)) for b, g in beats if b <= t1 and b + g >= t0]
    odd = sorted(
        {(n, st, w) for _, _, ts, _ in near for n, st, w, _ in ts if st not in "RS"}
    )
    running = max((sum(1 for _, st, _, _ in ts if st == "R") for _, _, ts, _ in near), default=0)
    cpu = {}
    if len(near) >= 2:
        (a, m0, t0s, o0), (b, m1, t1s, o1) = near[0], near[-1]
        span = (b - a) * 100  # jiffies at 100 Hz
        iowait, steal = m1[0] - m0[0], m1[1] - m0[1]
        pressure = {k: round((m1[2].get(k, 0) - m0[2].get(k, 0)) / 1000) for k in m1[2]}
        before = {n: j for n, _, _, j in t0s}
        cpu = {n: j - before.get(n, 0) for n, _, _, j in t1s if j - before.get(n, 0)}
        cpu.update({k: v - o0.get(k, 0) for k, v in o1.items()})
    else:
        span, iowait, steal, pressure = 0, 0, 0, {}
    entry = {
        "at": round(t0 - (stop - seconds), 3),
        "wall": time.strftime("%H:%M:%S", time.gmtime(time.time() - time.monotonic() + t0))
        + f".{int((time.time() - time.monotonic() + t0) % 1 * 1000):03d}",
        "took_ms": round(took * 1000, 1),
        "connection": k,
        "status": status,
        "heartbeat_gaps": gaps,
        "doorman_threads_running_max": running,
        "doorman_threads_waiting": odd,
        "samples": len(near),
        "jiffies": round(span, 1),
        "iowait_jiffies": iowait,
        "steal_jiffies": steal,
        "pressure_ms": pressure,
        "cpu_jiffies": cpu,
    }
    report.append(entry)
    print(json.dumps(entry))
json.dump(
    {"requests": served[0], "slow": report, "heartbeat_gaps": beats},
    open(os.path.join(out, "stall_probe.json"), "w"),
)
