import { createExecutionContext, createMessageBatch, getQueueResult, type QueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { inject } from "vitest";
import worker from "../../src/index.js";
import type { QueueMessageBody } from "../../src/notifications/messages.js";
import { TEST_SECRETS } from "./bindings.js";
import { callWorker, testSql } from "./helpers.js";

/** The queues of wrangler.toml. */
export const QUEUE = "mtt-bot-notifications";
export const DEAD_LETTER_QUEUE = "mtt-bot-notifications-dlq";

const sql = testSql();
const auth = { Authorization: `Bearer ${TEST_SECRETS.BOT_INTERNAL_API_TOKEN}` };

let nextChat = 810_000_000 + Math.floor(Math.random() * 100_000) * 100;
let nextWebUser = 2_000_000 + Math.floor(Math.random() * 100_000) * 10;
let nextId = Math.floor(Math.random() * 1e9);

/** A notification id no other test uses. */
export const freshNotificationId = (): string => `test:${nextId++}`;

/** `count` Telegram accounts linked to a new web account (private chats: chat id = user id). */
export async function linkedChats(count: number): Promise<{ webUserId: number; chats: string[] }> {
  const webUserId = nextWebUser++;
  const first = nextChat;
  nextChat += count;
  await sql.query(
    `INSERT INTO telegram_accounts (telegram_user_id, chat_id, first_name, web_user_id, linked_at)
     SELECT g, g, 'Test', $2, now() FROM generate_series($1::bigint, $1::bigint + $3 - 1) g`,
    [first, webUserId, count],
  );
  return { webUserId, chats: Array.from({ length: count }, (_, i) => String(first + i)) };
}

/** A fresh chat id that no account has. */
export const freshChat = (): string => String(nextChat++);

/** A notification recorded straight in Postgres, with a pending delivery per chat and nothing on the queue. */
export async function recordedNotification(chats: string[], text = "Recorded"): Promise<string> {
  const id = freshNotificationId();
  await sql.transaction((txn) => [
    txn.query(
      `INSERT INTO notifications (id, fingerprint, kind, text, recipients, enqueued_at) VALUES ($1, 'fixture', 'queued', $2, $3, now())`,
      [id, text, chats.length],
    ),
    txn.query(`INSERT INTO notification_deliveries (notification_id, chat_id) SELECT $1, unnest($2::bigint[])`, [id, chats]),
  ]);
  return id;
}

/** Calls the notifications API. */
export async function api(path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await callWorker(`/bot/internal${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: body === undefined ? auth : { ...auth, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** The notification's status once every delivery is done (the queue consumer runs in the background). */
export async function settled(id: string, query = "", timeoutMs = 20_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api(`/notifications/${id}${query}`);
    if (body.done === true || Date.now() > until) return body;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One delivery row as stored. */
export async function delivery(id: string, chat: string): Promise<Record<string, unknown> | undefined> {
  const rows = (await sql.query(
    `SELECT status, attempts, message_id::text, error, lease IS NOT NULL AS held FROM notification_deliveries WHERE notification_id = $1 AND chat_id = $2`,
    [id, chat],
  )) as Record<string, unknown>[];
  return rows[0];
}

let messageSeq = 0;

/** A batch as the queue would deliver it. */
export function batchOf(queue: string, bodies: unknown[], attempts = 1): MessageBatch<QueueMessageBody> {
  return createMessageBatch<QueueMessageBody>(
    queue,
    bodies.map((body) => ({ id: `msg-${messageSeq++}`, timestamp: new Date(), attempts, body: body as QueueMessageBody })),
  );
}

/** A `deliver` message. */
export const deliverBody = (n: string, c: string): QueueMessageBody => ({ v: 1, kind: "deliver", n, c });

/**
 * How each message of a batch was settled. The plugin's `getQueueResult` leaves out each retry's
 * `delaySeconds`; the messages' `retry` is wrapped to add it.
 */
export async function settlementOf(batch: MessageBatch<QueueMessageBody>, handle: () => Promise<void>): Promise<QueueResult> {
  const delays = new Map<string, number | undefined>();
  for (const message of batch.messages) {
    const retry = message.retry.bind(message);
    Object.defineProperty(message, "retry", {
      value: (options?: QueueRetryOptions) => {
        delays.set(message.id, options?.delaySeconds);
        retry(options);
      },
    });
  }
  await handle();
  const result = await getQueueResult(batch, createExecutionContext());
  return { ...result, retryMessages: result.retryMessages.map((r) => ({ ...r, delaySeconds: delays.get(r.msgId) })) };
}

/** Runs the Worker's queue handler on a batch, with the test bindings or others; returns how each message was settled. */
export function consume(batch: MessageBatch<QueueMessageBody>, bindings: Env = env): Promise<QueueResult> {
  return settlementOf(batch, () => worker.queue(batch as MessageBatch<unknown>, bindings));
}

/** The Bot API double's flood control: on with these settings, or off. */
export const floodControl = {
  async on(settings: Record<string, unknown> = {}): Promise<void> {
    const response = await fetch(`${inject("botApiUrl")}/__control/flood`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(settings),
    });
    if (!response.ok) throw new Error(`flood control: HTTP ${response.status}`);
  },
  async report(): Promise<{ sends: { chat_id: string; at: number }[]; refused: Record<string, number> }> {
    return (await fetch(`${inject("botApiUrl")}/__control/flood`)).json();
  },
};

/** The bot's pacer (one per bot, named after the token's id). */
export function pacer(): DurableObjectStub<import("../../src/notifications/pacer.js").NotificationPacer> {
  const namespace = env.NOTIFICATION_PACER;
  return namespace.get(namespace.idFromName(`bot:${TEST_SECRETS.TELEGRAM_BOT_TOKEN.split(":")[0]}`));
}
