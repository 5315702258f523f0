import type { UserFromGetMe } from "grammy/types";
import * as v from "valibot";

/** Telegram's rule for `secret_token`: 1–256 characters of A-Z a-z 0-9 _ -. */
const WEBHOOK_SECRET_PATTERN = /^[A-Za-z0-9_-]{1,256}$/;
const BOT_TOKEN_PATTERN = /^\d+:[A-Za-z0-9_-]+$/;

/** Thrown when a variable is missing or malformed; names the variable, never its value. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly variable: string,
    readonly problem: "missing" | "malformed",
    readonly expected: string,
  ) {
    super(`${variable} is ${problem}: expected ${expected}`);
  }
}

const httpUrl = v.pipe(v.string(), v.url(), v.regex(/^https?:\/\//));
const onOff = v.optional(v.picklist(["on", "off"]), "off");

/** Each variable: its schema and, for error messages, what a valid value looks like. */
const variables = {
  TELEGRAM_BOT_TOKEN: [v.pipe(v.string(), v.regex(BOT_TOKEN_PATTERN)), "a bot token like 123456:ABC-def"],
  TELEGRAM_WEBHOOK_SECRET: [v.pipe(v.string(), v.regex(WEBHOOK_SECRET_PATTERN)), "1-256 characters of A-Z a-z 0-9 _ -"],
  // Read by the webhook scripts only, which also check that it is https on a port Telegram allows.
  TELEGRAM_WEBHOOK_URL: [v.optional(httpUrl), "a URL"],
  TELEGRAM_BOT_INFO: [
    v.optional(
      v.pipe(
        v.string(),
        v.parseJson(),
        v.looseObject({ id: v.number(), is_bot: v.literal(true), first_name: v.string(), username: v.string() }),
        v.transform((info) => info as unknown as UserFromGetMe),
      ),
    ),
    "the JSON result of getMe",
  ],
  TELEGRAM_API_ROOT: [v.optional(httpUrl, "https://api.telegram.org"), "an http(s) URL"],
  TELEGRAM_IP_ALLOWLIST: [onOff, "on or off"],
  UPSTASH_REDIS_REST_URL: [httpUrl, "the Upstash REST URL"],
  UPSTASH_REDIS_REST_TOKEN: [v.pipe(v.string(), v.minLength(1)), "the Upstash REST token"],
  REDIS_TIMEOUT_MS: [
    v.optional(v.pipe(v.string(), v.digits(), v.transform(Number), v.minValue(100), v.maxValue(10_000)), "2000"),
    "milliseconds between 100 and 10000",
  ],
  DATABASE_URL: [v.pipe(v.string(), v.regex(/^postgres(ql)?:\/\/[^/]+\/[^/?]+/)), "a postgres:// connection string"],
  NEON_HTTP_ENDPOINT: [v.optional(httpUrl), "the http(s) URL of a Neon-compatible /sql endpoint"],
  BOT_INTERNAL_API_TOKEN: [v.pipe(v.string(), v.minLength(24)), "a random token of at least 24 characters"],
  RATE_LIMIT_PER_MINUTE: [
    v.optional(v.pipe(v.string(), v.digits(), v.transform(Number), v.maxValue(100_000)), "30"),
    "a whole number of updates per user per minute (0 turns the limit off)",
  ],
  WEBHOOK_HANDLER_TIMEOUT_MS: [
    v.optional(v.pipe(v.string(), v.digits(), v.transform(Number), v.minValue(1), v.maxValue(50_000)), "25000"),
    "milliseconds between 1 and 50000",
  ],
  FAILED_UPDATES_RETENTION_DAYS: [
    v.optional(v.pipe(v.string(), v.digits(), v.transform(Number), v.minValue(1), v.maxValue(365)), "7"),
    "a whole number of days between 1 and 365",
  ],
  TELEGRAM_SEND_RATE: [
    v.optional(v.pipe(v.string(), v.digits(), v.transform(Number), v.minValue(1), v.maxValue(1000)), "30"),
    "a whole number of messages per second between 1 and 1000 (above 30 needs paid broadcasts)",
  ],
  WEBHOOK_REPLY_METHODS: [
    v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z,]*$/)), "sendMessage,editMessageText,answerCallbackQuery"),
    "a comma-separated list of Bot API method names",
  ],
} as const;

type Variables = typeof variables;
type VariableName = keyof Variables;
type Parsed<K extends VariableName> = v.InferOutput<Variables[K][0]>;

/**
 * Reads one variable through its schema; an empty string counts as unset.
 * @throws ConfigError naming the variable when it is missing or malformed.
 */
export function readVariable<K extends VariableName>(env: object, name: K): Parsed<K> {
  const [schema, expected] = variables[name];
  const value: unknown = (env as Record<string, unknown>)[name];
  const raw = value === "" ? undefined : value;
  const result = v.safeParse(schema, raw);
  if (!result.success) throw new ConfigError(name, raw === undefined ? "missing" : "malformed", expected);
  return result.output as Parsed<K>;
}

/** What the bot needs wherever it runs (Worker or polling script). */
export interface BotConfig {
  botToken: string;
  apiRoot: string;
  botInfo: Parsed<"TELEGRAM_BOT_INFO">;
  redis: { url: string; token: string; timeoutMs: number };
  database: { url: string; httpEndpoint: string | undefined };
  rateLimitPerMinute: number;
}

/** Everything the Worker needs. */
export interface WorkerConfig extends BotConfig {
  webhookSecret: string;
  ipAllowlist: boolean;
  internalApiToken: string;
  handlerTimeoutMs: number;
  webhookReplyMethods: ReadonlySet<string>;
  /** How long a failed update is kept for inspection. */
  failedUpdatesRetentionSeconds: number;
  /** Notification messages per second the bot may send (Telegram's 30, up to 1000 with paid broadcasts). */
  sendRate: number;
}

/**
 * Parses the bot's variables from a Worker `env` or `process.env`.
 * @throws ConfigError naming the first missing or malformed variable.
 */
export function parseBotConfig(env: object): BotConfig {
  return {
    botToken: readVariable(env, "TELEGRAM_BOT_TOKEN"),
    apiRoot: readVariable(env, "TELEGRAM_API_ROOT").replace(/\/+$/, ""),
    botInfo: readVariable(env, "TELEGRAM_BOT_INFO"),
    redis: {
      url: readVariable(env, "UPSTASH_REDIS_REST_URL"),
      token: readVariable(env, "UPSTASH_REDIS_REST_TOKEN"),
      timeoutMs: readVariable(env, "REDIS_TIMEOUT_MS"),
    },
    database: {
      url: readVariable(env, "DATABASE_URL"),
      httpEndpoint: readVariable(env, "NEON_HTTP_ENDPOINT"),
    },
    rateLimitPerMinute: readVariable(env, "RATE_LIMIT_PER_MINUTE"),
  };
}

/**
 * Parses and validates the Worker's variables.
 * @throws ConfigError naming the first missing or malformed variable.
 */
export function parseWorkerConfig(env: object): WorkerConfig {
  return {
    ...parseBotConfig(env),
    webhookSecret: readVariable(env, "TELEGRAM_WEBHOOK_SECRET"),
    ipAllowlist: readVariable(env, "TELEGRAM_IP_ALLOWLIST") === "on",
    internalApiToken: readVariable(env, "BOT_INTERNAL_API_TOKEN"),
    handlerTimeoutMs: readVariable(env, "WEBHOOK_HANDLER_TIMEOUT_MS"),
    webhookReplyMethods: new Set(readVariable(env, "WEBHOOK_REPLY_METHODS").split(",").filter((name) => name !== "" && name !== "none")),
    failedUpdatesRetentionSeconds: readVariable(env, "FAILED_UPDATES_RETENTION_DAYS") * 24 * 60 * 60,
    sendRate: readVariable(env, "TELEGRAM_SEND_RATE"),
  };
}

/** Values that must never appear in a log line or a response. */
export function secretsOf(config: BotConfig & Partial<WorkerConfig>): string[] {
  const password = /^[^:]+:\/\/[^:/@]+:([^@]+)@/.exec(config.database.url)?.[1];
  return [config.botToken, config.redis.token, config.webhookSecret, config.internalApiToken, password].filter(
    (secret): secret is string => secret !== undefined && secret.length >= 4,
  );
}
