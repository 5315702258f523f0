import { errorFields, type Logger } from "../lib/logger.js";
import { sleep } from "../lib/sleep.js";
import type { NotificationContent } from "./content.js";
import type { NotificationPacer, Slot } from "./pacer.js";
import type { NotificationSender, SendOutcome } from "./send.js";

/** One message to send. */
export interface PacedMessage {
  chatId: string;
  content: NotificationContent;
}

/** What became of a message: Telegram's answer, or not sent because the pacer would wait `waitMs` more. */
export type PacedOutcome = SendOutcome | { kind: "deferred"; waitMs: number };

/** What `sendPaced` needs. */
export interface PacedSendOptions {
  pacer: DurableObjectStub<NotificationPacer>;
  sender: NotificationSender;
  logger: Logger;
  /** TELEGRAM_SEND_RATE. */
  rate: number;
  /** A message the pacer would hold longer than this is not sent now but deferred. */
  maxWaitMs: number;
  /** Book past the bulk horizon (a request someone waits for). */
  priority?: boolean;
}

/**
 * The pacer books bulk slots at most a second ahead; asking again every half second keeps that
 * schedule full without a request per slot.
 */
const WAVE_MS = 500;


/**
 * Sends each message at the slot the pacer gives it, asking again for those it cannot place yet,
 * and reports each 429 back so the pacer slows down. Never rejects: every message gets an outcome
 * (a pacer that cannot be reached leaves the rest `unavailable`, nothing sent).
 */
export async function sendPaced<M extends PacedMessage>(messages: readonly M[], options: PacedSendOptions): Promise<Map<M, PacedOutcome>> {
  const outcomes = new Map<M, PacedOutcome>();
  const sending: Promise<void>[] = [];
  const sendAt = async (message: M, at: number): Promise<void> => {
    await sleep(at - Date.now());
    const outcome = await options.sender.send(message.chatId, message.content).catch((error: unknown): SendOutcome => {
      // Not Telegram's answer but a bug: logged, and retried like a network failure.
      options.logger.error("notification send failed unexpectedly", { chat_id: message.chatId, ...errorFields(error) });
      return { kind: "unavailable", description: "unexpected_error" };
    });
    outcomes.set(message, outcome);
    if (outcome.kind === "rate_limited") {
      await options.pacer.throttled([{ chatId: message.chatId, retryAfterSeconds: outcome.retryAfter }]).catch((error: unknown) => {
        options.logger.warn("pacer not told of a 429", errorFields(error));
      });
    }
  };

  let waiting: readonly M[] = messages;
  while (waiting.length > 0) {
    let slots: Slot[];
    try {
      slots = await options.pacer.reserve(
        waiting.map((m) => m.chatId),
        options.priority ? { rate: options.rate, horizonMs: options.maxWaitMs } : { rate: options.rate },
      );
    } catch (error) {
      options.logger.warn("pacer unavailable", errorFields(error));
      for (const message of waiting) outcomes.set(message, { kind: "unavailable", description: "pacer_unavailable" });
      break;
    }
    const again: M[] = [];
    let soonest = Infinity;
    waiting.forEach((message, i) => {
      const slot = slots[i] ?? { wait: options.maxWaitMs + 1 };
      if ("at" in slot) sending.push(sendAt(message, slot.at));
      else if (slot.wait > options.maxWaitMs) outcomes.set(message, { kind: "deferred", waitMs: slot.wait });
      else {
        again.push(message);
        soonest = Math.min(soonest, slot.wait);
      }
    });
    waiting = again;
    if (waiting.length > 0) await sleep(Math.max(soonest, WAVE_MS));
  }
  await Promise.all(sending);
  return outcomes;
}
