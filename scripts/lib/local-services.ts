import { readFileSync } from "node:fs";
import { Redis as IORedis } from "ioredis";
import { startBotApiDouble } from "../local/bot-api-double.js";
import { startNeonGateway } from "../local/neon-gateway.js";
import { startRedisGateway } from "../local/redis-gateway.js";
import { migrate } from "../migrate-db.js";
import { CliError, withoutPassword } from "./cli.js";
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
  /** The stand-ins a script needs, when not all of them (`npm run failed` needs Redis only). */
  only?: readonly ("redis" | "neon" | "botApi")[];
  /** Added per-request latency of each, ms (a production-like model); default none. */
  latency?: LatencyModel;
}

/** The Bot API double's port for `npm run dev` and `npm run polling`: a chat page address that stays put. */
export const CHAT_PAGE_PORT = 8081;

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
  /** One human line per service started (connection strings without their passwords). */
  started: string[];
  /** The Bot API double's chat page, when the double was started. */
  chatPageUrl: string | undefined;
  close(): Promise<void>;
}

/** The option that picks each service's port, for the error line when the port is taken. */
const PORT_OPTIONS = { redis: "--redis-port", neon: "--neon-port", botApi: "--bot-api-port" } as const;

/** Starts one service; a taken port is an expected failure, said in one line. */
async function listening<T>(service: keyof typeof PORT_OPTIONS, port: number, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
    throw new CliError(
      `port ${port} is in use (another \`npm run dev\`, \`npm run polling\` or \`npm run local:services\`?); stop it or pick another port with ${PORT_OPTIONS[service]}`,
    );
  }
}

/** Fails in one line unless Redis answers a PING. */
async function checkRedis(url: string): Promise<void> {
  const redis = new IORedis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  // The connection's own error says why ("connect ECONNREFUSED …"); the command's only that it closed.
  let connectionError: Error | undefined;
  redis.on("error", (error: Error) => (connectionError ??= error));
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new CliError(`Redis at ${withoutPassword(url)} does not answer (--redis-url): ${(connectionError ?? (error as Error)).message}`);
  } finally {
    redis.disconnect();
  }
}

/** Migrates the local PostgreSQL; a database that refuses is an expected failure, said in one line. */
async function migrateLocal(url: string): Promise<void> {
  try {
    await migrate(url);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`PostgreSQL at ${withoutPassword(url)} refused (--postgres-url): ${(error as Error).message}`);
  }
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

  let chatPageUrl: string | undefined;
  const wanted = (service: "redis" | "neon" | "botApi"): boolean => options.only === undefined || options.only.includes(service);
  const close = async (): Promise<void> => {
    await Promise.all(closers.splice(0).map((closer) => closer()));
  };

  try {
    if (!env.UPSTASH_REDIS_REST_URL && wanted("redis")) {
      await checkRedis(options.redisUrl);
      const { redis: port } = options.ports;
      const gateway = await listening("redis", port, () =>
        startRedisGateway({ token: options.upstashToken, redisUrl: options.redisUrl, port, latencyMs: latency.upstash }),
      );
      closers.push(gateway.close);
      Object.assign(vars, { UPSTASH_REDIS_REST_URL: gateway.url, UPSTASH_REDIS_REST_TOKEN: options.upstashToken });
      started.push(`Upstash gateway ${gateway.url} → ${withoutPassword(options.redisUrl)}${slower(latency.upstash)}`);
    }
    if (!env.DATABASE_URL && wanted("neon")) {
      await migrateLocal(options.postgresUrl);
      const { neon: port } = options.ports;
      const gateway = await listening("neon", port, () => startNeonGateway({ postgresUrl: options.postgresUrl, port, latencyMs: latency.neon }));
      closers.push(gateway.close);
      Object.assign(vars, { DATABASE_URL: options.postgresUrl, NEON_HTTP_ENDPOINT: gateway.httpEndpoint });
      started.push(`Neon gateway ${gateway.httpEndpoint} → ${withoutPassword(options.postgresUrl)}${slower(latency.neon)}`);
    }
    if (!env.TELEGRAM_BOT_TOKEN && wanted("botApi")) {
      const { botApi: port } = options.ports;
      const double = await listening("botApi", port, () =>
        startBotApiDouble({ tokens: [options.botToken], botInfo: LOCAL_BOT_INFO, port, latencyMs: latency.telegram }),
      );
      closers.push(double.close);
      Object.assign(vars, {
        TELEGRAM_BOT_TOKEN: options.botToken,
        TELEGRAM_API_ROOT: double.url,
        TELEGRAM_BOT_INFO: JSON.stringify(LOCAL_BOT_INFO),
      });
      chatPageUrl = double.chatPageUrl;
      started.push(`Bot API double ${double.url}${slower(latency.telegram)}`);
    }
  } catch (error) {
    await close();
    throw error;
  }
  for (const [name, value] of Object.entries(LOCAL_SECRETS)) if (!env[name]) vars[name] = value;

  return { vars, started, chatPageUrl, close };
}
