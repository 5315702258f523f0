import * as v from "valibot";

/** Django's notification id: its idempotency key. */
export const NOTIFICATION_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

const notificationId = v.pipe(v.string(), v.regex(NOTIFICATION_ID));
const chatId = v.pipe(v.string(), v.regex(/^-?\d{1,19}$/));

/** Send notification `n` to chat `c`: one per (notification, chat). */
const deliverMessage = v.object({ v: v.literal(1), kind: v.literal("deliver"), n: notificationId, c: chatId });

/** Put page `page` of notification `n`'s deliveries on the queue (large audiences fan out this way). */
const fanoutMessage = v.object({
  v: v.literal(1),
  kind: v.literal("fanout"),
  n: notificationId,
  page: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
});

/**
 * An outcome carried by the queue because Postgres could not take it when it was known: Telegram's
 * answer, or the claim given back (`pending`) with, in `retry_in` seconds, another attempt put on the
 * queue once it is recorded. Applied only while the claim `lease` still holds the delivery.
 */
const outcomeMessage = v.object({
  v: v.literal(1),
  kind: v.literal("outcome"),
  n: notificationId,
  c: chatId,
  lease: v.pipe(v.string(), v.uuid()),
  status: v.picklist(["sent", "blocked", "failed", "pending"]),
  message_id: v.nullable(v.pipe(v.number(), v.safeInteger())),
  error: v.nullable(v.string()),
  retry_in: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(0))),
});

/**
 * Every body this Worker puts on the notifications queue. Checked at the consumer like any outside
 * input: a message written by an older deploy may arrive after a newer one.
 */
export const queueMessage = v.variant("kind", [deliverMessage, fanoutMessage, outcomeMessage]);

export type QueueMessageBody = v.InferOutput<typeof queueMessage>;
export type DeliverMessage = v.InferOutput<typeof deliverMessage>;
export type FanoutMessage = v.InferOutput<typeof fanoutMessage>;
export type OutcomeMessage = v.InferOutput<typeof outcomeMessage>;

/** The body that sends notification `notificationId` to chat `chatId`. */
export function deliverBody(notificationId: string, chatId: string): DeliverMessage {
  return { v: 1, kind: "deliver", n: notificationId, c: chatId };
}
