/**
 * A real local deployment of the Worker for the reliability suite:
 * the bundle `wrangler deploy --dry-run` produces, run by Miniflare (workerd) on 127.0.0.1, with its
 * bindings pointing at the local Upstash and Neon gateways (over Redis database 12 and a fresh
 * PostgreSQL database) and the Bot API double. Everything the Worker and Miniflare print is captured.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis as IORedis } from "ioredis";
import { Log, LogLevel } from "miniflare";
import pg from "pg";
import { LOCAL_BOT_INFO, startLocalServices, type LocalServices } from "../../scripts/lib/local-services.js";
import { dropDatabase, flushRedisDatabase, recreateDatabase } from "../../scripts/lib/local-storage.js";
import { buildWorkerBundle, REPO_ROOT, runWorkerBundle } from "../../scripts/lib/worker-bundle.js";

/** Redis database of this suite; flushed before and after. */
export const REDIS_URL = "redis://127.0.0.1:6379/12";
/** PostgreSQL database of this suite; dropped and created before, dropped after. */
export const DATABASE = "mtt_bot_reliability";
const POSTGRES = "postgres://postgres@127.0.0.1:5432";

/** Made-up secrets, new for every run, so a leak of any of them can be searched for. */
export interface Secrets {
  TELEGRAM_BOT_TOKEN: string;
  TELEGRAM_WEBHOOK_SECRET: string;
  UPSTASH_REDIS_REST_TOKEN: string;
  BOT_INTERNAL_API_TOKEN: string;
}

export interface Deployment {
  /** The Worker, e.g. http://127.0.0.1:PORT */
  url: string;
  secrets: Secrets;
  /** Bindings the Worker got (gateway URLs and so on). */
  vars: Record<string, string>;
  /** Every line the Worker (workerd) and Miniflare printed, in order. */
  logs: string[];
  /** Direct access to Redis database 12 and the test database, for checks. */
  redis: IORedis;
  db: pg.Client;
  /** The Bot API double's control API (`/__control/...`). */
  botApi: ControlClient;
  /** The Upstash gateway's control API (Bearer token). */
  upstash: ControlClient;
  /** The Neon gateway's control API. */
  neon: ControlClient;
  /** How long building the bundle and starting everything took. */
  startupMs: number;
  stop(): Promise<void>;
}

export interface ControlClient {
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
}

function controlClient(base: string, token?: string): ControlClient {
  return {
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      const headers: Record<string, string> = {};
      if (token !== undefined) headers.Authorization = `Bearer ${token}`;
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const res = await fetch(new URL(path, base), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(20_000),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text.slice(0, 200)}`);
      return (text === "" ? undefined : JSON.parse(text)) as T;
    },
  };
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

export function newSecrets(): Secrets {
  return {
    TELEGRAM_BOT_TOKEN: `${String(LOCAL_BOT_INFO.id)}:AA${hex(17)}`,
    TELEGRAM_WEBHOOK_SECRET: `whs_${hex(30)}`,
    UPSTASH_REDIS_REST_TOKEN: `ups_${hex(20)}`,
    BOT_INTERNAL_API_TOKEN: `int_${hex(20)}`,
  };
}

/** Miniflare's own messages (startup, warnings, a crashed runtime) go to the capture too. */
class CapturingLog extends Log {
  constructor(private readonly sink: (line: string) => void) {
    super(LogLevel.DEBUG, { prefix: "mf" });
  }
  override log(message: string): void {
    this.sink(message);
  }
}

/** How a deployment differs from the default one. */
export interface DeploymentOptions {
  /** Build from this entry module instead of wrangler.toml's `main` (which it wraps). */
  entry?: string;
  /** More variables for the Worker. */
  vars?: Record<string, string>;
}

/**
 * Builds the Worker, starts the local services and runs the bundle in Miniflare with the queues and
 * Durable Objects of wrangler.toml, as `wrangler dev` would.
 * On any failure whatever was started is stopped again before the error is rethrown.
 */
export async function startDeployment(options: DeploymentOptions = {}): Promise<Deployment> {
  const started = Date.now();
  const secrets = newSecrets();
  const logs: string[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    const errors: unknown[] = [];
    for (const fn of cleanups.reverse()) await fn().catch((error: unknown) => errors.push(error));
    cleanups.length = 0;
    if (errors.length > 0) console.error("reliability: cleanup problems:", errors.map(String).join("; "));
  };
  try {
    const outdir = await mkdtemp(join(tmpdir(), "mtt-bot-reliability-"));
    cleanups.push(() => rm(outdir, { recursive: true, force: true }));

    const [bundle] = await Promise.all([
      buildWorkerBundle(outdir, undefined, { entry: options.entry }),
      flushRedisDatabase(REDIS_URL),
      recreateDatabase(POSTGRES, DATABASE),
    ]);
    cleanups.push(() => dropDatabase(POSTGRES, DATABASE));
    cleanups.push(() => flushRedisDatabase(REDIS_URL));

    const services: LocalServices = await startLocalServices(
      {},
      {
        redisUrl: REDIS_URL,
        postgresUrl: `${POSTGRES}/${DATABASE}`,
        upstashToken: secrets.UPSTASH_REDIS_REST_TOKEN,
        botToken: secrets.TELEGRAM_BOT_TOKEN,
        ports: { redis: 0, neon: 0, botApi: 0 },
      },
    );
    cleanups.push(() => services.close());
    const vars: Record<string, string> = {
      ...services.vars,
      TELEGRAM_WEBHOOK_SECRET: secrets.TELEGRAM_WEBHOOK_SECRET,
      BOT_INTERNAL_API_TOKEN: secrets.BOT_INTERNAL_API_TOKEN,
      TELEGRAM_BOT_INFO: JSON.stringify(LOCAL_BOT_INFO),
      TELEGRAM_WEBHOOK_URL: "https://mtt-pro-api.xlog.uz/bot/webhook/",
      TELEGRAM_IP_ALLOWLIST: "off",
      RATE_LIMIT_PER_MINUTE: "0",
      ...options.vars,
    };
    // The local services fill in tokens they were given; make sure the Worker gets exactly these.
    Object.assign(vars, {
      TELEGRAM_BOT_TOKEN: secrets.TELEGRAM_BOT_TOKEN,
      UPSTASH_REDIS_REST_TOKEN: secrets.UPSTASH_REDIS_REST_TOKEN,
    });

    const worker = await runWorkerBundle({
      name: "mtt-pro-bot",
      bundlePath: bundle.path,
      bindings: vars,
      wranglerConfig: join(REPO_ROOT, "wrangler.toml"),
      onLog: (message, level) => logs.push(`[workerd ${level}] ${message}`),
      log: new CapturingLog((line) => logs.push(`[miniflare] ${line}`)),
      logRequests: true,
    });
    cleanups.push(() => worker.dispose());
    const url = worker.origin;

    const redis = new IORedis(REDIS_URL, { maxRetriesPerRequest: 2 });
    cleanups.push(async () => redis.disconnect());
    const db = new pg.Client({ connectionString: `${POSTGRES}/${DATABASE}` });
    await db.connect();
    cleanups.push(() => db.end());

    return {
      url,
      secrets,
      vars,
      logs,
      redis,
      db,
      botApi: controlClient(vars.TELEGRAM_API_ROOT ?? ""),
      upstash: controlClient(vars.UPSTASH_REDIS_REST_URL ?? "", secrets.UPSTASH_REDIS_REST_TOKEN),
      neon: controlClient(new URL(vars.NEON_HTTP_ENDPOINT ?? "").origin),
      startupMs: Date.now() - started,
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
