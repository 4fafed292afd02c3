#!/usr/bin/env python3
"""Seeds COUNT revoked sessions, straight into the database, for the users already there;
their revocations are spread evenly over the revocation feed's window (the last 15 minutes,
less 30 s, so that none falls out of it during a run) and all have settled.

usage: seed_revoked.py DATABASE_URL COUNT
"""
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

database_url, count = sys.argv[1], int(sys.argv[2])
now = datetime.now(timezone.utc)
span = timedelta(minutes=14, seconds=30)


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # doorman's own form on SQLite


if database_url.startswith("sqlite"):
    import sqlite3

    db = sqlite3.connect(database_url.removeprefix("sqlite://"))
    users = [row[0] for row in db.execute("SELECT id FROM users")]
    rows = []
    for i in range(count):
        revoked = now - span + span * (i / count)
        created = revoked - timedelta(minutes=5)
        expires = created + timedelta(days=30)
        rows.append((str(uuid.uuid4()), users[i % len(users)], ts(created), ts(expires), ts(revoked),
                     str(uuid.uuid4()), ts(created), ts(expires)))
    db.executemany(
        "INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at, refresh_jti, refresh_iat, refresh_exp)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.commit()
    db.execute("ANALYZE")
else:
    sql = f"""
    WITH u AS (SELECT array_agg(id) AS ids FROM users),
    s AS (
      SELECT g, now() - interval '14 minutes 30 seconds' + interval '870 seconds' * g / {count} AS revoked
      FROM generate_series(0, {count} - 1) g
    )
    INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at, refresh_jti, refresh_iat, refresh_exp)
    SELECT gen_random_uuid(), u.ids[1 + g % array_length(u.ids, 1)], revoked - interval '5 minutes',
           revoked + interval '30 days', revoked, gen_random_uuid(), revoked - interval '5 minutes',
           revoked + interval '30 days'
    FROM s, u;
    """
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", database_url, "-c", sql], check=True)
    subprocess.run(["psql", "-q", database_url, "-c", "VACUUM ANALYZE sessions"], check=True)
print(f"seeded {count} revoked sessions over the last {span}")
