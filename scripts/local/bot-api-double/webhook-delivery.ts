/**
 * Webhook delivery as Telegram does it: once `setWebhook` names a URL, queued updates are POSTed to it
 * as JSON with `X-Telegram-Bot-Api-Secret-Token`, one at a time per chat (a chat's next update waits for
 * the answer to the previous one), different chats in parallel up to `max_connections`. A non-2xx answer,
 * a refused connection or a timeout keeps the update pending and is retried with a growing delay, and is
 * what `getWebhookInfo` reports as `last_error_date` / `last_error_message`. A 2xx answer confirms the
 * update; a Bot API method in its body (a "webhook reply") is run as if the bot had called it.
 *
 * The double delivers only to addresses on this machine: it stands in for Telegram here and must never
 * post made-up updates to a real deployment. Updates for a webhook elsewhere stay pending.
 */
import { isJsonObject, type JsonObject } from "../json-object.js";
import { isLoopbackUrl } from "../loopback.js";
import type { BotApiEndpoint } from "./bot-api.js";
import type { BotState, Webhook } from "./state.js";

/** How deliveries are paced; the defaults are close to what Telegram does. */
export interface DeliveryTiming {
  /** First redelivery delay; it doubles with each failed attempt. Default 1000 ms. */
  retryBaseMs?: number;
  /** Longest redelivery delay. Default 30 s. */
  retryMaxMs?: number;
  /** How long an answer may take before the attempt counts as failed. Default 60 s, about Telegram's. */
  timeoutMs?: number;
}

/** What became of one attempt to deliver an update, for the chat page. */
export interface DeliveryReport {
  update_id: number;
  attempt: number;
  state: "delivering" | "delivered" | "retrying";
  /** HTTP status of the answer, when there was one. */
  status?: number;
  /** Why the attempt failed, in Telegram's words (as `getWebhookInfo` shows them). */
  error?: string;
  /** When the next attempt starts (ms from now). */
  retry_in_ms?: number;
  /** The method of a webhook reply, and what became of it. */
  reply?: { method: string; ok: boolean; description?: string };
  duration_ms?: number;
}

/** The chat whose updates are delivered one at a time; an update about no chat is a queue of its own. */
function chatKeyOf(update: JsonObject): string {
  const body = Object.values(update).find(isJsonObject) ?? {};
  const message = isJsonObject(body.message) ? body.message : undefined;
  const chat = isJsonObject(body.chat) ? body.chat : isJsonObject(message?.chat) ? message.chat : undefined;
  const from = isJsonObject(body.from) ? body.from : undefined;
  const id = chat?.id ?? from?.id;
  return id === undefined ? `update:${String(update.update_id)}` : `chat:${String(id)}`;
}

/** A failed connection in the words Telegram uses for it in `last_error_message`. */
function connectionError(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  if ((error as Error).name === "TimeoutError") return "Read timeout expired";
  switch (cause?.code) {
    case "ECONNREFUSED":
      return "Connection refused";
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
      return "Connection reset by peer";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "Failed to resolve host: Name or service not known";
    default:
      return `Connection failed${cause?.code ? `: ${cause.code}` : ""}`;
  }
}

/** Delivers `state`'s pending updates to its webhook; `report` hears about every attempt. */
export class WebhookDelivery {
  private readonly inFlight = new Map<number, AbortController>();
  private readonly waiting = new Map<number, NodeJS.Timeout>();
  private readonly attempts = new Map<number, number>();
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly timeoutMs: number;
  private stopped = false;

  constructor(
    private readonly state: BotState,
    private readonly runWebhookReply: BotApiEndpoint["runWebhookReply"],
    private readonly report: (report: DeliveryReport) => void,
    timing: DeliveryTiming = {},
  ) {
    this.retryBaseMs = timing.retryBaseMs ?? 1000;
    this.retryMaxMs = timing.retryMaxMs ?? 30_000;
    this.timeoutMs = timing.timeoutMs ?? 60_000;
    state.events.on("queued", () => this.pump());
    state.events.on("call", ({ method }) => {
      // A new or removed webhook: what waited for a retry is tried at once (or left for getUpdates).
      if (method === "setWebhook" || method === "deleteWebhook") {
        this.clearWaiting();
        this.pump();
      }
    });
    state.events.on("reset", () => {
      this.abortAll();
      this.attempts.clear();
    });
  }

  /** Stops delivering: pending timers are cleared and deliveries in flight aborted. */
  stop(): void {
    this.stopped = true;
    this.abortAll();
  }

  private abortAll(): void {
    for (const controller of this.inFlight.values()) controller.abort();
    this.inFlight.clear();
    this.clearWaiting();
  }

  private clearWaiting(): void {
    for (const timer of this.waiting.values()) clearTimeout(timer);
    this.waiting.clear();
  }

  /** Starts every delivery that may start now: the oldest pending update of each chat not busy. */
  private pump(): void {
    const webhook = this.state.webhook;
    if (this.stopped || webhook === undefined || !isLoopbackUrl(new URL(webhook.url))) return;
    const chatsSeen = new Set<string>();
    for (const update of this.state.deliverable()) {
      const chat = chatKeyOf(update);
      if (chatsSeen.has(chat)) continue;
      chatsSeen.add(chat);
      const id = update.update_id as number;
      if (this.inFlight.has(id) || this.waiting.has(id)) continue;
      if (this.inFlight.size >= webhook.maxConnections) return;
      void this.deliver(update, id, webhook);
    }
  }

  private async deliver(update: JsonObject, id: number, webhook: Webhook): Promise<void> {
    const attempt = (this.attempts.get(id) ?? 0) + 1;
    this.attempts.set(id, attempt);
    const controller = new AbortController();
    this.inFlight.set(id, controller);
    this.report({ update_id: id, attempt, state: "delivering" });
    const started = Date.now();
    let outcome: { status?: number; body?: string; error?: string };
    try {
      const response = await fetch(webhook.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(webhook.secretToken === "" ? {} : { "x-telegram-bot-api-secret-token": webhook.secretToken }),
        },
        body: JSON.stringify(update),
        redirect: "manual",
        signal: AbortSignal.any([controller.signal, AbortSignal.timeout(this.timeoutMs)]),
      });
      const body = await response.text();
      outcome = response.ok
        ? { status: response.status, body }
        : { status: response.status, error: `Wrong response from the webhook: ${response.status} ${response.statusText}`.trim() };
    } catch (error) {
      outcome = { error: connectionError(error) };
    }
    // Reset, stopped or the update dropped meanwhile: this attempt no longer counts.
    if (this.inFlight.get(id) !== controller) return;
    this.inFlight.delete(id);
    const duration_ms = Date.now() - started;
    const base = { update_id: id, attempt, duration_ms, ...(outcome.status === undefined ? {} : { status: outcome.status }) };

    if (outcome.error === undefined) {
      this.state.updates = this.state.updates.filter((pending) => pending.update_id !== id);
      this.attempts.delete(id);
      const reply = await this.runReply(outcome.body ?? "");
      this.report({ ...base, state: "delivered", ...(reply === undefined ? {} : { reply }) });
    } else {
      this.state.lastError = { date: Math.floor(Date.now() / 1000), message: outcome.error };
      const delay = Math.min(this.retryBaseMs * 2 ** (attempt - 1), this.retryMaxMs);
      this.waiting.set(
        id,
        setTimeout(() => {
          this.waiting.delete(id);
          this.pump();
        }, delay),
      );
      this.report({ ...base, state: "retrying", error: outcome.error, retry_in_ms: delay });
    }
    this.pump();
  }

  /** Runs the Bot API method a 2xx answer carries, as Telegram does; its result goes nowhere. */
  private async runReply(body: string): Promise<DeliveryReport["reply"]> {
    let call: unknown;
    try {
      call = JSON.parse(body);
    } catch {
      return undefined;
    }
    if (!isJsonObject(call) || typeof call.method !== "string") return undefined;
    return { method: call.method, ...(await this.runWebhookReply(call)) };
  }
}
