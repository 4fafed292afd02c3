DELETE FROM job_runs WHERE name = 'user_recount';
DROP TABLE user_counts;
