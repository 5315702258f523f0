import { errorFields, type Logger } from "../lib/logger.js";
import { fingerprintOf, type NotificationContent } from "./content.js";
import { enqueue, type Enqueued } from "./enqueue.js";
import { deliverBody, type QueueMessageBody } from "./messages.js";
import { PAGE_SIZE, type Audience, type NotificationRow, type NotificationStore } from "./store.js";

/** A notification Django hands over. */
export interface NotificationRequest extends NotificationContent {
  id: string;
  audience: Audience;
}

/** The answer to a hand-over. */
export type Acceptance =
  /** Accepted by this request, which put it on the queue (202), or accepted before (200). */
  | { outcome: "enqueued" | "accepted"; row: NotificationRow }
  /** The id is taken by a notification with another body (409). */
  | { outcome: "conflict" };

/** What the producer needs. */
export interface ProducerDeps {
  store: NotificationStore;
  queue: Queue<QueueMessageBody>;
  logger: Logger;
}

/** The normalised request whose fingerprint decides whether a reused id means the same notification. */
export function requestFingerprint(kind: "queued" | "direct", request: NotificationRequest): Promise<string> {
  const { audience, text, parseMode, disableNotification, buttons } = request;
  const to = audience === "all_linked" ? audience : [...new Set(audience.userIds)].sort((a, b) => a - b);
  return fingerprintOf({ kind, to, text, parseMode: parseMode ?? null, disableNotification, buttons: buttons ?? null });
}

/**
 * Records a notification and its deliveries, then puts them on the queue: the first page as one
 * message per chat, every further page as a fan-out message the consumer expands. Idempotent by id:
 * the same request again (also concurrently) enqueues nothing more, unless an earlier hand-over
 * stopped before its deliveries were on the queue and no request is enqueueing them now.
 * @throws DependencyError when Postgres or the queue fails before the deliveries are on the queue.
 */
export async function acceptNotification(request: NotificationRequest, deps: ProducerDeps): Promise<Acceptance> {
  const fingerprint = await requestFingerprint("queued", request);
  const { created, row, firstPage } = await deps.store.create({ ...request, fingerprint, kind: "queued" });
  if (row.fingerprint !== fingerprint) return { outcome: "conflict" };
  if (created) {
    await enqueueDeliveries(row, firstPage, deps);
    return { outcome: "enqueued", row };
  }
  if (row.enqueued || row.enqueuing || !(await deps.store.takeEnqueueLease(row.id))) return { outcome: "accepted", row };
  await enqueueDeliveries(row, await deps.store.page(row.id, 0), deps);
  return { outcome: "enqueued", row };
}

async function enqueueDeliveries(row: NotificationRow, firstPage: string[], deps: ProducerDeps): Promise<void> {
  const pages = Math.ceil(row.recipients / PAGE_SIZE);
  const messages: Enqueued[] = [
    ...firstPage.map((chat): Enqueued => ({ body: deliverBody(row.id, chat) })),
    ...Array.from({ length: Math.max(0, pages - 1) }, (_, i): Enqueued => ({ body: { v: 1, kind: "fanout", n: row.id, page: i + 1 } })),
  ];
  try {
    await enqueue(deps.queue, messages);
  } catch (error) {
    // Let the next request with this id enqueue them at once (copies already on the queue do no harm).
    await deps.store.releaseEnqueueLease(row.id).catch(() => undefined);
    throw error;
  }
  await deps.store.markEnqueued(row.id).catch((error: unknown) => {
    // On the queue all the same; a repeat of the request after the lease may enqueue copies, which the claims absorb.
    deps.logger.warn("notification enqueued but not marked", { notification_id: row.id, ...errorFields(error) });
  });
}
