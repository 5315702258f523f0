import * as v from "valibot";
import { errorFields, type Logger } from "../lib/logger.js";
import { enqueue, type Enqueued } from "./enqueue.js";
import { deliverBody, queueMessage, type DeliverMessage, type FanoutMessage, type OutcomeMessage, type QueueMessageBody } from "./messages.js";
import { sendPaced, type PacedOutcome } from "./paced-send.js";
import type { NotificationPacer } from "./pacer.js";
import { recordOutcomes } from "./record.js";
import type { NotificationSender } from "./send.js";
import { deliveryKeyOf, type DeliveryKey, type NotificationStore, type Outcome } from "./store.js";
import type { NotificationContent } from "./content.js";

/** The dead-letter queue is the notifications queue's name with this suffix (wrangler.toml). */
const DEAD_LETTER_SUFFIX = "-dlq";
/** A message the pacer would hold longer than this goes back on the queue with a delay instead. */
const MAX_PACING_WAIT_MS = 3000;
/** Backoff of retries after failures: 2, 4, 8 … seconds, at most 5 minutes. */
const MAX_BACKOFF_SECONDS = 300;

/** What the consumer needs. */
export interface ConsumerDeps {
  store: NotificationStore;
  queue: Queue<QueueMessageBody>;
  pacer: DurableObjectStub<NotificationPacer>;
  sender: NotificationSender;
  logger: Logger;
  /** TELEGRAM_SEND_RATE. */
  rate: number;
}

interface Parsed<B> {
  message: Message<unknown>;
  body: B;
}

/** What happened to a batch, for its log line. */
interface Tally {
  sent: number;
  blocked: number;
  failed: number;
  retried: number;
  deferred: number;
  duplicates: number;
}

const backoff = (message: Message<unknown> | undefined): number => Math.min(MAX_BACKOFF_SECONDS, 2 ** (message?.attempts ?? 1));

function retry(message: Message<unknown>, seconds: number, tally: Tally): void {
  message.retry({ delaySeconds: Math.ceil(seconds) });
  tally.retried += 1;
}

/**
 * The Worker's queue handler for notifications and their dead-letter queue. Every message is settled
 * explicitly (`ack` or `retry` with a delay); nothing it does throws, so a failure never retries the
 * whole batch.
 */
export async function consumeNotifications(batch: MessageBatch<unknown>, deps: ConsumerDeps): Promise<void> {
  const started = Date.now();
  const tally: Tally = { sent: 0, blocked: 0, failed: 0, retried: 0, deferred: 0, duplicates: 0 };
  const deliver: Parsed<DeliverMessage>[] = [];
  const fanout: Parsed<FanoutMessage>[] = [];
  const outcome: Parsed<OutcomeMessage>[] = [];
  for (const message of batch.messages) {
    const parsed = v.safeParse(queueMessage, message.body);
    if (!parsed.success) {
      deps.logger.error("notification message dropped: not a message this Worker writes", {
        queue: batch.queue,
        message_id: message.id,
        problem: v.summarize(parsed.issues),
      });
      message.ack();
      continue;
    }
    const body = parsed.output;
    if (body.kind === "deliver") deliver.push({ message, body });
    else if (body.kind === "fanout") fanout.push({ message, body });
    else outcome.push({ message, body });
  }
  const deadLetters = batch.queue.endsWith(DEAD_LETTER_SUFFIX);
  await Promise.all(
    deadLetters
      ? [giveUp(deliver, fanout, deps, tally), applyOutcomes(outcome, deps, tally)]
      : [deliverAll(deliver, deps, tally), fanOut(fanout, deps, tally), applyOutcomes(outcome, deps, tally)],
  );
  deps.logger.info("notification batch", { queue: batch.queue, messages: batch.messages.length, ...tally, ms: Date.now() - started });
}

/** One delivery of the batch, with every message that asked for it (a redelivery can bring two). */
interface Job extends DeliveryKey {
  messages: Message<unknown>[];
  content: NotificationContent;
}

async function deliverAll(items: Parsed<DeliverMessage>[], deps: ConsumerDeps, tally: Tally): Promise<void> {
  if (items.length === 0) return;
  const byKey = new Map<string, { key: DeliveryKey; messages: Message<unknown>[] }>();
  for (const { message, body } of items) {
    const key = { notificationId: body.n, chatId: body.c };
    const entry = byKey.get(deliveryKeyOf(key)) ?? { key, messages: [] };
    entry.messages.push(message);
    byKey.set(deliveryKeyOf(key), entry);
  }
  const lease = crypto.randomUUID();
  let claims;
  try {
    claims = await deps.store.claim([...byKey.values()].map((entry) => entry.key), lease);
  } catch (error) {
    deps.logger.warn("notification deliveries not claimed, retrying", { messages: items.length, ...errorFields(error) });
    for (const { message } of items) retry(message, backoff(message), tally);
    return;
  }

  const jobs: Job[] = [];
  for (const [id, { key, messages }] of byKey) {
    const claim = claims.get(id) ?? { state: "missing" as const };
    if (claim.state === "claimed") {
      jobs.push({ ...key, messages, content: claim.content });
      continue;
    }
    const [first, ...others] = messages;
    for (const extra of others) extra.ack();
    tally.duplicates += others.length;
    if (first === undefined) continue;
    if (claim.state === "held") retry(first, claim.seconds + 1, tally);
    else {
      if (claim.state === "missing") deps.logger.warn("notification delivery not found", { notification_id: key.notificationId, chat_id: key.chatId });
      else tally.duplicates += 1;
      first.ack();
    }
  }
  if (jobs.length === 0) return;

  const sent = await sendPaced(jobs, { pacer: deps.pacer, sender: deps.sender, logger: deps.logger, rate: deps.rate, maxWaitMs: MAX_PACING_WAIT_MS });
  const plans = jobs.map((job) => planOf(job, lease, sent.get(job)));
  const recorded = await recordOutcomes(
    plans.map((plan) => plan.outcome),
    deps,
  );

  const deferred: { job: Job; delaySeconds: number }[] = [];
  for (const { job, outcome, next } of plans) {
    const [first, ...others] = job.messages;
    for (const extra of others) extra.ack();
    tally.duplicates += others.length;
    if (first === undefined) continue;
    // An outcome that could not be recorded is tried again, so it is not counted yet.
    if (outcome.status !== "pending" && recorded !== "lost") tally[outcome.status] += 1;
    if (recorded === "queued") {
      // The queue carries the outcome now, and for a claim given back its next attempt too.
      first.ack();
    } else if (recorded === "lost") {
      // Its claim runs out and the message is redelivered: a chat Telegram accepted gets it again.
      retry(first, next?.seconds ?? backoff(first), tally);
    } else if (next === undefined) {
      first.ack();
    } else if (next.requeue) {
      deferred.push({ job, delaySeconds: next.seconds });
    } else {
      retry(first, next.seconds, tally);
    }
  }
  await requeue(deferred, deps, tally);
}

/** What to record for a job, and when it is not final, when and how its next attempt comes. */
interface Plan {
  job: Job;
  outcome: Outcome;
  /** `requeue`: a new message (waiting for the pacer is no failure); otherwise a `retry` of this one. */
  next?: { seconds: number; requeue: boolean };
}

function planOf(job: Job, lease: string, result: PacedOutcome | undefined): Plan {
  const key = { notificationId: job.notificationId, chatId: job.chatId, lease };
  const giveBack = (seconds: number, error: string | null, requeue = false): Plan => ({
    job,
    outcome: { ...key, status: "pending", messageId: null, error, retryIn: seconds },
    next: { seconds, requeue },
  });
  switch (result?.kind) {
    case "sent":
      return { job, outcome: { ...key, status: "sent", messageId: result.messageId, error: null } };
    case "blocked":
    case "failed":
      return { job, outcome: { ...key, status: result.kind, messageId: null, error: result.description } };
    case "rate_limited":
      return giveBack(result.retryAfter, `429: retry after ${result.retryAfter}`);
    case "deferred":
      return giveBack(Math.ceil(result.waitMs / 1000), null, true);
    case "unavailable":
      return giveBack(backoff(job.messages[0]), result.description);
    default:
      return giveBack(backoff(job.messages[0]), "not_sent");
  }
}

/**
 * Deliveries the pacer cannot place soon go back on the queue with a delay, as new messages: waiting
 * for a slot is not a failure and must not use up the message's retries.
 */
async function requeue(deferred: { job: Job; delaySeconds: number }[], deps: ConsumerDeps, tally: Tally): Promise<void> {
  if (deferred.length === 0) return;
  const messages: Enqueued[] = deferred.map(({ job, delaySeconds }) => ({
    body: deliverBody(job.notificationId, job.chatId),
    delaySeconds,
  }));
  try {
    await enqueue(deps.queue, messages);
    for (const { job } of deferred) job.messages[0]?.ack();
    tally.deferred += deferred.length;
  } catch (error) {
    deps.logger.warn("deferred notification deliveries not re-enqueued, retrying", errorFields(error));
    for (const { job, delaySeconds } of deferred) if (job.messages[0] !== undefined) retry(job.messages[0], delaySeconds, tally);
  }
}

/** Puts one page of a notification's deliveries on the queue per fan-out message. */
async function fanOut(items: Parsed<FanoutMessage>[], deps: ConsumerDeps, tally: Tally): Promise<void> {
  await Promise.all(
    items.map(async ({ message, body }) => {
      try {
        const chats = await deps.store.page(body.n, body.page);
        await enqueue(deps.queue, chats.map((chat) => ({ body: deliverBody(body.n, chat) })));
        message.ack();
      } catch (error) {
        deps.logger.warn("notification page not enqueued, retrying", { notification_id: body.n, page: body.page, ...errorFields(error) });
        retry(message, backoff(message), tally);
      }
    }),
  );
}

/**
 * Records outcomes that the queue carried while Postgres could not take them; a claim given back with
 * `retry_in` then gets its next attempt as a new message.
 */
async function applyOutcomes(items: Parsed<OutcomeMessage>[], deps: ConsumerDeps, tally: Tally): Promise<void> {
  if (items.length === 0) return;
  try {
    await deps.store.record(
      items.map(({ body }) => ({
        notificationId: body.n,
        chatId: body.c,
        lease: body.lease,
        status: body.status,
        messageId: body.message_id,
        error: body.error,
      })),
    );
    await enqueue(
      deps.queue,
      items.flatMap(({ body }): Enqueued[] =>
        body.status === "pending" && body.retry_in !== undefined
          ? [{ body: deliverBody(body.n, body.c), delaySeconds: body.retry_in }]
          : [],
      ),
    );
    for (const { message } of items) message.ack();
  } catch (error) {
    // Applying one again is harmless: its lease no longer matches once it was recorded.
    deps.logger.warn("queued notification outcomes not recorded, retrying", { outcomes: items.length, ...errorFields(error) });
    for (const { message } of items) retry(message, backoff(message), tally);
  }
}

/** Dead letters: their deliveries are recorded `failed` (`gave_up`) unless another consumer still holds them. */
async function giveUp(deliver: Parsed<DeliverMessage>[], fanout: Parsed<FanoutMessage>[], deps: ConsumerDeps, tally: Tally): Promise<void> {
  const settled: { message: Message<unknown>; keys: DeliveryKey[] }[] = deliver.map(({ message, body }) => ({
    message,
    keys: [{ notificationId: body.n, chatId: body.c }],
  }));
  try {
    for (const { message, body } of fanout) {
      settled.push({ message, keys: (await deps.store.page(body.n, body.page)).map((chatId) => ({ notificationId: body.n, chatId })) });
    }
    if (settled.length === 0) return;
    const { gaveUp, held } = await deps.store.giveUp(settled.flatMap((s) => s.keys));
    for (const { message, keys } of settled) {
      const holding = Math.max(0, ...keys.map((key) => held.get(deliveryKeyOf(key)) ?? 0));
      if (holding > 0) retry(message, holding + 1, tally);
      else message.ack();
    }
    tally.failed += gaveUp;
    if (gaveUp > 0) deps.logger.warn("notification deliveries gave up after their retries", { deliveries: gaveUp });
  } catch (error) {
    deps.logger.warn("dead-lettered notification deliveries not recorded, retrying", errorFields(error));
    for (const { message } of [...deliver, ...fanout]) retry(message, backoff(message), tally);
  }
}
