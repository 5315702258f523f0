import type { Update } from "grammy/types";
import type { Redis } from "../clients/redis.js";

/** What the limit says of one update: within it, over it, or over it for the first time in this window. */
export type RateVerdict = "allowed" | "limited" | "limited_first";

const WINDOW_MS = 60_000;
const PREFIX = "bot:rate:";

/**
 * The sliding-window algorithm of `@upstash/ratelimit` (`Ratelimit.slidingWindow`): a counter per fixed
 * window, plus the previous window's count weighted by how much of it the sliding window still covers.
 * It is a Lua function so that the Worker runs it in the same script as the update's claim (one Redis
 * round trip before the handler), which the library's own call cannot join. `warnedKey` is set on the
 * first refusal of a window, so the user is told once.
 */
export const SLIDING_WINDOW_LUA = `
local function rateLimit(currentKey, previousKey, warnedKey, tokens, now, window)
  local current = tonumber(redis.call("GET", currentKey) or "0")
  local previous = tonumber(redis.call("GET", previousKey) or "0")
  local weighted = math.floor((1 - (now % window) / window) * previous)
  if weighted + current >= tokens then
    if redis.call("SET", warnedKey, "1", "NX", "PX", window) then return "limited_first" end
    return "limited"
  end
  if redis.call("INCR", currentKey) == 1 then redis.call("PEXPIRE", currentKey, window * 2 + 1000) end
  return "allowed"
end`;

const LIMIT = `${SLIDING_WINDOW_LUA}
return rateLimit(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))`;

/** The keys and arguments of one check, in the order `rateLimit` takes them. */
export interface RateCheck {
  keys: [current: string, previous: string, warned: string];
  args: [tokens: number, now: number, window: number];
}

/**
 * Updates per user per minute, in Redis. A verdict reached together with other work (the Worker's claim
 * script) is handed over with `preload`; otherwise `limit` asks Redis itself.
 */
export class SlidingWindowRateLimiter {
  private readonly preloaded = new WeakMap<Update, RateVerdict>();
  /** Sent by its SHA once Redis knows it (EVALSHA). */
  private readonly script;

  /**
   * @param redis the Upstash client.
   * @param updatesPerMinute updates one user may send per minute (> 0).
   */
  constructor(
    redis: Redis,
    readonly updatesPerMinute: number,
  ) {
    this.script = redis.createScript<RateVerdict>(LIMIT);
  }

  /** The check of one update by `userId` now. */
  checkOf(userId: number, now = Date.now()): RateCheck {
    const window = Math.floor(now / WINDOW_MS);
    const key = `${PREFIX}${userId}:`;
    return {
      keys: [`${key}${window}`, `${key}${window - 1}`, `${PREFIX}${userId}:warned`],
      args: [this.updatesPerMinute, now, WINDOW_MS],
    };
  }

  /** Hands over the verdict on `update` reached as `checkOf` says, so `limit` costs no round trip. */
  preload(update: Update, verdict: RateVerdict): void {
    this.preloaded.set(update, verdict);
  }

  /** The verdict on `update` by `userId`, counting it if it is allowed. */
  async limit(update: Update, userId: number): Promise<RateVerdict> {
    const preloaded = this.preloaded.get(update);
    if (preloaded !== undefined) return preloaded;
    const { keys, args } = this.checkOf(userId);
    return this.script.exec(keys, args.map(String));
  }
}
