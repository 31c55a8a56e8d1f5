-- Web Push: devices that asked for alerts, and one delivery per (notification, device).
-- A notification is fanned out once into deliveries (fanned_out_at); senders claim due
-- deliveries with a lease so several senders never send the same one twice in the normal case.

ALTER TABLE notifications ADD COLUMN fanned_out_at BIGINT;

CREATE INDEX notifications_unfanned ON notifications (fanned_out_at, id);

CREATE TABLE push_subscriptions (
    id {{id}},
    owner_kind TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    endpoint TEXT NOT NULL UNIQUE,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX push_subscriptions_owner ON push_subscriptions (owner_kind, owner_id);

CREATE TABLE push_deliveries (
    id {{id}},
    notification_id BIGINT NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    subscription_id BIGINT NOT NULL REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    claim TEXT,
    last_status INTEGER,
    updated_at BIGINT NOT NULL,
    UNIQUE (notification_id, subscription_id)
);

CREATE INDEX push_deliveries_due ON push_deliveries (state, next_attempt_at);
