DROP INDEX users_role_created_at_idx;
