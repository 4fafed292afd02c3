-- Webhook endpoints and their outbox. A delivery row is written in the transaction of the
-- change it reports (so a rolled-back change sends nothing), one per endpoint per event,
-- and is claimed by one instance at a time through `locked_until` (a lease, no lock held).
-- No foreign key from deliveries to endpoints: a change committing while its endpoint is
-- deleted must not fail; the worker drops deliveries whose endpoint is gone.
CREATE TABLE webhook_endpoints (
    id          uuid PRIMARY KEY,
    url         text NOT NULL,
    -- A JSON array of audit types, or ["*"].
    events      text NOT NULL,
    description text,
    -- `whsec_…`; DATA_KEY: to be sealed under the data key.
    secret      text NOT NULL,
    is_active   boolean NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    endpoint_id      uuid NOT NULL,
    event_id         uuid NOT NULL,
    type             text NOT NULL,
    payload          text NOT NULL,
    -- pending | delivered | failed
    status           text NOT NULL,
    attempts         integer NOT NULL,
    next_attempt_at  timestamptz,
    locked_until     timestamptz,
    locked_by        text,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL,
    delivered_at     timestamptz
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_delivered_idx ON webhook_deliveries (delivered_at) WHERE status = 'delivered';
