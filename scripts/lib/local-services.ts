import { readFileSync } from "node:fs";
import { startBotApiDouble } from "../local/bot-api-double.js";
import { startNeonGateway } from "../local/neon-gateway.js";
import { startRedisGateway } from "../local/redis-gateway.js";
import { migrate } from "../migrate-db.js";
import { NO_LATENCY, type LatencyModel } from "./latency-model.js";

/** The bot identity the local Bot API double answers `getMe` with. */
export const LOCAL_BOT_INFO = JSON.parse(
  readFileSync(new URL("../local/local-bot-info.json", import.meta.url), "utf8"),
) as Record<string, unknown>;

/** What the local services stand on, and the made-up credentials they accept. */
export interface LocalServiceOptions {
  /** Real Redis behind the Upstash gateway; default redis://127.0.0.1:6379. */
  redisUrl: string;
  /** Real PostgreSQL behind the Neon gateway (migrated on start); default postgres://postgres@127.0.0.1:5432/test. */
  postgresUrl: string;
  /** Token the Upstash gateway accepts; default "local-upstash-token". */
  upstashToken: string;
  /** Token the Bot API double accepts; default "123456:local-dev-token". */
  botToken: string;
  /** Ports of the Upstash gateway, the Neon gateway and the Bot API double; 0 picks free ones. */
  ports: { redis: number; neon: number; botApi: number };
  /** Added per-request latency of each, ms (a production-like model); default none. */
  latency?: LatencyModel;
}

export const LOCAL_DEFAULTS: LocalServiceOptions = {
  redisUrl: "redis://127.0.0.1:6379",
  postgresUrl: "postgres://postgres@127.0.0.1:5432/test",
  upstashToken: "local-upstash-token",
  botToken: "123456:local-dev-token",
  ports: { redis: 0, neon: 0, botApi: 0 },
};

/** Local stand-ins for the secrets a developer has no reason to set (used when they are unset). */
export const LOCAL_SECRETS = {
  TELEGRAM_WEBHOOK_SECRET: "local_dev_webhook_secret",
  BOT_INTERNAL_API_TOKEN: "local-internal-api-token-0123456789",
};

/** What `startLocalServices` started and the variables that point at it. */
export interface LocalServices {
  /** Variables to add to the environment (only those that were missing). */
  vars: Record<string, string>;
  /** One human line per service started. */
  started: string[];
  close(): Promise<void>;
}

/**
 * Starts a local gateway for each storage variable that `env` leaves unset (Upstash over Redis, Neon
 * over a migrated PostgreSQL), the Bot API double when there is no bot token, and `LOCAL_SECRETS` for
 * the secrets left unset, so no account anywhere is needed to run the bot on this machine.
 */
export async function startLocalServices(
  env: Record<string, string | undefined>,
  options: LocalServiceOptions = LOCAL_DEFAULTS,
): Promise<LocalServices> {
  const vars: Record<string, string> = {};
  const started: string[] = [];
  const closers: (() => Promise<void>)[] = [];
  const latency = options.latency ?? NO_LATENCY;
  const slower = (ms: number) => (ms > 0 ? `, +${ms} ms per request` : "");

  if (!env.UPSTASH_REDIS_REST_URL) {
    const gateway = await startRedisGateway({
      token: options.upstashToken,
      redisUrl: options.redisUrl,
      port: options.ports.redis,
      latencyMs: latency.upstash,
    });
    closers.push(gateway.close);
    Object.assign(vars, { UPSTASH_REDIS_REST_URL: gateway.url, UPSTASH_REDIS_REST_TOKEN: options.upstashToken });
    started.push(`Upstash gateway ${gateway.url} → ${options.redisUrl}${slower(latency.upstash)}`);
  }
  if (!env.DATABASE_URL) {
    await migrate(options.postgresUrl);
    const gateway = await startNeonGateway({ postgresUrl: options.postgresUrl, port: options.ports.neon, latencyMs: latency.neon });
    closers.push(gateway.close);
    Object.assign(vars, { DATABASE_URL: options.postgresUrl, NEON_HTTP_ENDPOINT: gateway.httpEndpoint });
    started.push(`Neon gateway ${gateway.httpEndpoint} → ${options.postgresUrl}${slower(latency.neon)}`);
  }
  if (!env.TELEGRAM_BOT_TOKEN) {
    const double = await startBotApiDouble({
      tokens: [options.botToken],
      botInfo: LOCAL_BOT_INFO,
      port: options.ports.botApi,
      latencyMs: latency.telegram,
    });
    closers.push(double.close);
    Object.assign(vars, {
      TELEGRAM_BOT_TOKEN: options.botToken,
      TELEGRAM_API_ROOT: double.url,
      TELEGRAM_BOT_INFO: JSON.stringify(LOCAL_BOT_INFO),
    });
    started.push(`Bot API double ${double.url}${slower(latency.telegram)}`);
  }
  for (const [name, value] of Object.entries(LOCAL_SECRETS)) if (!env[name]) vars[name] = value;

  return {
    vars,
    started,
    close: async () => {
      await Promise.all(closers.map((close) => close()));
    },
  };
}
