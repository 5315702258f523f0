import type { Db } from "../clients/db.js";
import type { ParseMode } from "../lib/telegram-text.js";
import type { Button, NotificationContent } from "./content.js";

/** Deliveries enqueued per page: the producer enqueues the first, a fan-out message each other one. */
export const PAGE_SIZE = 1000;

/** Who a notification goes to: the linked, unblocked chats of these web accounts, or of all of them. */
export type Audience = { userIds: number[] } | "all_linked";

/** A notification to record. */
export interface NewNotification extends NotificationContent {
  id: string;
  fingerprint: string;
  kind: "queued" | "direct";
  audience: Audience;
}

/** A notification as stored. */
export interface NotificationRow {
  id: string;
  fingerprint: string;
  recipients: number;
  /** Every delivery is on the queue. */
  enqueued: boolean;
  /** A request holds the lease to enqueue it right now. */
  enqueuing: boolean;
}

/** Where a delivery stands. */
export type DeliveryStatus = "pending" | "sending" | "sent" | "blocked" | "failed";

/** One (notification, chat). */
export interface DeliveryKey {
  notificationId: string;
  chatId: string;
}

/** What a claim found for one delivery. */
export type ClaimResult =
  | { state: "claimed"; content: NotificationContent }
  /** Already sent, blocked or failed: nothing to do. */
  | { state: "done" }
  /** Another consumer holds it for about `seconds` more. */
  | { state: "held"; seconds: number }
  /** No such delivery (a message of a notification that no longer exists). */
  | { state: "missing" };

/** The outcome to record for a claimed delivery; `pending` gives the claim back for a later attempt. */
export interface Outcome extends DeliveryKey {
  lease: string;
  status: "sent" | "blocked" | "failed" | "pending";
  messageId: number | null;
  error: string | null;
  /** For `pending`: seconds until the next attempt, when the queue is to carry it (see `recordOutcomes`). */
  retryIn?: number;
}

/** One delivery as the status API reports it. */
export interface DeliveryRow {
  chat_id: string;
  status: DeliveryStatus;
  message_id: number | null;
  error: string | null;
  attempts: number;
}

/** Counts of a notification's deliveries. */
export interface NotificationStatus {
  id: string;
  created_at: string;
  recipients: number;
  sent: number;
  blocked: number;
  failed: number;
  pending: number;
  done: boolean;
}

/** How long a claim holds before a redelivery may take it: past the pacer's look-ahead, the send timeout and the record's retries. */
export const LEASE_SECONDS = 120;
/** How long a request holds the right to enqueue a notification's deliveries. */
const ENQUEUE_LEASE_SECONDS = 60;

const CLAIM = `
WITH wanted AS (
  SELECT DISTINCT * FROM unnest($1::text[], $2::bigint[]) AS w(notification_id, chat_id)
), claimed AS (
  UPDATE notification_deliveries d
  SET status = 'sending', attempts = d.attempts + 1, lease = $3::uuid,
      lease_until = now() + make_interval(secs => $4), updated_at = now()
  FROM wanted w
  WHERE d.notification_id = w.notification_id AND d.chat_id = w.chat_id
    AND (d.status = 'pending' OR (d.status = 'sending' AND d.lease_until <= now()))
  RETURNING d.notification_id, d.chat_id, d.attempts
)
SELECT w.notification_id, w.chat_id::text AS chat_id, c.attempts AS claimed_attempts, d.status,
       greatest(0, extract(epoch FROM d.lease_until - now()))::float8 AS lease_seconds
FROM wanted w
LEFT JOIN claimed c ON c.notification_id = w.notification_id AND c.chat_id = w.chat_id
LEFT JOIN notification_deliveries d ON d.notification_id = w.notification_id AND d.chat_id = w.chat_id`;

const CONTENTS = `SELECT id, text, parse_mode, disable_notification, buttons FROM notifications WHERE id = ANY($1::text[])`;

// A final status is never overwritten, and only the claim's own holder records over it.
const RECORD = `
WITH o AS (
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::text[], $5::bigint[], $6::text[])
    AS o(notification_id, chat_id, lease, status, message_id, error)
), recorded AS (
  UPDATE notification_deliveries d
  SET status = o.status, message_id = o.message_id, error = o.error, lease = NULL, lease_until = NULL, updated_at = now()
  FROM o
  WHERE d.notification_id = o.notification_id AND d.chat_id = o.chat_id AND d.status = 'sending' AND d.lease = o.lease
  RETURNING d.chat_id
), blocked AS (
  UPDATE telegram_accounts a SET is_blocked = TRUE, updated_at = now()
  WHERE a.chat_id IN (SELECT chat_id FROM o WHERE status = 'blocked') AND NOT a.is_blocked
  RETURNING a.chat_id
)
SELECT (SELECT count(*) FROM recorded)::int AS recorded`;

// Gives up on deliveries no one holds; a live claim finishes on its own, so it is reported as held.
const GIVE_UP = `
WITH wanted AS (
  SELECT DISTINCT * FROM unnest($1::text[], $2::bigint[]) AS w(notification_id, chat_id)
), given_up AS (
  UPDATE notification_deliveries d
  SET status = 'failed', error = 'gave_up', lease = NULL, lease_until = NULL, updated_at = now()
  FROM wanted w
  WHERE d.notification_id = w.notification_id AND d.chat_id = w.chat_id
    AND (d.status = 'pending' OR (d.status = 'sending' AND d.lease_until <= now()))
  RETURNING d.notification_id, d.chat_id
)
SELECT w.notification_id, w.chat_id::text AS chat_id, g.chat_id IS NOT NULL AS gave_up,
       CASE WHEN g.chat_id IS NULL AND d.status = 'sending' AND d.lease_until > now()
            THEN extract(epoch FROM d.lease_until - now())::float8 END AS held_seconds
FROM wanted w
LEFT JOIN given_up g ON g.notification_id = w.notification_id AND g.chat_id = w.chat_id
LEFT JOIN notification_deliveries d ON d.notification_id = w.notification_id AND d.chat_id = w.chat_id`;

interface NotificationRecord {
  id: string;
  fingerprint: string;
  recipients: number;
  enqueued: boolean;
  enqueuing: boolean;
}

function rowOf(record: NotificationRecord): NotificationRow {
  return {
    id: record.id,
    fingerprint: record.fingerprint,
    recipients: Number(record.recipients),
    enqueued: record.enqueued,
    enqueuing: record.enqueuing,
  };
}

const SELECT_NOTIFICATION = `SELECT id, fingerprint, recipients, enqueued_at IS NOT NULL AS enqueued,
  coalesce(enqueue_lease_until > now(), FALSE) AS enqueuing FROM notifications WHERE id = $1`;

/** Notifications and their per-chat deliveries in Postgres; each method is one round trip. */
export class NotificationStore {
  constructor(private readonly db: Db) {}

  /**
   * Records the notification and a delivery for each of its chats, unless one with this id exists.
   * Concurrent calls with one id create it once (the others wait for it and find it).
   * @returns whether this call created it, the stored row, and when it did, the first page of chats.
   */
  async create(notification: NewNotification): Promise<{ created: boolean; row: NotificationRow; firstPage: string[] }> {
    const userIds = notification.audience === "all_linked" ? null : notification.audience.userIds;
    const [[inserted], [stored]] = (await this.db.transaction([
      {
        text: `
WITH recipients AS (
  SELECT DISTINCT chat_id FROM telegram_accounts
  WHERE web_user_id IS NOT NULL AND NOT is_blocked AND ($2::bigint[] IS NULL OR web_user_id = ANY($2::bigint[]))
), created AS (
  INSERT INTO notifications (id, fingerprint, kind, text, parse_mode, disable_notification, buttons, recipients, enqueue_lease_until)
  SELECT $1, $3, $4, $5, $6, $7, $8::jsonb, (SELECT count(*) FROM recipients), now() + make_interval(secs => $9)
  ON CONFLICT (id) DO NOTHING
  RETURNING id
), deliveries AS (
  INSERT INTO notification_deliveries (notification_id, chat_id)
  SELECT created.id, recipients.chat_id FROM created CROSS JOIN recipients
  RETURNING chat_id
)
SELECT (SELECT count(*) FROM created)::int AS created,
       (SELECT coalesce(array_agg(chat_id::text ORDER BY chat_id), '{}')
        FROM (SELECT chat_id FROM deliveries ORDER BY chat_id LIMIT $10) page) AS first_page`,
        params: [
          notification.id,
          userIds,
          notification.fingerprint,
          notification.kind,
          notification.text,
          notification.parseMode ?? null,
          notification.disableNotification,
          notification.buttons === undefined ? null : JSON.stringify(notification.buttons),
          ENQUEUE_LEASE_SECONDS,
          PAGE_SIZE,
        ],
      },
      { text: SELECT_NOTIFICATION, params: [notification.id] },
    ])) as [[{ created: number; first_page: string[] }], [NotificationRecord]];
    return { created: inserted.created === 1, row: rowOf(stored), firstPage: inserted.first_page };
  }

  /** Takes the right to enqueue a notification that is not on the queue and that no request is enqueueing. */
  async takeEnqueueLease(id: string): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE notifications SET enqueue_lease_until = now() + make_interval(secs => $2)
       WHERE id = $1 AND enqueued_at IS NULL AND (enqueue_lease_until IS NULL OR enqueue_lease_until <= now())
       RETURNING id`,
      [id, ENQUEUE_LEASE_SECONDS],
    );
    return rows.length === 1;
  }

  async markEnqueued(id: string): Promise<void> {
    await this.db.query(`UPDATE notifications SET enqueued_at = now(), enqueue_lease_until = NULL WHERE id = $1`, [id]);
  }

  async releaseEnqueueLease(id: string): Promise<void> {
    await this.db.query(`UPDATE notifications SET enqueue_lease_until = NULL WHERE id = $1 AND enqueued_at IS NULL`, [id]);
  }

  /** The chats of one page of a notification's deliveries, in chat order. */
  async page(id: string, page: number): Promise<string[]> {
    const rows = await this.db.query<{ chat_id: string }>(
      `SELECT chat_id::text AS chat_id FROM notification_deliveries WHERE notification_id = $1 ORDER BY chat_id OFFSET $2 LIMIT $3`,
      [id, page * PAGE_SIZE, PAGE_SIZE],
    );
    return rows.map((row) => row.chat_id);
  }

  /**
   * Claims the deliveries that are pending (or whose claim ran out) for the holder of `lease`, and
   * reads the content of their notifications, in one round trip.
   */
  async claim(keys: DeliveryKey[], lease: string): Promise<Map<string, ClaimResult>> {
    const [rows, contents] = (await this.db.transaction([
      { text: CLAIM, params: [keys.map((k) => k.notificationId), keys.map((k) => k.chatId), lease, LEASE_SECONDS] },
      { text: CONTENTS, params: [[...new Set(keys.map((k) => k.notificationId))]] },
    ])) as [
      { notification_id: string; chat_id: string; claimed_attempts: number | null; status: DeliveryStatus | null; lease_seconds: number | null }[],
      { id: string; text: string; parse_mode: ParseMode | null; disable_notification: boolean; buttons: Button[] | null }[],
    ];
    const content = new Map(
      contents.map((row) => [
        row.id,
        { text: row.text, parseMode: row.parse_mode ?? undefined, disableNotification: row.disable_notification, buttons: row.buttons ?? undefined },
      ]),
    );
    const results = new Map<string, ClaimResult>();
    for (const row of rows) {
      const key = deliveryKeyOf({ notificationId: row.notification_id, chatId: row.chat_id });
      const found = content.get(row.notification_id);
      if (row.claimed_attempts !== null && found !== undefined) {
        results.set(key, { state: "claimed", content: found });
      } else if (row.status === null || found === undefined) {
        results.set(key, { state: "missing" });
      } else if (row.status === "sent" || row.status === "blocked" || row.status === "failed") {
        results.set(key, { state: "done" });
      } else {
        // Pending when the statement began but claimed by a concurrent one: that one holds it now.
        results.set(key, { state: "held", seconds: row.status === "sending" ? (row.lease_seconds ?? LEASE_SECONDS) : LEASE_SECONDS });
      }
    }
    return results;
  }

  /** Records outcomes, gives claims back and marks the accounts of blocked chats, in one round trip. */
  async record(outcomes: Outcome[]): Promise<number> {
    if (outcomes.length === 0) return 0;
    const [row] = await this.db.query<{ recorded: number }>(RECORD, [
      outcomes.map((o) => o.notificationId),
      outcomes.map((o) => o.chatId),
      outcomes.map((o) => o.lease),
      outcomes.map((o) => o.status),
      outcomes.map((o) => o.messageId),
      outcomes.map((o) => o.error),
    ]);
    return row?.recorded ?? 0;
  }

  /**
   * Records `failed` (`gave_up`) for deliveries whose messages used up their retries.
   * @returns how many it gave up on, and the ones another consumer still holds, with for how many seconds.
   */
  async giveUp(keys: DeliveryKey[]): Promise<{ gaveUp: number; held: Map<string, number> }> {
    const rows = await this.db.query<{ notification_id: string; chat_id: string; gave_up: boolean; held_seconds: number | null }>(GIVE_UP, [
      keys.map((k) => k.notificationId),
      keys.map((k) => k.chatId),
    ]);
    const held = new Map<string, number>();
    for (const row of rows) {
      if (row.held_seconds !== null) held.set(deliveryKeyOf({ notificationId: row.notification_id, chatId: row.chat_id }), row.held_seconds);
    }
    return { gaveUp: rows.filter((row) => row.gave_up).length, held };
  }

  /** The counts of a notification's deliveries, or undefined for an unknown id. */
  async status(id: string): Promise<NotificationStatus | undefined> {
    const [row] = await this.db.query<{ id: string; created_at: string; recipients: number; sent: number; blocked: number; failed: number }>(
      `SELECT n.id, n.created_at, n.recipients,
              count(*) FILTER (WHERE d.status = 'sent')::int AS sent,
              count(*) FILTER (WHERE d.status = 'blocked')::int AS blocked,
              count(*) FILTER (WHERE d.status = 'failed')::int AS failed
       FROM notifications n LEFT JOIN notification_deliveries d ON d.notification_id = n.id
       WHERE n.id = $1 GROUP BY n.id`,
      [id],
    );
    if (row === undefined) return undefined;
    const pending = Number(row.recipients) - row.sent - row.blocked - row.failed;
    return {
      id: row.id,
      created_at: new Date(row.created_at).toISOString(),
      recipients: Number(row.recipients),
      sent: row.sent,
      blocked: row.blocked,
      failed: row.failed,
      pending,
      done: pending === 0,
    };
  }

  /** Up to `limit` deliveries of a notification after chat `after` (undefined: from the start), in chat order. */
  async deliveries(id: string, after: string | undefined, limit: number): Promise<DeliveryRow[]> {
    const rows = await this.db.query<DeliveryRow>(
      `SELECT chat_id::text AS chat_id, status, message_id, error, attempts FROM notification_deliveries
       WHERE notification_id = $1 AND ($2::bigint IS NULL OR chat_id > $2::bigint) ORDER BY chat_id LIMIT $3`,
      [id, after ?? null, limit],
    );
    return rows.map((row) => ({ ...row, message_id: row.message_id === null ? null : Number(row.message_id) }));
  }
}

/** A map key for one (notification, chat). */
export function deliveryKeyOf(key: DeliveryKey): string {
  return `${key.notificationId} ${key.chatId}`;
}
