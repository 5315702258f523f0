import type { Bot } from "grammy";
import { createBot, createServices, rateLimiterOf } from "./bot/index.js";
import type { BotContext, BotServices, SessionData } from "./bot/context.js";
import { UpstashSessionStorage } from "./bot/session-storage.js";
import { createDb, type Db } from "./clients/db.js";
import { createRedis } from "./clients/redis.js";
import { parseWorkerConfig, secretsOf, type WorkerConfig } from "./config.js";
import { withDeadline } from "./lib/deadline.js";
import { DependencyError } from "./lib/errors.js";
import { createLogger, type Logger } from "./lib/logger.js";
import type { SlidingWindowRateLimiter } from "./bot/rate-limiter.js";
import { ResponseReplies } from "./bot/response-replies.js";
import { createNotifications, type Notifications } from "./notifications/index.js";
import { FailedUpdateStore } from "./webhook/failed-updates.js";
import { UpdateLedger } from "./webhook/update-ledger.js";

/** Everything a request needs, built once per isolate from the validated configuration. */
export interface Runtime {
  config: WorkerConfig;
  logger: Logger;
  db: Db;
  bot: Bot<BotContext>;
  /** The handlers' services (accounts, link tokens), also used by the internal API. */
  services: BotServices;
  /** Replies riding on the webhook response, and which updates already changed what the user sees. */
  replies: ResponseReplies;
  /** The bot's session storage and rate limiter, read in the same round trip as an update's claim. */
  sessions: UpstashSessionStorage<SessionData>;
  rateLimiter: SlidingWindowRateLimiter | undefined;
  ledger: UpdateLedger;
  /** Notifications from the Django backend: their API and the queue consumer. */
  notifications: Notifications;
  /** Resolves once the bot knows who it is (`TELEGRAM_BOT_INFO`, or one `getMe` per isolate). */
  botReady(): Promise<void>;
}

const runtimes = new WeakMap<object, Runtime>();
/** How long the first request of an isolate waits for getMe when TELEGRAM_BOT_INFO is not set. */
const GET_ME_DEADLINE_MS = 5000;

function createRuntime(config: WorkerConfig, env: Env): Runtime {
  const logger = createLogger(secretsOf(config));
  const redis = createRedis(config.redis);
  const db = createDb(config.database);
  const replies = new ResponseReplies(config.webhookReplyMethods);
  const sessions = new UpstashSessionStorage<SessionData>(redis);
  const rateLimiter = rateLimiterOf(config, redis);
  const services = createServices({ db, redis, logger });
  const bot = createBot({ config, redis, db, logger, responseReplies: replies, services, sessionStorage: sessions, rateLimiter });
  // A claim outlives the handler deadline, so a slow handler is never run twice at once.
  const ledger = new UpdateLedger(redis, config.handlerTimeoutMs + 30_000, new FailedUpdateStore(redis, config.failedUpdatesRetentionSeconds));
  let initializing: Promise<void> | undefined;
  const botReady = () => {
    if (bot.isInited()) return Promise.resolve();
    // One getMe under a deadline, not bot.init(): that one retries 5xx with backoff, holding the request.
    initializing ??= withDeadline(bot.api.getMe(), GET_ME_DEADLINE_MS).then(
      (me) => {
        bot.botInfo = me;
      },
      (cause: unknown) => {
        initializing = undefined;
        throw new DependencyError("telegram", { cause, message: "getMe failed" });
      },
    );
    return initializing;
  };
  const notifications = createNotifications({ config, db, api: bot.api, accounts: services.accounts, logger, bindings: env });
  return { config, logger, db, bot, services, replies, sessions, rateLimiter, ledger, notifications, botReady };
}

/**
 * The isolate's runtime for these bindings; the configuration is parsed and validated on first use.
 * @throws ConfigError naming a missing or malformed variable (nothing is cached then).
 */
export function runtimeFor(env: Env): Runtime {
  let runtime = runtimes.get(env);
  if (runtime === undefined) {
    runtime = createRuntime(parseWorkerConfig(env), env);
    runtimes.set(env, runtime);
  }
  return runtime;
}
