import type { StorageAdapter } from "grammy";
import type { Update } from "grammy/types";
import type { Redis } from "../clients/redis.js";

/** Prepended to every session key. */
const PREFIX = "bot:session:";
/** A session lives this long after its chat's last update. */
const TTL_SECONDS = 30 * 24 * 60 * 60;

/**
 * Sessions in Upstash Redis (JSON values, a key prefix and a TTL), as one grammY `StorageAdapter` per
 * update. grammY writes a session back whenever a handler read it; this storage skips a write that would
 * store exactly what the update read, or an empty session where there was none, which saves a Redis
 * round trip on most updates and never puts an update's stale copy over a change another update of the
 * same chat made meanwhile (a redelivery or a late handler can overlap the next update). A value fetched
 * together with other work (the Worker reads it in the same round trip as the update's claim) is handed
 * over with `preload`, so the read costs no round trip of its own.
 */
export class UpstashSessionStorage<T> {
  /** Values fetched ahead of the update's read. */
  private readonly preloaded = new WeakMap<Update, { value: T | null }>();

  constructor(private readonly redis: Redis) {}

  /**
   * How the session of `key` is read: its Redis key, with the TTL the read renews (GETEX), so a session
   * lives 30 days after its chat's last update, not after its last change.
   */
  readOf(key: string): { key: string; ttlSeconds: number } {
    return { key: PREFIX + key, ttlSeconds: TTL_SECONDS };
  }

  /** Hands over the value read as `readOf` says, for the update's own read of its session. */
  preload(update: Update, value: T | null): void {
    this.preloaded.set(update, { value });
  }

  /** The storage of one update's session; what it read is its own, never another update's. */
  forUpdate(update: Update): StorageAdapter<T> {
    const { redis, preloaded } = this;
    let readJson: string | undefined;
    return {
      read: async (key) => {
        const handedOver = preloaded.get(update);
        preloaded.delete(update);
        const { key: redisKey, ttlSeconds } = this.readOf(key);
        const value = (handedOver !== undefined ? handedOver.value : await redis.getex<T>(redisKey, { ex: ttlSeconds })) ?? undefined;
        readJson = value === undefined ? undefined : JSON.stringify(value);
        return value;
      },
      write: async (key, value) => {
        const json = JSON.stringify(value);
        // Nothing changed, or a chat without a session still has nothing worth storing.
        if (json === readJson || (readJson === undefined && json === "{}")) return;
        await redis.set(PREFIX + key, value, { ex: TTL_SECONDS });
      },
      delete: async (key) => {
        await redis.del(PREFIX + key);
      },
    };
  }
}
