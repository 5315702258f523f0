import { errors } from "@upstash/redis/cloudflare";
import { classifyRedisFailure, type Redis } from "../clients/redis.js";
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

/**
 * The outcome of trying to claim an update; `alongside` holds the value of the key read with the claim,
 * unless that read failed (the reader then reads it again itself and meets the failure there).
 */
export type ClaimResult =
  | { state: "claimed"; claim: UpdateClaim; alongside: { value: unknown } | undefined }
  | { state: "done" }
  | { state: "in_progress" };

/**
 * Exactly-once bookkeeping of Telegram updates in Redis, keyed by `update_id`.
 * A claim is a short lease (`SET NX PX`), so a crashed handler cannot hold an update forever.
 */
export class UpdateLedger {
  /**
   * @param redis the Upstash client.
   * @param leaseMs how long a claim holds before another delivery may take over.
   * @param failedUpdates where updates that failed for good are kept.
   */
  constructor(
    private readonly redis: Redis,
    private readonly leaseMs: number,
    private readonly failedUpdates: FailedUpdateStore,
  ) {}

  /**
   * Claims an update in one round trip, or reports that it is done or being handled.
   * @param alongside a key whose value the handler will need, read in the same round trip and kept
   *   alive for `ttlSeconds` (GETEX).
   */
  async claim(updateId: number, alongside?: { key: string; ttlSeconds: number }): Promise<ClaimResult> {
    const key = updateKey(updateId);
    const owner = `lease:${crypto.randomUUID()}`;
    const leaseEndsAt = Date.now() + this.leaseMs;
    const lease = { nx: true, px: this.leaseMs, get: true } as const;
    let previous: string | null;
    let read: { value: unknown } | undefined;
    if (alongside === undefined) {
      previous = await this.redis.set<string>(key, owner, lease);
    } else {
      const [claimed, value] = await this.redis
        .pipeline()
        .set<string>(key, owner, lease)
        .getex(alongside.key, { ex: alongside.ttlSeconds })
        .exec<[string | null, unknown]>({ keepErrors: true });
      if (claimed.error !== undefined) throw classifyRedisFailure(new errors.UpstashError(claimed.error));
      previous = claimed.result ?? null;
      read = value.error === undefined ? { value: value.result } : undefined;
    }
    if (previous === DONE) return { state: "done" };
    if (previous !== null) return { state: "in_progress" };
    return { state: "claimed", claim: this.claimOf(key, owner, leaseEndsAt), alongside: read };
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
