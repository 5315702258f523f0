import type { AccountRepository } from "../data/accounts.js";
import { errorFields } from "../lib/logger.js";
import type { NotificationContent } from "./content.js";
import { sendPaced, type PacedOutcome, type PacedSendOptions } from "./paced-send.js";
import { requestFingerprint } from "./producer.js";
import { recordOutcomes, type RecordDeps } from "./record.js";
import { deliveryKeyOf, type DeliveryRow, type Outcome } from "./store.js";

/** Longest wait within one request, for a slot or a 429's `retry_after`; longer ones are reported. */
const MAX_WAIT_MS = 5000;

/**
 * Per-chat result of `POST /notify`. `recorded: false`: Telegram's answer could not be stored (the
 * account is not marked blocked, or the delivery not marked done), the rest of the answer stands.
 */
export type DirectResult =
  | { chat_id: string; status: "sent"; message_id: number; recorded?: false }
  | { chat_id: string; status: "blocked"; recorded?: false }
  | { chat_id: string; status: "rate_limited"; retry_after: number }
  | { chat_id: string; status: "failed"; error: string; recorded?: false }
  /** Being sent by a concurrent request with the same id. */
  | { chat_id: string; status: "pending" };

/** What `POST /notify` needs. */
export interface DirectDeps extends RecordDeps, Omit<PacedSendOptions, "maxWaitMs" | "priority"> {
  accounts: AccountRepository;
}

/** Sends now, ahead of any broadcast; a short 429 is waited out once (the pacer holds the chat until then). */
async function sendNow(chatIds: string[], content: NotificationContent, deps: DirectDeps): Promise<Map<string, PacedOutcome>> {
  const options = { ...deps, maxWaitMs: MAX_WAIT_MS, priority: true };
  const first = await sendPaced(chatIds.map((chatId) => ({ chatId, content })), options);
  const outcomes = new Map([...first].map(([message, outcome]) => [message.chatId, outcome]));
  const again = [...outcomes].filter(([, o]) => o.kind === "rate_limited" && o.retryAfter * 1000 <= MAX_WAIT_MS).map(([chatId]) => chatId);
  if (again.length > 0) {
    for (const [message, outcome] of await sendPaced(again.map((chatId) => ({ chatId, content })), options)) outcomes.set(message.chatId, outcome);
  }
  return outcomes;
}

function resultOf(chatId: string, outcome: PacedOutcome | undefined): DirectResult {
  switch (outcome?.kind) {
    case "sent":
      return { chat_id: chatId, status: "sent", message_id: outcome.messageId };
    case "blocked":
      return { chat_id: chatId, status: "blocked" };
    case "failed":
      return { chat_id: chatId, status: "failed", error: outcome.description };
    case "rate_limited":
      return { chat_id: chatId, status: "rate_limited", retry_after: outcome.retryAfter };
    case "deferred":
      return { chat_id: chatId, status: "rate_limited", retry_after: Math.ceil(outcome.waitMs / 1000) };
    default:
      return { chat_id: chatId, status: "failed", error: outcome?.description ?? "not_sent" };
  }
}

/**
 * `POST /notify` without an id: sends to each chat and marks blocked accounts. Once a message went
 * out the answer is the per-chat results, whatever failed afterwards (a retry would send it again).
 * @throws the failure to record a blocked chat when no message was sent (a retry then is harmless).
 */
export async function notifyChats(chatIds: string[], content: NotificationContent, deps: DirectDeps): Promise<DirectResult[]> {
  const outcomes = await sendNow(chatIds, content, deps);
  let unrecorded: unknown;
  const results = await Promise.all(
    chatIds.map(async (chatId) => {
      const result = resultOf(chatId, outcomes.get(chatId));
      if (result.status !== "blocked") return result;
      try {
        await deps.accounts.setBlockedByChat(Number(chatId), true);
        return result;
      } catch (error) {
        deps.logger.warn("blocked chat not recorded", { chat_id: chatId, ...errorFields(error) });
        unrecorded = error;
        return { ...result, recorded: false as const };
      }
    }),
  );
  if (unrecorded !== undefined && !results.some((r) => r.status === "sent")) throw unrecorded;
  return results;
}

function storedResult(row: DeliveryRow): DirectResult {
  if (row.status === "sent") return { chat_id: row.chat_id, status: "sent", message_id: row.message_id ?? 0 };
  if (row.status === "blocked") return { chat_id: row.chat_id, status: "blocked" };
  if (row.status === "failed") return { chat_id: row.chat_id, status: "failed", error: row.error ?? "failed" };
  return { chat_id: row.chat_id, status: "pending" };
}

/**
 * `POST /notify` with an id: the notification is recorded once per id, and each of its chats gets the
 * message at most once; a repeat answers the stored results and tries again only the chats still pending.
 * @returns undefined when the id belongs to a notification with another body.
 */
export async function notifyOnce(
  request: { id: string; userId: number; content: NotificationContent },
  deps: DirectDeps,
): Promise<DirectResult[] | undefined> {
  const { id, userId, content } = request;
  const audience = { userIds: [userId] };
  const fingerprint = await requestFingerprint("direct", { id, audience, ...content });
  const { created, row, firstPage } = await deps.store.create({ id, audience, ...content, fingerprint, kind: "direct" });
  if (row.fingerprint !== fingerprint) return undefined;
  const rows: DeliveryRow[] = created
    ? firstPage.map((chatId) => ({ chat_id: chatId, status: "pending", message_id: null, error: null, attempts: 0 }))
    : await deps.store.deliveries(id, undefined, row.recipients);
  const open = rows.filter((r) => r.status === "pending" || r.status === "sending");
  const lease = crypto.randomUUID();
  const claims = open.length === 0 ? new Map() : await deps.store.claim(open.map((r) => ({ notificationId: id, chatId: r.chat_id })), lease);
  const mine = open.filter((r) => claims.get(deliveryKeyOf({ notificationId: id, chatId: r.chat_id }))?.state === "claimed").map((r) => r.chat_id);
  const outcomes = await sendNow(mine, content, deps);
  const recorded = await recordOutcomes(
    mine.map((chatId): Outcome => {
      const result = resultOf(chatId, outcomes.get(chatId));
      const key = { notificationId: id, chatId, lease };
      if (result.status === "sent") return { ...key, status: "sent", messageId: result.message_id, error: null };
      if (result.status === "blocked") return { ...key, status: "blocked", messageId: null, error: null };
      const error = result.status === "failed" ? result.error : `429: retry after ${result.status === "rate_limited" ? result.retry_after : 0}`;
      // Only Telegram's own refusal is final; anything a retry can fix gives the claim back.
      const final = result.status === "failed" && outcomes.get(chatId)?.kind === "failed";
      return { ...key, status: final ? "failed" : "pending", messageId: null, error };
    }),
    deps,
  );
  return rows.map((stored) => {
    if (!mine.includes(stored.chat_id)) return storedResult(stored);
    const result = resultOf(stored.chat_id, outcomes.get(stored.chat_id));
    return recorded === "lost" && result.status !== "rate_limited" ? { ...result, recorded: false as const } : result;
  });
}
