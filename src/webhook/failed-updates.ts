import type { Update } from "grammy/types";
import type { Redis } from "../clients/redis.js";
import { errorFields } from "../lib/logger.js";

/** Sorted set of the ids of failed updates, scored by when they failed (ms since the epoch). */
export const FAILED_UPDATE_IDS_KEY = "bot:failed-update-ids";

/** Redis key of one failed update's record; it expires after the retention. */
export function failedUpdateKey(updateId: number): string {
  return `bot:failed-update:${updateId}`;
}

/** How many failed updates are listed at most; older ids leave the index (their records still expire). */
const FAILED_UPDATES_KEPT = 1000;
/** Longest update JSON kept whole; a longer one keeps only its start, so a record never grows without bound. */
const UPDATE_JSON_KEPT = 8 * 1024;
const ERROR_MESSAGE_KEPT = 1024;
const STACK_KEPT = 4 * 1024;

/** What is kept of an update that failed for good (a bug, or a failure after a reply reached the user). */
export interface FailedUpdateRecord {
  update_id: number;
  update_type: string;
  error_name: string;
  error_message: string;
  stack?: string;
  failed_at: string;
  /** The update as received, when its JSON is at most 8 KiB: such a record can be replayed. */
  update?: Update;
  /** The first 8 KiB of the update's JSON when it was longer; absent when it could not be serialized at all. */
  update_excerpt?: string;
}

function serialized(update: Update): string | undefined {
  try {
    return JSON.stringify(update);
  } catch {
    // A pathological update (nested deeper than the stack allows) is still recorded, without its body.
    return undefined;
  }
}

/** The record of `update` failing with `error`; never throws, whatever the update holds. */
export function failedUpdateRecord(update: Update, updateType: string, error: unknown, failedAt = new Date()): FailedUpdateRecord {
  const details = errorFields(error);
  const json = serialized(update);
  const body =
    json === undefined ? {} : json.length <= UPDATE_JSON_KEPT ? { update } : { update_excerpt: json.slice(0, UPDATE_JSON_KEPT) };
  return {
    update_id: update.update_id,
    update_type: updateType,
    error_name: String(details.error_name ?? "Error").slice(0, 100),
    error_message: String(details.error_message ?? details.error).slice(0, ERROR_MESSAGE_KEPT),
    ...(typeof details.stack === "string" ? { stack: details.stack.slice(0, STACK_KEPT) } : {}),
    failed_at: failedAt.toISOString(),
    ...body,
  };
}

type Pipeline = ReturnType<Redis["pipeline"]>;

/**
 * Failed updates kept for inspection, each under a key of its own that expires after the retention,
 * indexed by a sorted set of ids that forgets entries past the retention or beyond the newest 1000.
 */
export class FailedUpdateStore {
  /**
   * @param redis the Upstash client.
   * @param retentionSeconds how long a record is kept (FAILED_UPDATES_RETENTION_DAYS).
   */
  constructor(
    private readonly redis: Redis,
    private readonly retentionSeconds: number,
  ) {}

  /** Adds the commands that keep `record` to `pipeline`, so they travel with the update's done mark. */
  keepIn(pipeline: Pipeline, record: FailedUpdateRecord): Pipeline {
    const failedAt = Date.parse(record.failed_at);
    return pipeline
      .set(failedUpdateKey(record.update_id), record, { ex: this.retentionSeconds })
      .zadd(FAILED_UPDATE_IDS_KEY, { score: failedAt, member: String(record.update_id) })
      .zremrangebyscore(FAILED_UPDATE_IDS_KEY, "-inf", failedAt - this.retentionSeconds * 1000)
      .zremrangebyrank(FAILED_UPDATE_IDS_KEY, 0, -(FAILED_UPDATES_KEPT + 1))
      .expire(FAILED_UPDATE_IDS_KEY, this.retentionSeconds);
  }

  /** The kept records, newest first. */
  async list(): Promise<FailedUpdateRecord[]> {
    const ids = await this.redis.zrange<string[]>(FAILED_UPDATE_IDS_KEY, 0, -1, { rev: true });
    if (ids.length === 0) return [];
    const records = await this.redis.mget<(FailedUpdateRecord | null)[]>(...ids.map((id) => failedUpdateKey(Number(id))));
    return records.filter((record): record is FailedUpdateRecord => record !== null);
  }

  async get(updateId: number): Promise<FailedUpdateRecord | undefined> {
    return (await this.redis.get<FailedUpdateRecord>(failedUpdateKey(updateId))) ?? undefined;
  }

  /** Forgets one record. @returns whether there was one. */
  async drop(updateId: number): Promise<boolean> {
    const [deleted] = await this.redis
      .pipeline()
      .del(failedUpdateKey(updateId))
      .zrem(FAILED_UPDATE_IDS_KEY, String(updateId))
      .exec<[number, number]>();
    return deleted > 0;
  }
}
