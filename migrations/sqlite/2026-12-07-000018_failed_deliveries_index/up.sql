-- The retention job removes failed webhook deliveries seven days after their event; this
-- index finds them without reading the delivered ones.
CREATE INDEX webhook_deliveries_failed_idx ON webhook_deliveries (created_at) WHERE status = 'failed';
