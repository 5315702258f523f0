/**
 * The Worker of src/index.ts unchanged, except that one consumer invocation throws mid-batch, as an
 * isolate that fails while it works would: the first notifications batch of at least 10 messages has
 * its first half handled (sent, recorded, acked) and then the invocation throws, so the queue delivers
 * the whole batch again. Built only for the reliability suite's notifications case.
 */
import worker, { NotificationPacer } from "../../src/index.js";

export { NotificationPacer };

/** The log line that shows the fault happened (the suite looks for it). */
const CHAOS_LINE = "reliability chaos: a consumer invocation throws mid-batch";

let thrown = false;

export default {
  fetch: worker.fetch,
  async queue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
    if (thrown || batch.queue.endsWith("-dlq") || batch.messages.length < 10) return worker.queue(batch, env);
    thrown = true;
    const half = batch.messages.slice(0, batch.messages.length >> 1);
    await worker.queue(
      {
        queue: batch.queue,
        metadata: batch.metadata,
        messages: half,
        ackAll: () => half.forEach((message) => message.ack()),
        retryAll: (options) => half.forEach((message) => message.retry(options)),
      },
      env,
    );
    console.log(JSON.stringify({ level: "warn", msg: CHAOS_LINE, handled: half.length, batch: batch.messages.length }));
    throw new Error(CHAOS_LINE);
  },
} satisfies ExportedHandler<Env, unknown>;
