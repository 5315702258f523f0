import { BotError, Context, type Bot } from "grammy";
import type { Update } from "grammy/types";
import type { BotContext, SessionData } from "../bot/context.js";
import { sessionKeyOf } from "../bot/index.js";
import type { UpstashSessionStorage } from "../bot/session-storage.js";
import type { VisibleEffects } from "../bot/visible-effects.js";
import { isRetryableTelegramError } from "../clients/telegram-errors.js";
import { DeadlineExceededError, withDeadline } from "../lib/deadline.js";
import { DependencyError } from "../lib/errors.js";
import { errorFields, type Logger } from "../lib/logger.js";
import { failedUpdateRecord } from "./failed-updates.js";
import type { UpdateClaim, UpdateLedger } from "./update-ledger.js";

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
  /** The bot's record of updates that already changed what the user sees. */
  visibleEffects: VisibleEffects;
  /** The bot's session storage: the update's session is read in the same round trip as its claim. */
  sessions: UpstashSessionStorage<SessionData>;
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
 * Runs the bot on one update exactly once across Telegram's redeliveries: claim it, handle it within
 * the deadline, then record the result so a redelivery is answered without running anything.
 */
export async function processUpdate(processor: UpdateProcessor, update: Update): Promise<Outcome> {
  const { bot, ledger, logger, sessions, timeoutMs } = processor;
  const updateId = update.update_id;
  let claimed;
  let sessionKey: string | undefined;
  try {
    await processor.botReady();
    sessionKey = sessionKeyOf(new Context(update, bot.api, bot.botInfo));
    claimed = await ledger.claim(updateId, sessionKey === undefined ? undefined : sessions.readOf(sessionKey));
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
  if (claimed.alongside !== undefined) sessions.preload(update, claimed.alongside.value as SessionData | null);

  let reply: string | undefined;
  const handling = bot.handleUpdate(update, {
    send: async (payload) => {
      reply = payload;
    },
  });
  try {
    await withDeadline(handling, timeoutMs);
  } catch (error) {
    if (!(error instanceof DeadlineExceededError)) return settleFailure(processor, update, claim, error, reply, false);
    processor.waitUntil(settleLate(processor, update, claim, handling, () => reply));
    return { kind: "timeout" };
  }
  await complete(processor, updateId, claim, false);
  return { kind: "handled", reply };
}

/** First pause between two attempts to record an update's result; it doubles up to the last one. */
const RECORD_RETRY_FIRST_PAUSE_MS = 250;
const RECORD_RETRY_LAST_PAUSE_MS = 4000;

/**
 * Records an update's result. `durable` (an update answered 503, which Telegram redelivers) retries
 * Redis outages with backoff while the claim's lease has room for another attempt: once the lease is
 * gone, a redelivery that finds no result runs the update again. @returns the last error, if it failed.
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

async function complete(processor: UpdateProcessor, updateId: number, claim: UpdateClaim, durable: boolean): Promise<void> {
  const error = await record(processor, claim, durable, () => claim.complete());
  if (error === undefined) return;
  // Answering 503 now would run it twice. Without a redelivery the lease just expires; with one
  // (the late path), a redelivery after the lease would run the update again.
  const log = durable ? processor.logger.error : processor.logger.warn;
  log("update handled but not marked done", { update_id: updateId, ...errorFields(error) });
}

async function settleFailure(
  processor: UpdateProcessor,
  update: Update,
  claim: UpdateClaim,
  thrown: unknown,
  reply: string | undefined,
  durable: boolean,
): Promise<Outcome> {
  const { logger } = processor;
  const updateId = update.update_id;
  const error = thrown instanceof BotError ? thrown.error : thrown;
  const retryable = isRetryable(error);
  if (retryable && !processor.visibleEffects.has(update)) {
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
      return { kind: "failed", reply };
    }
    if (processor.visibleEffects.has(update)) {
      // Its lease expires on its own; the log line is the only record left.
      logger.warn("failed update not recorded", { update_id: updateId, ...errorFields(recordError) });
      return { kind: "failed", reply };
    }
    logger.warn("failed update not recorded, will be redelivered", { update_id: updateId, ...errorFields(recordError) });
    await claim.release().catch(() => undefined);
    return { kind: "retry", dependency: recordError.dependency };
  }
  return { kind: "failed", reply };
}

/** Finishes an update that outlived the deadline: its result is recorded as if it had been on time. */
async function settleLate(
  processor: UpdateProcessor,
  update: Update,
  claim: UpdateClaim,
  handling: Promise<void>,
  lateReply: () => string | undefined,
): Promise<void> {
  try {
    await handling;
  } catch (error) {
    const outcome = await settleFailure(processor, update, claim, error, lateReply(), true);
    if (outcome.kind === "failed") await sendLateReply(processor, update, outcome.reply);
    return;
  }
  await sendLateReply(processor, update, lateReply());
  await complete(processor, update.update_id, claim, true);
}

/** The webhook response is gone, so the call that was meant to ride on it is made directly. */
async function sendLateReply(processor: UpdateProcessor, update: Update, reply: string | undefined): Promise<void> {
  if (reply === undefined) return;
  const { method, ...params } = JSON.parse(reply) as { method: string };
  await processor.bot.api.raw[method as "sendMessage"](params as never).catch((error: unknown) => {
    processor.logger.warn("late webhook reply failed", { update_id: update.update_id, ...errorFields(error) });
  });
}
