-- See the PostgreSQL twin.
CREATE TABLE webhook_endpoints (
    id          text PRIMARY KEY,
    url         text NOT NULL,
    -- A JSON array of audit types, or ["*"].
    events      text NOT NULL,
    description text,
    -- `whsec_…`; DATA_KEY: to be sealed under the data key.
    secret      text NOT NULL,
    is_active   integer NOT NULL,
    created_at  text NOT NULL,
    updated_at  text NOT NULL
);

CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY,
    endpoint_id      text NOT NULL,
    event_id         text NOT NULL,
    type             text NOT NULL,
    payload          text NOT NULL,
    -- pending | delivered | failed
    status           text NOT NULL,
    attempts         integer NOT NULL,
    next_attempt_at  text,
    locked_until     text,
    locked_by        text,
    last_status_code integer,
    last_error       text,
    created_at       text NOT NULL,
    delivered_at     text
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_delivered_idx ON webhook_deliveries (delivered_at) WHERE status = 'delivered';
