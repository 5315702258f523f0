import { DependencyError } from "../lib/errors.js";
import type { QueueMessageBody } from "./messages.js";

/** Queues take at most 100 messages and 256 KB per `sendBatch`. */
const MAX_MESSAGES_PER_CALL = 100;
const MAX_BYTES_PER_CALL = 256_000;
/** `sendBatch` calls in flight at once (each is a subrequest). */
const PARALLEL_CALLS = 6;

/** A message to put on the queue, optionally delivered later. */
export interface Enqueued {
  body: QueueMessageBody;
  delaySeconds?: number;
}

/** Splits messages into `sendBatch` calls within both of the queue's limits. */
function batchesOf(messages: readonly Enqueued[]): Enqueued[][] {
  const batches: Enqueued[][] = [];
  let current: Enqueued[] = [];
  let bytes = 0;
  for (const message of messages) {
    // The JSON of the body plus room for the per-message envelope.
    const size = JSON.stringify(message.body).length * 3 + 100;
    if (current.length === MAX_MESSAGES_PER_CALL || (current.length > 0 && bytes + size > MAX_BYTES_PER_CALL)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(message);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Puts the messages on the queue with as few `sendBatch` calls as its limits allow.
 * @throws DependencyError("queue") when a call fails (earlier calls may have gone through).
 */
export async function enqueue(queue: Queue<QueueMessageBody>, messages: readonly Enqueued[]): Promise<void> {
  const batches = batchesOf(messages);
  for (let i = 0; i < batches.length; i += PARALLEL_CALLS) {
    try {
      await Promise.all(
        batches.slice(i, i + PARALLEL_CALLS).map((batch) =>
          queue.sendBatch(batch.map((m) => (m.delaySeconds === undefined ? { body: m.body } : { body: m.body, delaySeconds: m.delaySeconds }))),
        ),
      );
    } catch (cause) {
      throw new DependencyError("queue", { cause });
    }
  }
}
