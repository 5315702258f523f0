import { DurableObject } from "cloudflare:workers";

/** When a send may go: at `at` (ms since the epoch), or not now: ask again in `wait` ms. */
export type Slot = { at: number } | { wait: number };

/** What a caller asks the pacer for. */
export interface ReserveOptions {
  /** Messages per second allowed over all callers (TELEGRAM_SEND_RATE). */
  rate: number;
  /**
   * A caller someone waits for (`/notify`): it may book past the bulk horizon, up to this far ahead,
   * so a broadcast in progress delays it by at most the horizon.
   */
  priorityHorizonMs?: number;
}

/** A 429 Telegram gave for a chat. */
export interface Throttle {
  chatId: string;
  retryAfterSeconds: number;
}

/** Telegram counts a rate per second; slots keep this much of a second spare against jitter in arrival. */
const GLOBAL_GUARD_MS = 20;
/** At most one message per second per chat, with a margin. */
const CHAT_INTERVAL_MS = 1100;
/** At most 20 messages per minute per group, with a margin. */
const GROUP_LIMIT = 20;
const GROUP_WINDOW_MS = 61_000;
/** Bulk callers book at most this far ahead, so others (and `/notify`) are never queued behind a long schedule. */
const BULK_HORIZON_MS = 1000;
/** On a 429 the rate drops to this share and recovers linearly over `RECOVERY_MS`. */
const SLOWDOWN_FACTOR = 0.9;
const RECOVERY_MS = 5000;
const MIN_FACTOR = 0.1;

/** Groups (and channels) have negative chat ids. */
const isGroup = (chatId: string): boolean => chatId.startsWith("-");

/**
 * Hands out send slots so that Telegram's limits hold for the bot across every isolate and
 * invocation: TELEGRAM_SEND_RATE messages per second overall, 1 per second per chat, 20 per minute
 * per group. One object per bot; everything it knows is in its SQLite storage, so an evicted or
 * restarted object goes on where it stopped. Its methods are synchronous: each runs alone.
 */
export class NotificationPacer extends DurableObject {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS pace (id INTEGER PRIMARY KEY CHECK (id = 1), next_at REAL NOT NULL, factor REAL NOT NULL, slowed_at REAL NOT NULL);
      INSERT OR IGNORE INTO pace VALUES (1, 0, 1, 0);
      CREATE TABLE IF NOT EXISTS chat_free (chat_id TEXT PRIMARY KEY, free_at REAL NOT NULL);
      CREATE INDEX IF NOT EXISTS chat_free_at ON chat_free (free_at);
      CREATE TABLE IF NOT EXISTS group_sends (chat_id TEXT NOT NULL, at REAL NOT NULL);
      CREATE INDEX IF NOT EXISTS group_sends_chat ON group_sends (chat_id, at);`);
  }

  /**
   * Books a slot for a message to each chat, in order, evenly spaced at the allowed rate (slowed
   * after 429s). A chat that is not free yet, or a schedule full up to the horizon, gets a `wait`.
   */
  reserve(chatIds: string[], options: ReserveOptions): Slot[] {
    const now = Date.now();
    const pace = this.pace();
    const interval = (1000 + GLOBAL_GUARD_MS) / (options.rate * this.factor(pace, now));
    const horizon = now + (options.priorityHorizonMs ?? BULK_HORIZON_MS);
    let next = Math.max(now, pace.next_at);
    const slots = chatIds.map((chatId): Slot => {
      const free = this.freeAt(chatId);
      const at = options.priorityHorizonMs === undefined || free <= next ? next : free;
      if (free > at) return { wait: free - now };
      if (at > horizon) return { wait: at - horizon };
      next = at + interval;
      this.sql.exec(`INSERT OR REPLACE INTO chat_free VALUES (?, ?)`, chatId, at + CHAT_INTERVAL_MS);
      if (isGroup(chatId)) this.sql.exec(`INSERT INTO group_sends VALUES (?, ?)`, chatId, at);
      return { at };
    });
    this.sql.exec(`UPDATE pace SET next_at = ? WHERE id = 1`, next);
    this.sql.exec(`DELETE FROM chat_free WHERE free_at < ?`, now);
    this.sql.exec(`DELETE FROM group_sends WHERE at < ?`, now - GROUP_WINDOW_MS);
    return slots;
  }

  /**
   * Takes Telegram's 429s into account: the chat waits its `retry_after`, and a 429 outside a group
   * (where the per-group limit explains it) slows the whole bot down, at most once per second.
   */
  throttled(throttles: Throttle[]): void {
    const now = Date.now();
    for (const { chatId, retryAfterSeconds } of throttles) {
      this.sql.exec(
        `INSERT INTO chat_free VALUES (?, ?) ON CONFLICT (chat_id) DO UPDATE SET free_at = max(free_at, excluded.free_at)`,
        chatId,
        now + retryAfterSeconds * 1000 + CHAT_INTERVAL_MS - 1000,
      );
    }
    const pace = this.pace();
    if (throttles.some((t) => !isGroup(t.chatId)) && now - pace.slowed_at >= 1000) {
      const factor = Math.max(MIN_FACTOR, this.factor(pace, now) * SLOWDOWN_FACTOR);
      this.sql.exec(`UPDATE pace SET factor = ?, slowed_at = ? WHERE id = 1`, factor, now);
    }
  }

  /** The share of the configured rate in use now (1 unless slowed down recently). */
  speed(): number {
    return this.factor(this.pace(), Date.now());
  }

  private pace(): { next_at: number; factor: number; slowed_at: number } {
    return this.sql.exec<{ next_at: number; factor: number; slowed_at: number }>(`SELECT next_at, factor, slowed_at FROM pace`).one();
  }

  private factor(pace: { factor: number; slowed_at: number }, now: number): number {
    return Math.min(1, pace.factor + ((1 - SLOWDOWN_FACTOR) * (now - pace.slowed_at)) / RECOVERY_MS);
  }

  /** When the chat may get its next message: after its last one, and for a group within its per-minute budget. */
  private freeAt(chatId: string): number {
    const chat = this.sql.exec<{ free_at: number }>(`SELECT free_at FROM chat_free WHERE chat_id = ?`, chatId).toArray()[0];
    let free = chat?.free_at ?? 0;
    if (isGroup(chatId)) {
      const oldest = this.sql
        .exec<{ at: number }>(`SELECT at FROM group_sends WHERE chat_id = ? ORDER BY at DESC LIMIT 1 OFFSET ?`, chatId, GROUP_LIMIT - 1)
        .toArray()[0];
      if (oldest !== undefined) free = Math.max(free, oldest.at + GROUP_WINDOW_MS);
    }
    return free;
  }
}
