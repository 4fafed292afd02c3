-- The audit trail's totals without counting it (issue 21: counting ten million events took
-- 1.2 s). Every audit event adds one to its type's row in one of eight shards, in the
-- transaction that writes the event (the shards spread concurrent writers of one type over
-- eight rows); retention subtracts what it deletes, in its transaction. A type's total is
-- the sum of its shards. The retention job recounts once a day and adds any difference
-- (events that instances older than this migration wrote during an upgrade).
CREATE TABLE audit_event_counts (
    type   text NOT NULL,
    shard  smallint NOT NULL,
    events bigint NOT NULL,
    PRIMARY KEY (type, shard)
);
INSERT INTO audit_event_counts (type, shard, events)
SELECT type, 0, count(*) FROM audit_events GROUP BY type;
INSERT INTO job_runs (name, ran_at) VALUES ('audit_recount', '1970-01-01T00:00:00Z') ON CONFLICT DO NOTHING;
