import { errorFields, type Logger } from "../lib/logger.js";
import { sleep } from "../lib/sleep.js";
import { enqueue } from "./enqueue.js";
import type { QueueMessageBody } from "./messages.js";
import type { NotificationStore, Outcome } from "./store.js";

/** Waits before the record's retries: a short outage is ridden out within the invocation. */
const RECORD_RETRY_DELAYS_MS = [200, 800];

/**
 * Where the outcomes went: into Postgres; or, Postgres failing, onto the queue as `outcome` messages
 * (recorded later, the claims meanwhile keep anyone else from sending; a given-back claim with a
 * `retryIn` gets its next attempt from there); or neither.
 */
export type Recorded = "recorded" | "queued" | "lost";

/** What recording needs. */
export interface RecordDeps {
  store: NotificationStore;
  queue: Queue<QueueMessageBody>;
  logger: Logger;
}


/**
 * Records outcomes, in one round trip, so that nothing sent is ever sent again because its record
 * failed: retried briefly, then carried by the queue.
 */
export async function recordOutcomes(outcomes: Outcome[], deps: RecordDeps): Promise<Recorded> {
  if (outcomes.length === 0) return "recorded";
  for (let attempt = 0; ; attempt++) {
    try {
      await deps.store.record(outcomes);
      return "recorded";
    } catch (error) {
      const delay = RECORD_RETRY_DELAYS_MS[attempt];
      if (delay === undefined) {
        deps.logger.warn("notification outcomes not recorded, putting them on the queue", { outcomes: outcomes.length, ...errorFields(error) });
        break;
      }
      await sleep(delay);
    }
  }
  const carried = outcomes.map(
    (o): QueueMessageBody => ({
      v: 1,
      kind: "outcome",
      n: o.notificationId,
      c: o.chatId,
      lease: o.lease,
      status: o.status,
      message_id: o.messageId,
      error: o.error,
      ...(o.retryIn === undefined ? {} : { retry_in: o.retryIn }),
    }),
  );
  try {
    await enqueue(deps.queue, carried.map((body) => ({ body })));
    return "queued";
  } catch (error) {
    // Their claims run out and the messages are redelivered: the chats Telegram accepted get the message again.
    deps.logger.error("notification outcomes lost", { outcomes: carried.length, ...errorFields(error) });
    return "lost";
  }
}
