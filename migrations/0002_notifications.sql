-- Notifications from the Django backend (POST /bot/internal/notifications, and /notify with an id):
-- one row per notification, keyed by Django's idempotency key, and one delivery per chat.
CREATE TABLE notifications (
  id                  TEXT        PRIMARY KEY,
  -- SHA-256 of the normalised request: the same id with another body is refused.
  fingerprint         TEXT        NOT NULL,
  -- 'queued' (POST /notifications, sent by the queue consumer) or 'direct' (POST /notify, sent in the request).
  kind                TEXT        NOT NULL CHECK (kind IN ('queued', 'direct')),
  text                TEXT        NOT NULL,
  parse_mode          TEXT,
  disable_notification BOOLEAN    NOT NULL DEFAULT FALSE,
  buttons             JSONB,
  recipients          INTEGER     NOT NULL,
  -- Set once every delivery is on the queue; until then the request holding the lease enqueues them.
  enqueued_at         TIMESTAMPTZ,
  enqueue_lease_until TIMESTAMPTZ,
  created_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One message to one chat. 'sending' is a claim: the consumer holding `lease` until `lease_until`
-- sends it and records the outcome; a claim whose lease ran out may be taken again.
CREATE TABLE notification_deliveries (
  notification_id TEXT        NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
  chat_id         BIGINT      NOT NULL,
  status          TEXT        NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'sending', 'sent', 'blocked', 'failed')),
  attempts        INTEGER     NOT NULL DEFAULT 0,
  lease           UUID,
  lease_until     TIMESTAMPTZ,
  message_id      BIGINT,
  error           TEXT,
  updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (notification_id, chat_id)
);
