/**
 * Telegram's refusals of a bot that sends too much or to the wrong chat, when a test asks for them:
 * flood control (a rate per bot, 1 message per second per chat, 20 per minute per group, answered
 * with 429 and `parameters.retry_after` as Telegram does), and chats that blocked the bot (403) or
 * do not exist (400). Off until `POST /__control/flood` (which also starts its counts afresh);
 * `DELETE /__control/flood` and `/__control/reset` turn it off again.
 */
import { isJsonObject, type JsonObject } from "../json-object.js";
import { ApiError } from "./api-error.js";
import { flag, str } from "./params.js";

/** The limits, named as in `POST /__control/flood`. Defaults are Telegram's published ones. */
export interface FloodLimits {
  /** Messages per second per bot (Telegram: about 30). */
  per_second: number;
  /** The same for calls with `allow_paid_broadcast` (Telegram: up to 1000). */
  paid_per_second: number;
  /** Messages per second to one chat. */
  per_chat_per_second: number;
  /** Messages per minute to one group (a negative chat id). */
  per_group_per_minute: number;
}

const TELEGRAM_LIMITS: FloodLimits = { per_second: 30, paid_per_second: 1000, per_chat_per_second: 1, per_group_per_minute: 20 };

/** One message the double accepted while flood control was on. */
export interface AcceptedSend {
  chat_id: string;
  at: number;
}

/** What `GET /__control/flood` reports. */
export interface FloodReport {
  enabled: boolean;
  limits: FloodLimits;
  blocked: string[];
  not_found: string[];
  /** Answers given instead of sending, by error code. */
  refused: Record<string, number>;
  /** Every message accepted while it was on, in order. */
  sends: AcceptedSend[];
}

/** Methods that send a message, and so count toward the limits. */
const SENDS = /^(send(?!ChatAction$)\w+|copyMessages?|forwardMessages?)$/;

const ids = (value: unknown, name: string): string[] => {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((id) => typeof id === "number" || (typeof id === "string" && /^-?\d+$/.test(id)))) {
    throw new TypeError(`${name} must be an array of chat ids`);
  }
  return value.map(String);
};

const positive = (value: unknown, name: string, fallback: number): number => {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) throw new TypeError(`${name} must be a positive integer`);
  return value;
};

/** Seconds until a window that is full now has room again, as Telegram rounds it (at least 1). */
const retryAfter = (oldest: number, windowMs: number, now: number): number => Math.max(1, Math.ceil((oldest + windowMs - now) / 1000));

/** Flood control and chat refusals over one bot's sends. */
export class FloodControl {
  private enabled = false;
  private limits = TELEGRAM_LIMITS;
  private blocked = new Set<string>();
  private notFound = new Set<string>();
  private refused: Record<string, number> = {};
  private sends: AcceptedSend[] = [];
  /** Start of the sends still inside the one-second window (an index into `sends`). */
  private windowStart = 0;
  private lastByChat = new Map<string, number>();
  private groupSends = new Map<string, number[]>();

  /**
   * Turns it on with `settings` (limits, and the chats to refuse); what is left out is Telegram's default.
   * @throws TypeError saying what is wrong with the settings.
   */
  configure(settings: unknown): void {
    if (!isJsonObject(settings)) throw new TypeError("expected an object");
    this.limits = {
      per_second: positive(settings.per_second, "per_second", TELEGRAM_LIMITS.per_second),
      paid_per_second: positive(settings.paid_per_second, "paid_per_second", TELEGRAM_LIMITS.paid_per_second),
      per_chat_per_second: positive(settings.per_chat_per_second, "per_chat_per_second", TELEGRAM_LIMITS.per_chat_per_second),
      per_group_per_minute: positive(settings.per_group_per_minute, "per_group_per_minute", TELEGRAM_LIMITS.per_group_per_minute),
    };
    this.blocked = new Set(ids(settings.blocked, "blocked"));
    this.notFound = new Set(ids(settings.not_found, "not_found"));
    this.enabled = true;
  }

  report(): FloodReport {
    return {
      enabled: this.enabled,
      limits: this.limits,
      blocked: [...this.blocked],
      not_found: [...this.notFound],
      refused: { ...this.refused },
      sends: [...this.sends],
    };
  }

  /**
   * Telegram's refusal of this call, or undefined; a send it lets through is counted from now on.
   * The checks follow Telegram's order: the chat first, then the rates.
   */
  admit(method: string, params: JsonObject, now = Date.now()): ApiError | undefined {
    if (!this.enabled) return undefined;
    const chatId = str(params.chat_id);
    const refusal = this.refusal(method, chatId, flag(params.allow_paid_broadcast), now);
    if (refusal !== undefined) {
      this.refused[refusal.errorCode] = (this.refused[refusal.errorCode] ?? 0) + 1;
      return refusal;
    }
    if (SENDS.test(method)) {
      this.sends.push({ chat_id: chatId, at: now });
      this.lastByChat.set(chatId, now);
      if (chatId.startsWith("-")) this.groupSends.set(chatId, [...(this.groupSends.get(chatId) ?? []), now]);
    }
    return undefined;
  }

  /** A send `admit` let through was refused by the method itself (a bad request): it sent nothing. */
  withdraw(method: string, params: JsonObject): void {
    if (!this.enabled || !SENDS.test(method)) return;
    const chatId = str(params.chat_id);
    const index = this.sends.findLastIndex((send) => send.chat_id === chatId);
    if (index < 0) return;
    this.sends.splice(index, 1);
    if (index < this.windowStart) this.windowStart -= 1;
    this.lastByChat.delete(chatId);
    this.groupSends.get(chatId)?.pop();
  }

  private refusal(method: string, chatId: string, paid: boolean, now: number): ApiError | undefined {
    if (this.blocked.has(chatId)) return new ApiError(403, "Forbidden: bot was blocked by the user");
    if (this.notFound.has(chatId)) return new ApiError(400, "Bad Request: chat not found");
    if (!SENDS.test(method)) return undefined;
    const tooMany = (seconds: number): ApiError => new ApiError(429, `Too Many Requests: retry after ${seconds}`, seconds);

    while (this.windowStart < this.sends.length && (this.sends[this.windowStart]?.at ?? now) <= now - 1000) this.windowStart += 1;
    const inWindow = this.sends.length - this.windowStart;
    if (inWindow >= (paid ? this.limits.paid_per_second : this.limits.per_second)) {
      return tooMany(retryAfter(this.sends[this.windowStart]?.at ?? now, 1000, now));
    }
    const last = this.lastByChat.get(chatId);
    const chatInterval = 1000 / this.limits.per_chat_per_second;
    if (last !== undefined && now - last < chatInterval) return tooMany(retryAfter(last, chatInterval, now));
    if (chatId.startsWith("-")) {
      const recent = (this.groupSends.get(chatId) ?? []).filter((at) => at > now - 60_000);
      this.groupSends.set(chatId, recent);
      if (recent.length >= this.limits.per_group_per_minute) return tooMany(retryAfter(recent[0] ?? now, 60_000, now));
    }
    return undefined;
  }
}

/** Serves `POST|GET|DELETE /__control/flood`; undefined for any other control route. */
export function floodControlRoute(state: { flood: FloodControl }, route: string, body: () => unknown): JsonObject | undefined {
  switch (route) {
    case "POST /__control/flood": {
      // A fresh start: settings, chat lists and counts.
      const flood = new FloodControl();
      flood.configure(body());
      state.flood = flood;
      return { ok: true };
    }
    case "GET /__control/flood":
      return { ok: true, ...state.flood.report() } as unknown as JsonObject;
    case "DELETE /__control/flood":
      state.flood = new FloodControl();
      return { ok: true };
    default:
      return undefined;
  }
}
