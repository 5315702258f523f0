import { Redis } from "@upstash/redis/cloudflare";
import { DependencyError } from "../lib/errors.js";

/** Connection settings for Upstash Redis (REST). */
export interface RedisSettings {
  url: string;
  token: string;
}

/** The failure's own words, without the command (and its arguments) that Upstash appends. */
function describe(cause: unknown): string {
  const message = cause instanceof Error ? cause.message : String(cause);
  return `redis: ${message.replace(/, command was: [\s\S]*$/, "")}`;
}

/**
 * An Upstash client whose every failure (network, 5xx, error reply) surfaces as
 * `DependencyError("redis")`, so callers can tell it from a bug in their own code. Auto-pipelining is
 * off: it would report error replies outside the transport, and the bot's Redis calls are sequential.
 */
class DependencyAwareRedis extends Redis {
  constructor(settings: RedisSettings) {
    super({
      url: settings.url,
      token: settings.token,
      enableTelemetry: false,
      enableAutoPipelining: false,
      // A short retry budget: a webhook request must give up fast and let Telegram redeliver.
      retry: { retries: 2, backoff: (attempt) => 25 * 2 ** attempt },
    });
    const transport = this.client;
    const guarded: typeof transport = Object.create(transport);
    guarded.request = <TResult>(request: Parameters<typeof transport.request>[0]) =>
      transport.request<TResult>(request).catch((cause: unknown) => {
        throw new DependencyError("redis", { cause, message: describe(cause) });
      });
    this.client = guarded;
  }
}

/** Creates the Upstash Redis client used by the Worker and the polling script. */
export function createRedis(settings: RedisSettings): Redis {
  return new DependencyAwareRedis(settings);
}

export type { Redis };
