#!/usr/bin/env python3
"""Seeds the benchmark: users user1..userN@bench.local sharing one real argon2id hash (made by
doorman itself through registration), then signs some of them in to collect tokens.

usage: seed.py BASE_URL DATABASE_URL USERS PASSWORD OUT_DIR SESSIONS THREADS
"""
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

base, database_url, users, password, out, sessions, threads = sys.argv[1:8]
users, sessions, threads = int(users), int(sessions), int(threads)


def post(path, body):
    request = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


# The users' counts (migration 000024), which doorman keeps as it writes users, made anew
# from the users seeded here (an older binary under an A/B has no such table).
RECOUNT = """
DELETE FROM user_counts;
INSERT INTO user_counts (role, is_active, shard, users)
SELECT role, is_active, 0, COUNT(*) FROM users GROUP BY role, is_active;
"""

first = post("/api/v1/users", {"email": "user1@bench.local", "password": password})
now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
if database_url.startswith("sqlite"):
    import sqlite3

    db = sqlite3.connect(database_url.removeprefix("sqlite://"))
    (hash_,) = db.execute("SELECT password_hash FROM credentials WHERE is_current = 1").fetchone()
    rows = [(str(uuid.uuid4()), f"user{i}@bench.local", now) for i in range(2, users + 1)]
    db.executemany(
        "INSERT INTO users (id, email, role, is_active, created_at, updated_at) VALUES (?, ?, 'user', 1, ?, ?)",
        [(i, e, t, t) for i, e, t in rows],
    )
    db.executemany(
        "INSERT INTO credentials (id, user_id, password_hash, is_current, created_at) VALUES (?, ?, ?, 1, ?)",
        [(str(uuid.uuid4()), i, hash_, t) for i, _, t in rows],
    )
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'user_counts'").fetchone():
        db.executescript(RECOUNT)
    db.commit()
else:
    sql = f"""
    WITH h AS (SELECT password_hash FROM credentials LIMIT 1),
    u AS (
      INSERT INTO users (id, email, role, is_active, created_at, updated_at)
      SELECT gen_random_uuid(), 'user' || g || '@bench.local', 'user', true, now(), now()
      FROM generate_series(2, {users}) g RETURNING id
    )
    INSERT INTO credentials (id, user_id, password_hash, is_current, created_at)
    SELECT gen_random_uuid(), u.id, h.password_hash, true, now() FROM u, h;
    """
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", database_url, "-c", sql], check=True)
    has_counts = subprocess.run(
        ["psql", "-qAt", database_url, "-c", "SELECT to_regclass('user_counts') IS NOT NULL"],
        check=True, capture_output=True, text=True,
    ).stdout.strip() == "t"
    if has_counts:
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", database_url, "-c", RECOUNT], check=True)
    # Settle the bulk insert now, so that autovacuum does not run in the middle of a scenario.
    subprocess.run(["psql", "-q", database_url, "-c", "VACUUM ANALYZE"], check=True)


def login(i):
    return post("/api/v1/auth/login", {"email": f"user{i}@bench.local", "password": password})


with ThreadPoolExecutor(8) as pool:
    pairs = list(pool.map(login, range(1, sessions + 1)))
os.makedirs(f"{out}/refresh", exist_ok=True)
with open(f"{out}/access-tokens", "w") as f:
    f.write("\n".join(p["access_token"] for p in pairs) + "\n")
for t in range(threads):
    mine = pairs[t::threads]
    with open(f"{out}/refresh/{t + 1}", "w") as f:
        f.write("\n".join(p["refresh_token"] for p in mine) + "\n")
print(f"seeded {users} users, {sessions} sessions")
