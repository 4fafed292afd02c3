#!/usr/bin/env python3
"""Seeds a migrated doorman database through SQL alone, with one precomputed password hash:
USERS users (user1..userN@bench.local; user1 is an admin), 5 live sessions and 10 audit
events per user. No password is hashed here: every credential row holds the hash that
doorman made for user1 (who must exist already, registered through the API).

usage: million_seed.py DATABASE_URL USERS

PostgreSQL: one INSERT … SELECT over generate_series per table (seeding data, not schema:
the migrations stay free of server-side functions). SQLite: the same rows from a recursive
CTE, with UUIDv7 ids in ascending order and the secondary indexes built after the rows. Both
end with ANALYZE.
"""
import subprocess
import sys
import time

url, users = sys.argv[1], int(sys.argv[2])

# Ten audit event types, spread evenly; users named from 20 first and 20 last names.
TYPES = ["user.registered", "login.succeeded", "login.failed", "logout", "password.changed",
         "login.succeeded", "login.succeeded", "refresh_token.reused", "login.locked", "logout"]
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Ken", "Dennis", "Margaret",
         "John", "Radia", "Leslie", "Frances", "Tony", "Niklaus", "Jean", "Bjarne", "Guido",
         "Linus", "Sophie"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Thompson", "Ritchie",
        "Hamilton", "McCarthy", "Perlman", "Lamport", "Allen", "Hoare", "Wirth", "Sammet",
        "Stroustrup", "Rossum", "Torvalds", "Wilson"]


# The audit trail's per-type counts (migration 000019) and the users' per role and activity
# (migration 000024), which doorman keeps as it writes events and users: made anew from
# the rows seeded here.
COUNTS = """
DELETE FROM audit_event_counts;
INSERT INTO audit_event_counts (type, shard, events)
SELECT type, 0, COUNT(*) FROM audit_events GROUP BY type;
DELETE FROM user_counts;
INSERT INTO user_counts (role, is_active, shard, users)
SELECT role, is_active, 0, COUNT(*) FROM users GROUP BY role, is_active;
"""


def step(what, started):
    print(f"  {what}: {time.time() - started:.1f} s", flush=True)


def pg_array(values):
    return "ARRAY[" + ",".join(f"'{v}'" for v in values) + "]"


def seed_postgres():
    def psql(sql):
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True)

    t = time.time()
    psql(f"""
    UPDATE users SET role = 'admin' WHERE email = 'user1@bench.local';
    WITH h AS (SELECT password_hash FROM credentials LIMIT 1),
    u AS (
      INSERT INTO users (id, email, username, first_name, last_name, role, is_active,
                         created_at, updated_at)
      SELECT gen_random_uuid(), 'user' || g || '@bench.local', 'member' || g,
             ({pg_array(FIRST)})[1 + g % 20], ({pg_array(LAST)})[1 + (g / 20) % 20],
             CASE WHEN g % 100 = 1 THEN 'sub_admin' ELSE 'user' END, g % 50 <> 0,
             now() - g * interval '1 second', now() - g * interval '1 second'
      FROM generate_series(2, {users}) g RETURNING id, created_at
    )
    INSERT INTO credentials (id, user_id, password_hash, is_current, created_at)
    SELECT gen_random_uuid(), u.id, h.password_hash, true, u.created_at FROM u, h;
    """)
    step(f"{users:,} users and credentials", t)
    t = time.time()
    psql("""
    INSERT INTO sessions (id, user_id, created_at, expires_at, user_agent, ip, refresh_jti,
                          refresh_iat, refresh_exp)
    SELECT gen_random_uuid(), u.id, now() - s * interval '1 hour', now() + interval '30 days',
           'bench', '127.0.0.1', gen_random_uuid(), now() - s * interval '1 hour',
           now() + interval '30 days'
    FROM users u, generate_series(1, 5) s;
    """)
    step(f"{5 * users:,} sessions", t)
    t = time.time()
    psql(f"""
    INSERT INTO audit_events (id, at, type, actor_id, subject_id, ip, user_agent, detail)
    SELECT gen_random_uuid(), u.created_at + e * interval '1 minute',
           ({pg_array(TYPES)})[1 + (e + abs(hashtext(u.email))) % 10],
           u.id, u.id, '127.0.0.1', 'bench', '{{}}'
    FROM users u, generate_series(1, 10) e;
    """)
    step(f"{10 * users:,} audit events", t)
    t = time.time()
    psql(COUNTS)
    step("audit event counts", t)
    t = time.time()
    psql("VACUUM ANALYZE")
    step("VACUUM ANALYZE", t)


def seed_sqlite():
    import os
    import sqlite3

    db = sqlite3.connect(url.removeprefix("sqlite://"))
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -4000000")
    db.execute("PRAGMA temp_store = MEMORY")
    # Ids as doorman makes them, UUIDv7 (time first), handed out in ascending order so each
    # primary key grows at its right edge instead of splitting pages all over a B-tree.
    base_ms = int(time.time() * 1000) - 10 ** 10
    counter = iter(range(1, 1 << 62))

    def v7():
        ms = base_ms + next(counter)
        tail = os.urandom(9).hex()
        return f"{ms >> 16:08x}-{ms & 0xFFFF:04x}-7{tail[:3]}-a{tail[3:6]}-{tail[6:18]}"

    db.create_function("v7", 0, v7)
    (hash_,) = db.execute("SELECT password_hash FROM credentials LIMIT 1").fetchone()
    db.execute("UPDATE users SET role = 'admin' WHERE email = 'user1@bench.local'")
    db.execute("CREATE TEMP TABLE firsts (i INTEGER PRIMARY KEY, name TEXT)")
    db.execute("CREATE TEMP TABLE lasts (i INTEGER PRIMARY KEY, name TEXT)")
    db.execute("CREATE TEMP TABLE types (i INTEGER PRIMARY KEY, name TEXT)")
    db.executemany("INSERT INTO firsts VALUES (?, ?)", enumerate(FIRST))
    db.executemany("INSERT INTO lasts VALUES (?, ?)", enumerate(LAST))
    db.executemany("INSERT INTO types VALUES (?, ?)", enumerate(TYPES))
    # The secondary indexes go while the rows go in and are built again at the end: one
    # sort per index instead of fifteen million random inserts into each.
    tables = ("users", "credentials", "sessions", "audit_events")
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        f" AND tbl_name IN ({','.join('?' * len(tables))})", tables).fetchall()
    for name, _ in indexes:
        db.execute(f'DROP INDEX "{name}"')
    # Fixed-width RFC 3339 with microseconds, as doorman writes them.
    ts = "strftime('%Y-%m-%dT%H:%M:%S', 'now', {}) || '.000000Z'"
    t = time.time()
    # Oldest first, so rowid order is creation order, as when people register one by one.
    db.execute(f"""
    INSERT INTO users (id, email, username, first_name, last_name, role, is_active,
                       created_at, updated_at)
    WITH RECURSIVE g(n) AS (SELECT {users} UNION ALL SELECT n - 1 FROM g WHERE n > 2)
    SELECT v7(), 'user' || n || '@bench.local', 'member' || n,
           (SELECT name FROM firsts WHERE i = n % 20), (SELECT name FROM lasts WHERE i = (n / 20) % 20),
           CASE WHEN n % 100 = 1 THEN 'sub_admin' ELSE 'user' END, n % 50 <> 0,
           {ts.format("'-' || n || ' seconds'")}, {ts.format("'-' || n || ' seconds'")}
    FROM g""")
    db.execute("""
    INSERT INTO credentials (id, user_id, password_hash, is_current, created_at)
    SELECT v7(), id, ?, 1, created_at FROM users WHERE email <> 'user1@bench.local'
    ORDER BY rowid""", (hash_,))
    db.commit()
    step(f"{users:,} users and credentials", t)
    t = time.time()
    db.execute(f"""
    INSERT INTO sessions (id, user_id, created_at, expires_at, user_agent, ip, refresh_jti,
                          refresh_iat, refresh_exp)
    WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < 5)
    SELECT v7(), u.id, {ts.format("'-' || k || ' hours'")}, {ts.format("'+30 days'")},
           'bench', '127.0.0.1', v7(), {ts.format("'-' || k || ' hours'")}, {ts.format("'+30 days'")}
    FROM users u, s ORDER BY u.rowid, k""")
    db.commit()
    step(f"{5 * users:,} sessions", t)
    t = time.time()
    db.execute(f"""
    INSERT INTO audit_events (id, at, type, actor_id, subject_id, ip, user_agent, detail)
    WITH RECURSIVE e(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM e WHERE k < 10)
    SELECT v7(), strftime('%Y-%m-%dT%H:%M:%S', u.created_at, '+' || k || ' minutes') || '.000000Z',
           (SELECT name FROM types WHERE i = (k + u.rowid) % 10), u.id, u.id, '127.0.0.1', 'bench', '{{}}'
    FROM users u, e ORDER BY u.rowid, k""")
    db.commit()
    step(f"{10 * users:,} audit events", t)
    t = time.time()
    db.executescript(COUNTS)
    step("audit event counts", t)
    t = time.time()
    for _, sql in indexes:
        db.execute(sql)
    db.commit()
    step(f"{len(indexes)} secondary indexes built again", t)
    t = time.time()
    db.execute("ANALYZE")
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    step("ANALYZE", t)


print(f"seeding {users:,} users through SQL ({'PostgreSQL' if url.startswith('postgres') else 'SQLite'})")
(seed_postgres if url.startswith("postgres") else seed_sqlite)()
