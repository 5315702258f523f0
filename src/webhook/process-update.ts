import { BotError, Context, type Bot } from "grammy";
import type { Update } from "grammy/types";
import type { BotContext, SessionData } from "../bot/context.js";
import { isUnaddressedGroupMessage } from "../bot/features/group-filter.js";
import { rateLimitedUserOf } from "../bot/features/rate-limit.js";
import { sessionKeyOf } from "../bot/index.js";
import type { SlidingWindowRateLimiter } from "../bot/rate-limiter.js";
import { callWebhookReply, type ResponseReplies } from "../bot/response-replies.js";
import type { UpstashSessionStorage } from "../bot/session-storage.js";
import { isRetryableTelegramError } from "../clients/telegram-errors.js";
import { DeadlineExceededError, withDeadline } from "../lib/deadline.js";
import { DependencyError } from "../lib/errors.js";
import { errorFields, type Logger } from "../lib/logger.js";
import { failedUpdateRecord } from "./failed-updates.js";
import type { ClaimReads, UpdateClaim, UpdateLedger } from "./update-ledger.js";

/** What became of one delivery of an update. */
export type Outcome =
  /** Handled now; `reply` is a Bot API call to return as the webhook response. */
  | { kind: "handled"; reply: string | undefined }
  /** Handled before: nothing ran. */
  | { kind: "duplicate" }
  /** Another delivery of it is being handled right now. */
  | { kind: "in_progress" }
  /** A dependency failed; nothing was recorded, so the next delivery runs it again. */
  | { kind: "retry"; dependency: string }
  /** The handler ran past the deadline; it goes on and records its own result. */
  | { kind: "timeout" }
  /**
   * The handler has a bug, or a dependency failed after the user already saw a reply: the update
   * is kept in the failed list and not retried; `reply` as for "handled" (a callback answer still helps).
   */
  | { kind: "failed"; reply: string | undefined };

/** What `processUpdate` needs. */
export interface UpdateProcessor {
  bot: Bot<BotContext>;
  /** The bot's replies on the response, and its record of updates that already changed what the user sees. */
  replies: ResponseReplies;
  /** The bot's session storage: the update's session is read in the same round trip as its claim. */
  sessions: UpstashSessionStorage<SessionData>;
  /** The bot's rate limiter, checked in the same round trip as the claim; undefined when the limit is off. */
  rateLimiter: SlidingWindowRateLimiter | undefined;
  ledger: UpdateLedger;
  logger: Logger;
  botReady(): Promise<void>;
  timeoutMs: number;
  /** The deadline of one Redis command (REDIS_TIMEOUT_MS). */
  redisTimeoutMs: number;
  /** Keeps work alive after the response (the Worker's `ctx.waitUntil`). */
  waitUntil(work: Promise<unknown>): void;
}

/** The update's type: its one field besides `update_id`. */
export function updateTypeOf(update: Update): string {
  return Object.keys(update).find((key) => key !== "update_id") ?? "unknown";
}

function isRetryable(error: unknown): boolean {
  return error instanceof DependencyError || isRetryableTelegramError(error);
}

function dependencyOf(error: unknown): string {
  return error instanceof DependencyError ? error.dependency : "telegram";
}

/**
 * What the handlers will read of Redis before anything else, so the claim's round trip brings it: the
 * chat's session and the sender's rate limit. An unaddressed group message stops before both.
 */
function readsOf(processor: UpdateProcessor, update: Update): ClaimReads {
  const { bot, sessions, rateLimiter } = processor;
  const ctx = new Context(update, bot.api, bot.botInfo);
  if (isUnaddressedGroupMessage(ctx)) return {};
  const sessionKey = sessionKeyOf(ctx);
  const userId = rateLimitedUserOf(ctx);
  return {
    ...(sessionKey === undefined ? {} : { session: sessions.readOf(sessionKey) }),
    ...(userId === undefined || rateLimiter === undefined ? {} : { rateLimit: rateLimiter.checkOf(userId) }),
  };
}

/**
 * Runs the bot on one update exactly once across Telegram's redeliveries: claim it (one Redis round trip
 * that also reads the session and checks the rate limit), handle it within the deadline, answer, and
 * record it as done after the answer, so a redelivery is answered without running anything.
 */
export async function processUpdate(processor: UpdateProcessor, update: Update): Promise<Outcome> {
  const { bot, ledger, logger, timeoutMs } = processor;
  const updateId = update.update_id;
  let claimed;
  try {
    await processor.botReady();
    claimed = await ledger.claim(updateId, readsOf(processor, update));
  } catch (error) {
    if (!isRetryable(error)) {
      // A redelivery would fail the same way and hold the chat's queue; the log line is the record.
      logger.error("update not claimed", { update_id: updateId, update_type: updateTypeOf(update), ...errorFields(error) });
      return { kind: "failed", reply: undefined };
    }
    logger.warn("update not claimed", { update_id: updateId, ...errorFields(error) });
    return { kind: "retry", dependency: dependencyOf(error) };
  }
  if (claimed.state !== "claimed") return { kind: claimed.state === "done" ? "duplicate" : "in_progress" };
  const { claim } = claimed;
  if (claimed.session !== undefined) processor.sessions.preload(update, claimed.session.value as SessionData | null);
  if (claimed.rateVerdict !== undefined) processor.rateLimiter?.preload(update, claimed.rateVerdict);

  const handling = bot.handleUpdate(update);
  try {
    await withDeadline(handling, timeoutMs);
  } catch (error) {
    if (!(error instanceof DeadlineExceededError)) return settleFailure(processor, update, claim, error, false);
    processor.waitUntil(settleLate(processor, update, claim, handling));
    return { kind: "timeout" };
  }
  // Telegram does not redeliver an update answered 2xx, and until the done mark lands the lease answers
  // any redelivery 503, so the mark need not hold up the answer.
  processor.waitUntil(complete(processor, updateId, claim, false));
  return { kind: "handled", reply: processor.replies.takeReply(update) };
}

/** First pause between two attempts to record an update's result; it doubles up to the last one. */
const RECORD_RETRY_FIRST_PAUSE_MS = 250;
const RECORD_RETRY_LAST_PAUSE_MS = 4000;

/**
 * Records an update's result. `durable` retries Redis outages with backoff while the claim's lease has
 * room for another attempt: once the lease is gone, a redelivery that finds no result runs the update
 * again. @returns the last error, if it failed.
 */
async function record(processor: UpdateProcessor, claim: UpdateClaim, durable: boolean, work: () => Promise<void>): Promise<unknown> {
  for (let attempt = 0; ; attempt++) {
    try {
      await work();
      return undefined;
    } catch (error) {
      const pause = Math.min(RECORD_RETRY_FIRST_PAUSE_MS * 2 ** attempt, RECORD_RETRY_LAST_PAUSE_MS);
      const roomLeft = Date.now() + pause + processor.redisTimeoutMs < claim.leaseEndsAt;
      if (!durable || !(error instanceof DependencyError) || !roomLeft) return error;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

/**
 * Marks a handled update done, retrying while its lease has room. @param redelivered whether Telegram
 * redelivers it (it was answered 503 past its deadline): then a missing mark can let it run twice.
 */
async function complete(processor: UpdateProcessor, updateId: number, claim: UpdateClaim, redelivered: boolean): Promise<void> {
  const error = await record(processor, claim, true, () => claim.complete());
  if (error === undefined) return;
  const log = redelivered ? processor.logger.error : processor.logger.warn;
  log("update handled but not marked done", { update_id: updateId, ...errorFields(error) });
}

async function settleFailure(
  processor: UpdateProcessor,
  update: Update,
  claim: UpdateClaim,
  thrown: unknown,
  durable: boolean,
): Promise<Outcome> {
  const { logger, replies } = processor;
  const updateId = update.update_id;
  const error = thrown instanceof BotError ? thrown.error : thrown;
  const retryable = isRetryable(error);
  if (retryable && !replies.hasVisibleEffects(update)) {
    // A reply held for the response is dropped with it: the redelivery makes it again.
    logger.warn("update failed, will be redelivered", { update_id: updateId, ...errorFields(error) });
    await claim.release().catch(() => undefined);
    return { kind: "retry", dependency: dependencyOf(error) };
  }
  // A redelivery would send the user's reply a second time; the rest of the work is kept for inspection.
  const message = retryable ? "update failed after its reply was sent" : "handler failed";
  logger.error(message, { update_id: updateId, update_type: updateTypeOf(update), ...errorFields(error) });
  const recordError = await record(processor, claim, durable, () => claim.fail(failedUpdateRecord(update, updateTypeOf(update), error)));
  if (recordError !== undefined) {
    if (!(recordError instanceof DependencyError)) {
      // Not an outage: a redelivery would fail the same way forever. The log line is the record.
      logger.error("failed update not recorded", { update_id: updateId, ...errorFields(recordError) });
      await claim.complete().catch(() => undefined);
      return { kind: "failed", reply: replies.takeReply(update) };
    }
    if (replies.hasVisibleEffects(update)) {
      // Its lease expires on its own; the log line is the only record left.
      logger.warn("failed update not recorded", { update_id: updateId, ...errorFields(recordError) });
      return { kind: "failed", reply: replies.takeReply(update) };
    }
    logger.warn("failed update not recorded, will be redelivered", { update_id: updateId, ...errorFields(recordError) });
    await claim.release().catch(() => undefined);
    return { kind: "retry", dependency: recordError.dependency };
  }
  return { kind: "failed", reply: replies.takeReply(update) };
}

/** Finishes an update that outlived the deadline: its result is recorded as if it had been on time. */
async function settleLate(processor: UpdateProcessor, update: Update, claim: UpdateClaim, handling: Promise<void>): Promise<void> {
  try {
    await handling;
  } catch (error) {
    const outcome = await settleFailure(processor, update, claim, error, true);
    if (outcome.kind === "failed") await sendLateReply(processor, update, outcome.reply);
    return;
  }
  await sendLateReply(processor, update, processor.replies.takeReply(update));
  await complete(processor, update.update_id, claim, true);
}

/** The webhook response is gone, so the call that was meant to ride on it is made directly. */
async function sendLateReply(processor: UpdateProcessor, update: Update, reply: string | undefined): Promise<void> {
  if (reply === undefined) return;
  await callWebhookReply(processor.bot.api, reply).catch((error: unknown) => {
    processor.logger.warn("late webhook reply failed", { update_id: update.update_id, ...errorFields(error) });
  });
}
