DELETE FROM job_runs WHERE name = 'audit_recount';
DROP TABLE audit_event_counts;
