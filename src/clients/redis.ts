import { Redis, errors } from "@upstash/redis/cloudflare";
import { DependencyError } from "../lib/errors.js";

/** Connection settings for Upstash Redis (REST). */
export interface RedisSettings {
  url: string;
  token: string;
  /** How long one command may take, retries included, before it fails as an outage. */
  timeoutMs: number;
}

/** The failure's own words, without the command (and its arguments) that Upstash appends. */
function describe(cause: unknown): string {
  const message = cause instanceof Error ? cause.message : String(cause);
  return `redis: ${message.replace(/, command was: [\s\S]*$/, "")}`;
}

/** Error replies that report a bug or bad data (a key of the wrong type, a malformed command): a retry cannot fix them. */
const BUG_REPLY = /(^|: )(WRONGTYPE|ERR (syntax error|unknown command|wrong number of arguments|value is not|Error running script))/;

/** An error reply a retry cannot fix; its message leaves out the command's arguments (tokens, session data). */
export class RedisReplyError extends Error {
  override readonly name = "RedisReplyError";
}

/**
 * A Redis failure as the failure policy sees it: `DependencyError("redis")` when a retry can fix it
 * (network, 5xx, limits, auth, a busy or failing-over server), else a `RedisReplyError`, a bug.
 */
export function classifyRedisFailure(cause: unknown): Error {
  if (cause instanceof errors.UpstashError && BUG_REPLY.test(cause.message)) {
    return new RedisReplyError(describe(cause), { cause });
  }
  return new DependencyError("redis", { cause, message: describe(cause) });
}

/**
 * Creates the Upstash Redis client used by the Worker and the polling script. Its failures are
 * classified by `classifyRedisFailure`, so callers can tell an outage from a bug. Auto-pipelining is
 * off: it would report error replies outside the transport, and the bot's Redis calls are sequential.
 */
export function createRedis(settings: RedisSettings): Redis {
  const redis = new Redis({
    url: settings.url,
    token: settings.token,
    enableTelemetry: false,
    enableAutoPipelining: false,
    // A short retry budget and a deadline per command: a webhook request must give up fast and let
    // Telegram redeliver, even when Upstash accepts the connection and never answers.
    retry: { retries: 2, backoff: (attempt) => 25 * 2 ** attempt },
    signal: () => AbortSignal.timeout(settings.timeoutMs),
  });
  redis.use((request, next) =>
    next(request).catch((cause: unknown) => {
      throw classifyRedisFailure(cause);
    }),
  );
  return redis;
}

export type { Redis };
