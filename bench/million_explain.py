#!/usr/bin/env python3
"""The database's own time for each staff query of bench/million.sh (its page and its count,
as doorman sends them), by EXPLAIN ANALYZE (PostgreSQL) or by timing the statement
(SQLite, with Unicode lower() as doorman registers it): the median of five runs, in ms.

usage: million_explain.py DATABASE_URL USERS
"""
import statistics
import subprocess
import sys
import time

url, users = sys.argv[1], int(sys.argv[2])
deep = users * 9 // 10
like = "(lower(email) LIKE '{0}' ESCAPE '\\' OR lower(username) LIKE '{0}' ESCAPE '\\' OR lower(first_name) LIKE '{0}' ESCAPE '\\' OR lower(last_name) LIKE '{0}' ESCAPE '\\')"
T = "TRUE" if url.startswith("postgres") else "1"
F = "FALSE" if url.startswith("postgres") else "0"
users_q = [
    ("q=r1234", like.format("%r1234%"), "created_at DESC, id DESC", 0),
    ("q=lovelace&role=user&is_active=true&sort=email", like.format("%lovelace%") + f" AND role = 'user' AND is_active = {T}", "email", 0),
    ("q=member99&sort=-email", like.format("%member99%"), "email DESC", 0),
    ("role=sub_admin&is_active=true&sort=created_at", f"role = 'sub_admin' AND is_active = {T}", "created_at, id", 0),
    ("is_active=false&sort=-created_at&offset=100", f"is_active = {F}", "created_at DESC, id DESC", 100),
    ("(no filter)", "1 = 1", "created_at DESC, id DESC", 0),
    (f"sort=-created_at&offset={deep}", "1 = 1", "created_at DESC, id DESC", deep),
    (f"sort=email&offset={deep}", "1 = 1", "email", deep),
]
audit_q = [
    ("user_id={user}", "(actor_id = '{uid}' OR subject_id = '{uid}')", 0),
    ("user_id={user}&type=login.succeeded", "(actor_id = '{uid}' OR subject_id = '{uid}') AND type = 'login.succeeded'", 0),
    ("type=password.changed", "type = 'password.changed'", 0),
    ("type=login.failed&offset=1000", "type = 'login.failed'", 1000),
    ("(no filter)", "1 = 1", 0),
]

if url.startswith("postgres"):
    def run(sql):
        out = subprocess.run(["psql", "-qAt", url, "-c", "EXPLAIN (ANALYZE, FORMAT JSON) " + sql],
                             check=True, capture_output=True, text=True).stdout
        import json
        return json.loads(out)[0]["Execution Time"]
    uid = subprocess.run(["psql", "-qAt", url, "-c", "SELECT id FROM users WHERE email = 'user777@bench.local'"],
                         check=True, capture_output=True, text=True).stdout.strip()
else:
    import sqlite3
    db = sqlite3.connect(url.removeprefix("sqlite://"))
    db.create_function("lower", 1, lambda t: None if t is None else t.lower(), deterministic=True)
    def run(sql):
        t = time.perf_counter()
        db.execute(sql).fetchall()
        return (time.perf_counter() - t) * 1000
    (uid,) = db.execute("SELECT id FROM users WHERE email = 'user777@bench.local'").fetchone()

def median(sql):
    return statistics.median(run(sql) for _ in range(5))

print(f"| query at {users:,} users | page (ms) | count (ms) |\n|---|---:|---:|")
for name, where, order, offset in users_q:
    page = median(f"SELECT * FROM users WHERE {where} ORDER BY {order} LIMIT 50 OFFSET {offset}")
    count = median(f"SELECT count(*) FROM users WHERE {where}")
    print(f"| /admin/users?{name} | {page:.1f} | {count:.1f} |", flush=True)
for name, where, offset in audit_q:
    where = where.format(uid=uid)
    page = median(f"SELECT * FROM audit_events WHERE {where} ORDER BY at DESC, id DESC LIMIT 50 OFFSET {offset}")
    count = median(f"SELECT count(*) FROM audit_events WHERE {where}")
    print(f"| /admin/audit-events?{name} | {page:.1f} | {count:.1f} |", flush=True)
