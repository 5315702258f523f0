import { DurableObject } from "cloudflare:workers";

/** When a send may go: at `at` (ms since the epoch), or not now: ask again in `wait` ms. */
export type Slot = { at: number } | { wait: number };

/** What a caller asks the pacer for. */
export interface ReserveOptions {
  /** Messages per second allowed over all callers (TELEGRAM_SEND_RATE). */
  rate: number;
  /**
   * How far ahead this caller may book; default a second (bulk). A caller someone waits for
   * (`/notify`) books further, so a broadcast in progress delays it by about a second at most.
   */
  horizonMs?: number;
}

/** A 429 Telegram gave for a chat. */
export interface Throttle {
  chatId: string;
  retryAfterSeconds: number;
}

/**
 * Telegram counts a rate per second; the pacer counts per this window, a little longer, so that jitter
 * between a slot and the moment Telegram sees the message does not push two windows' sends into one.
 */
const WINDOW_MS = 1020;
/** A caller that fell behind the even schedule (the gap between two batches) catches up this much faster. */
const CATCH_UP_SPEED = 4 / 3;
/** At most one message per second per chat, with a margin. */
const CHAT_INTERVAL_MS = 1100;
/** At most 20 messages per minute per group, with a margin. */
const GROUP_LIMIT = 20;
const GROUP_WINDOW_MS = 61_000;
const BULK_HORIZON_MS = 1000;
/** On a 429 the rate drops to this share and recovers linearly over `RECOVERY_MS`. */
const SLOWDOWN_FACTOR = 0.95;
const RECOVERY_MS = 3000;
const MIN_FACTOR = 0.1;

/** Groups (and channels) have negative chat ids. */
const isGroup = (chatId: string): boolean => chatId.startsWith("-");

interface Pace {
  /** When the current run of sends began (no window before it was empty). */
  busy_since: number;
  factor: number;
  slowed_at: number;
}

/**
 * Hands out send slots so that Telegram's limits hold for the bot across every isolate and
 * invocation: at most TELEGRAM_SEND_RATE messages in any one-second window, 1 per second per chat,
 * 20 per minute per group. Slots are spaced evenly at the rate; a caller that fell behind (the gap
 * between two of a consumer's batches) may catch up a little faster while the window has room.
 * One object per bot; everything it knows is in its SQLite storage, so an evicted or restarted
 * object goes on where it stopped. Its methods are synchronous: each runs alone.
 */
export class NotificationPacer extends DurableObject {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS pace (id INTEGER PRIMARY KEY CHECK (id = 1), busy_since REAL NOT NULL, factor REAL NOT NULL, slowed_at REAL NOT NULL);
      INSERT OR IGNORE INTO pace VALUES (1, 0, 1, 0);
      CREATE TABLE IF NOT EXISTS slots (at REAL NOT NULL);
      CREATE INDEX IF NOT EXISTS slots_at ON slots (at);
      CREATE TABLE IF NOT EXISTS chat_free (chat_id TEXT PRIMARY KEY, free_at REAL NOT NULL);
      CREATE INDEX IF NOT EXISTS chat_free_at ON chat_free (free_at);
      CREATE TABLE IF NOT EXISTS group_sends (chat_id TEXT NOT NULL, at REAL NOT NULL);
      CREATE INDEX IF NOT EXISTS group_sends_chat ON group_sends (chat_id, at);`);
  }

  /**
   * Books a slot for a message to each chat, in order and never earlier than the slots before it.
   * A chat that is not free yet, or a schedule full up to the horizon, gets a `wait` instead.
   */
  reserve(chatIds: string[], options: ReserveOptions): Slot[] {
    const now = Date.now();
    const pace = this.pace();
    const perWindow = Math.max(1, Math.floor(options.rate * this.factor(pace, now)));
    const even = WINDOW_MS / perWindow;
    const horizon = now + (options.horizonMs ?? BULK_HORIZON_MS);
    // The slots of the last window and those booked ahead, in order.
    const booked = this.sql.exec<{ at: number }>(`SELECT at FROM slots WHERE at > ? ORDER BY at`, now - WINDOW_MS).toArray().map((r) => r.at);
    let busySince = booked.length === 0 ? undefined : pace.busy_since;
    // Within a run's first window there is no earlier window to catch up in: its slots stay even.
    const sinceStart = () => (busySince === undefined ? 0 : booked.length - booked.findIndex((at) => at >= busySince!));

    const slots = chatIds.map((chatId): Slot => {
      const last = booked.at(-1);
      let at = last === undefined ? now : Math.max(now, last + even / CATCH_UP_SPEED);
      const windowStart = booked[booked.length - perWindow];
      if (windowStart !== undefined) at = Math.max(at, windowStart + WINDOW_MS);
      if (busySince !== undefined && busySince > at - WINDOW_MS) at = Math.max(at, busySince + sinceStart() * even);
      const free = this.freeAt(chatId);
      if (free > at) return { wait: free - now };
      if (at > horizon) return { wait: at - horizon };
      busySince ??= at;
      booked.push(at);
      this.sql.exec(`INSERT INTO slots VALUES (?)`, at);
      this.sql.exec(`INSERT OR REPLACE INTO chat_free VALUES (?, ?)`, chatId, at + CHAT_INTERVAL_MS);
      if (isGroup(chatId)) this.sql.exec(`INSERT INTO group_sends VALUES (?, ?)`, chatId, at);
      return { at };
    });
    this.sql.exec(`UPDATE pace SET busy_since = ? WHERE id = 1`, busySince ?? 0);
    this.sql.exec(`DELETE FROM slots WHERE at <= ?`, now - WINDOW_MS);
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

  private pace(): Pace {
    return this.sql.exec<{ busy_since: number; factor: number; slowed_at: number }>(`SELECT busy_since, factor, slowed_at FROM pace`).one();
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
