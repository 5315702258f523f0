import type { StorageAdapter } from "grammy";
import type { Redis } from "../clients/redis.js";

/** Options of `UpstashSessionStorage`. */
export interface UpstashSessionStorageOptions {
  /** Prepended to every session key; default "bot:session:". */
  prefix?: string;
  /** Seconds a session lives after its last change; default 30 days. */
  ttlSeconds?: number;
}

/**
 * A grammY `StorageAdapter` over Upstash Redis: JSON values, a key prefix and a TTL.
 * grammY writes a session back whenever a handler read it; a write that would store exactly what was
 * just read is skipped, which saves a Redis round trip on most updates.
 */
export class UpstashSessionStorage<T> implements StorageAdapter<T> {
  private readonly prefix: string;
  private readonly ttlSeconds: number;
  /** JSON of the value last read per key, until the write that follows it. */
  private readonly lastRead = new Map<string, string>();

  constructor(
    private readonly redis: Redis,
    options: UpstashSessionStorageOptions = {},
  ) {
    this.prefix = options.prefix ?? "bot:session:";
    this.ttlSeconds = options.ttlSeconds ?? 30 * 24 * 60 * 60;
  }

  async read(key: string): Promise<T | undefined> {
    const value = (await this.redis.get<T>(this.prefix + key)) ?? undefined;
    if (value !== undefined) this.lastRead.set(key, JSON.stringify(value));
    return value;
  }

  async write(key: string, value: T): Promise<void> {
    const unchanged = this.lastRead.get(key) === JSON.stringify(value);
    this.lastRead.delete(key);
    if (unchanged) return;
    await this.redis.set(this.prefix + key, value, { ex: this.ttlSeconds });
  }

  async delete(key: string): Promise<void> {
    this.lastRead.delete(key);
    await this.redis.del(this.prefix + key);
  }
}
