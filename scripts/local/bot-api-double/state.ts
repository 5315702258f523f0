/** The state of the one bot the double plays, and the long poll waiting on it. */
import { EventEmitter } from "node:events";
import type { JsonObject } from "../json-object.js";
import { ApiError } from "./api-error.js";
import type { BotApiFault } from "./faults.js";
import { FloodControl } from "./flood-control.js";
import { int, str, type Chat } from "./params.js";

/** One request that reached the double under a Bot API path (control endpoints are not recorded). */
export interface RecordedCall {
  /** Canonical method name (`sendMessage` even if called as `SENDMESSAGE`), else the path as sent. */
  method: string;
  token: string;
  /** Parameters as received: JSON values from JSON bodies, strings from forms and query strings. */
  params: Record<string, unknown>;
  /** `Date.now()` when the request arrived. */
  at: number;
}

/** The webhook as `setWebhook` set it. */
export interface Webhook {
  url: string;
  secretToken: string;
  maxConnections: number;
}
/** A message the double sent or edited, kept for later edits. */
export interface StoredMessage {
  chat: Chat;
  date: number;
  content: JsonObject;
}

/** What the double's own parts (webhook delivery, the chat page) follow; emitted synchronously. */
export interface StateEvents {
  /** Updates were queued (with their update_id assigned). */
  queued: [updates: JsonObject[]];
  /** A Bot API method succeeded (over HTTP or as a webhook reply). */
  call: [call: { method: string; params: JsonObject; result: unknown }];
  reset: [];
}

// Telegram sends these only to bots that ask for them in allowed_updates.
const OPT_IN_UPDATES = new Set(["chat_member", "message_reaction", "message_reaction_count"]);

/** Everything the double remembers between calls: one bot, whatever token a call uses. */
export class BotState {
  /** Kept across `reset`, so that listeners stay attached. */
  readonly events = new EventEmitter<StateEvents>();
  calls: RecordedCall[] = [];
  faults: BotApiFault[] = [];
  updates: JsonObject[] = [];
  allowedUpdates: string[] = [];
  webhook: Webhook | undefined;
  lastError: { date: number; message: string } | undefined;
  commands = new Map<string, JsonObject[]>();
  messages = new Map<string, StoredMessage>();
  deleted = new Set<string>();
  /** Private chats whose user blocked the bot (the chat page's Block button): sending there is refused with 403. */
  blockedChats = new Set<number>();
  lastMessageId = 0;
  lastUpdateId = 0;
  /** Flood control and refused chats, off unless a test turns them on. */
  flood = new FloodControl();
  private poll: ((conflict?: string) => void) | undefined;

  reset(): void {
    this.endPoll();
    const { events } = this;
    Object.assign(this, new BotState(), { events });
    events.emit("reset");
  }

  queue(updates: JsonObject[]): void {
    const queued = updates.map((update) => {
      const id = int(update.update_id);
      this.lastUpdateId = id === undefined ? this.lastUpdateId + 1 : Math.max(this.lastUpdateId, id);
      return id === undefined ? { ...update, update_id: this.lastUpdateId } : update;
    });
    this.updates.push(...queued);
    if (this.deliverable().length > 0) this.endPoll();
    this.events.emit("queued", queued);
  }

  /** Queued updates of the types the bot subscribes to; the others wait for a subscription. */
  deliverable(): JsonObject[] {
    return this.updates.filter((update) => {
      const type = Object.keys(update).find((key) => key !== "update_id");
      if (type === undefined) return true;
      return this.allowedUpdates.length > 0 ? this.allowedUpdates.includes(type) : !OPT_IN_UPDATES.has(type);
    });
  }

  /** getUpdates' offset: a positive one confirms lower ids, a negative one keeps the last -offset. */
  confirm(offset: number): void {
    if (offset > 0) this.updates = this.updates.filter((update) => Number(update.update_id) >= offset);
    else if (offset < 0) this.updates = this.updates.slice(offset);
  }

  /** Waits until updates arrive, the timeout passes, the client leaves, or another call ends the poll. */
  waitForUpdates(seconds: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle = (conflict?: string): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        if (this.poll === settle) this.poll = undefined;
        if (conflict === undefined) resolve();
        else reject(new ApiError(409, `Conflict: ${conflict}`));
      };
      const onAbort = (): void => settle();
      const timer = setTimeout(settle, seconds * 1000);
      signal.addEventListener("abort", onAbort);
      this.poll = settle;
      if (signal.aborted) settle();
    });
  }

  endPoll(conflict?: string): void {
    this.poll?.(conflict);
  }

  /** The first fault matching this call, counted down. */
  takeFault(method: string, params: JsonObject): BotApiFault | undefined {
    const fault = this.faults.find(
      (f) =>
        (f.method === "*" || f.method.toLowerCase() === method.toLowerCase()) &&
        (f.chat_id === undefined || str(f.chat_id) === str(params.chat_id)) &&
        (f.callback_query_id === undefined || f.callback_query_id === str(params.callback_query_id)),
    );
    if (fault?.times !== undefined) {
      fault.times -= 1;
      if (fault.times <= 0) this.faults = this.faults.filter((f) => f !== fault);
    }
    return fault;
  }
}
