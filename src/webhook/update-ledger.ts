import { SLIDING_WINDOW_LUA, type RateCheck, type RateVerdict } from "../bot/rate-limiter.js";
import type { Redis } from "../clients/redis.js";
import type { FailedUpdateRecord, FailedUpdateStore } from "./failed-updates.js";

/** How long a handled update is remembered: Telegram keeps undelivered updates for 24 h. */
const DONE_TTL_SECONDS = 24 * 60 * 60;

/** Redis key that records the state of one update. */
export function updateKey(updateId: number): string {
  return `bot:update:${updateId}`;
}

const DONE = "done";
const DELETE_IF_EQUAL = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`;

/**
 * Forgets that an update was handled, so a replay of it runs the handler again (an operator's decision);
 * a claim being held is left alone. @returns whether the update was marked done.
 */
export async function forgetHandledUpdate(redis: Redis, updateId: number): Promise<boolean> {
  return (await redis.eval<[string], number>(DELETE_IF_EQUAL, [updateKey(updateId)], [DONE])) === 1;
}

/** A claim on one update, held while its handler runs. */
export interface UpdateClaim {
  /** When the lease ends (ms since the epoch): after that, a redelivery that finds no result runs the update again. */
  leaseEndsAt: number;
  /** The handler succeeded: remember the update as done. */
  complete(): Promise<void>;
  /** A retryable failure: let the next delivery claim the update again. */
  release(): Promise<void>;
  /** A failure a redelivery must not repeat: remember the update as done, so it cannot block the chat, and keep it for inspection. */
  fail(record: FailedUpdateRecord): Promise<void>;
}

/** What the claim's script reads and checks besides the claim, when the update has them. */
export interface ClaimReads {
  /** The chat's session, read and kept alive for `ttlSeconds` (GETEX). */
  session?: { key: string; ttlSeconds: number };
  /** The sender's rate limit. */
  rateLimit?: RateCheck;
}

/**
 * The outcome of trying to claim an update. With the claim come what the script read: `session` (null
 * when the chat has none) and `rateVerdict`, each undefined when not asked for or when that part failed
 * (its reader then asks Redis itself and meets the failure there).
 */
export type ClaimResult =
  | { state: "claimed"; claim: UpdateClaim; session: { value: unknown } | undefined; rateVerdict: RateVerdict | undefined }
  | { state: "done" }
  | { state: "in_progress" };

/**
 * The claim, the session read and the rate limit, in one round trip. KEYS: update, session, the rate
 * limit's current, previous and warned keys (unused ones repeat the update's key). ARGV: lease owner,
 * lease ms, session TTL ("" = no read), rate limit tokens ("" = no check), now ms, window ms. The reads
 * after the claim cannot fail it: bad data there is reported, and met again by its own reader.
 */
const CLAIM = `${SLIDING_WINDOW_LUA}
local previous = redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2], "GET")
if previous then return {"taken", previous} end
local session, sessionValue = "skipped", ""
if ARGV[3] ~= "" then
  local value = redis.pcall("GETEX", KEYS[2], "EX", ARGV[3])
  if type(value) == "table" and value.err then session = "failed"
  elseif value then session, sessionValue = "read", value
  else session = "absent" end
end
local verdict = "skipped"
if ARGV[4] ~= "" then
  local ok, result = pcall(rateLimit, KEYS[3], KEYS[4], KEYS[5], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
  verdict = ok and result or "failed"
end
return {"claimed", session, sessionValue, verdict}`;

type ClaimReply = ["taken", string] | ["claimed", "skipped" | "failed" | "read" | "absent", unknown, RateVerdict | "skipped" | "failed"];

/**
 * Exactly-once bookkeeping of Telegram updates in Redis, keyed by `update_id`.
 * A claim is a short lease (`SET NX PX`), so a crashed handler cannot hold an update forever.
 */
export class UpdateLedger {
  /** Sent by its SHA once Redis knows it (EVALSHA), so each claim does not carry the script's text. */
  private readonly claimScript;

  /**
   * @param redis the Upstash client.
   * @param leaseMs how long a claim holds before another delivery may take over.
   * @param failedUpdates where updates that failed for good are kept.
   */
  constructor(
    private readonly redis: Redis,
    private readonly leaseMs: number,
    private readonly failedUpdates: FailedUpdateStore,
  ) {
    this.claimScript = redis.createScript<ClaimReply>(CLAIM);
  }

  /** Claims an update, reading what `reads` asks for in the same round trip, or reports that it is done or being handled. */
  async claim(updateId: number, reads: ClaimReads = {}): Promise<ClaimResult> {
    const key = updateKey(updateId);
    const owner = `lease:${crypto.randomUUID()}`;
    const leaseEndsAt = Date.now() + this.leaseMs;
    const { session, rateLimit } = reads;
    const keys = [key, session?.key ?? key, ...(rateLimit?.keys ?? [key, key, key])];
    const args = [owner, this.leaseMs, session?.ttlSeconds ?? "", ...(rateLimit?.args ?? ["", 0, 0])].map(String);
    const reply = await this.claimScript.exec(keys, args);
    if (reply[0] === "taken") return { state: reply[1] === DONE ? "done" : "in_progress" };
    const [, sessionRead, sessionValue, verdict] = reply;
    return {
      state: "claimed",
      claim: this.claimOf(key, owner, leaseEndsAt),
      session: sessionRead === "read" ? { value: sessionValue } : sessionRead === "absent" ? { value: null } : undefined,
      rateVerdict: verdict === "skipped" || verdict === "failed" ? undefined : verdict,
    };
  }

  private claimOf(key: string, owner: string, leaseEndsAt: number): UpdateClaim {
    const { redis, failedUpdates } = this;
    return {
      leaseEndsAt,
      // Not owner-checked: a late settle that outlived the lease found a redelivery running the handler
      // too, and "done" is the right end state for both.
      async complete() {
        await redis.set(key, DONE, { ex: DONE_TTL_SECONDS });
      },
      async release() {
        await redis.eval(DELETE_IF_EQUAL, [key], [owner]);
      },
      async fail(record) {
        await failedUpdates.keepIn(redis.pipeline().set(key, DONE, { ex: DONE_TTL_SECONDS }), record).exec();
      },
    };
  }
}
