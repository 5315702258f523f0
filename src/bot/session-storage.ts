import type { StorageAdapter } from "grammy";
import type { Redis } from "../clients/redis.js";

/** Prepended to every session key. */
const PREFIX = "bot:session:";
/** A session lives this long after its chat's last update. */
const TTL_SECONDS = 30 * 24 * 60 * 60;

/**
 * A grammY `StorageAdapter` over Upstash Redis: JSON values, a key prefix and a TTL.
 * grammY writes a session back whenever a handler read it; a write that would store exactly what was
 * just read, or an empty session where there was none, is skipped, which saves a Redis round trip on
 * most updates. A value fetched together with other work (the Worker reads it in the same round trip
 * as the update's claim) can be handed over with `preload`, so the read costs no round trip of its own.
 */
export class UpstashSessionStorage<T> implements StorageAdapter<T> {
  /** JSON of the value last read per key, until the write that follows it. */
  private readonly lastRead = new Map<string, string>();
  /** Values fetched ahead of the read, per key, until that read. */
  private readonly preloaded = new Map<string, T | null>();

  constructor(private readonly redis: Redis) {}

  /**
   * How the session of `key` is read: its Redis key, with the TTL the read renews (GETEX), so a session
   * lives 30 days after its chat's last update, not after its last change.
   */
  readOf(key: string): { key: string; ttlSeconds: number } {
    return { key: PREFIX + key, ttlSeconds: TTL_SECONDS };
  }

  /**
   * Hands over the value read as `readOf(key)` says just now, for the next read of `key`.
   * @returns a function that drops what is left of it (call it once the update is handled).
   */
  preload(key: string, value: T | null): () => void {
    this.preloaded.set(key, value);
    return () => {
      this.preloaded.delete(key);
      this.lastRead.delete(key);
    };
  }

  async read(key: string): Promise<T | undefined> {
    const preloaded = this.preloaded.get(key);
    const { key: redisKey, ttlSeconds } = this.readOf(key);
    const value = (preloaded !== undefined ? preloaded : await this.redis.getex<T>(redisKey, { ex: ttlSeconds })) ?? undefined;
    this.preloaded.delete(key);
    if (value !== undefined) this.lastRead.set(key, JSON.stringify(value));
    return value;
  }

  async write(key: string, value: T): Promise<void> {
    const json = JSON.stringify(value);
    const previous = this.lastRead.get(key);
    this.lastRead.delete(key);
    // Nothing changed, or a chat without a session still has nothing worth storing.
    if (json === previous || (previous === undefined && json === "{}")) return;
    await this.redis.set(PREFIX + key, value, { ex: TTL_SECONDS });
  }

  async delete(key: string): Promise<void> {
    this.lastRead.delete(key);
    await this.redis.del(PREFIX + key);
  }
}
