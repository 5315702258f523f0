import { Bot, session, type Context, type Middleware } from "grammy";
import type { BotConfig } from "../config.js";
import type { Db } from "../clients/db.js";
import type { Redis } from "../clients/redis.js";
import { AccountRepository } from "../data/accounts.js";
import { LinkTokenStore } from "../data/link-tokens.js";
import type { Logger } from "../lib/logger.js";
import type { BotContext, BotServices, SessionData } from "./context.js";
import { account } from "./features/account.js";
import { fallback } from "./features/fallback.js";
import { groupFilter } from "./features/group-filter.js";
import { help } from "./features/help.js";
import { i18n } from "./features/i18n.js";
import { language } from "./features/language.js";
import { membership } from "./features/membership.js";
import { rateLimit } from "./features/rate-limit.js";
import { start } from "./features/start.js";
import { SlidingWindowRateLimiter } from "./rate-limiter.js";
import type { ResponseReplies } from "./response-replies.js";
import { UpstashSessionStorage } from "./session-storage.js";
import { unchangedEditSucceeds } from "./unchanged-edit.js";

/** Options of `createBot`. */
export interface CreateBotOptions {
  config: BotConfig;
  redis: Redis;
  db: Db;
  logger: Logger;
  /** Replies on the webhook response, and the record of calls that took effect (the Worker's); none by default. */
  responseReplies?: ResponseReplies;
  /** The handlers' services; by default built from `db`, `redis` and `logger`. */
  services?: BotServices;
  /** Where sessions live; by default a new `UpstashSessionStorage` over `redis`. */
  sessionStorage?: UpstashSessionStorage<SessionData>;
  /** The per-user rate limit; by default one over `redis` at `config.rateLimitPerMinute` (0: none). */
  rateLimiter?: SlidingWindowRateLimiter;
}

/** The rate limiter of `config.rateLimitPerMinute`, or undefined when the limit is off. */
export function rateLimiterOf(config: BotConfig, redis: Redis): SlidingWindowRateLimiter | undefined {
  return config.rateLimitPerMinute > 0 ? new SlidingWindowRateLimiter(redis, config.rateLimitPerMinute) : undefined;
}

/** The session key of an update: its chat (grammY's default, named so the Worker can preload it). */
export function sessionKeyOf(ctx: Context): string | undefined {
  return ctx.chatId?.toString();
}

/** The services the handlers use, built once per isolate or process. */
export function createServices(options: Pick<CreateBotOptions, "db" | "redis" | "logger">): BotServices {
  return {
    accounts: new AccountRepository(options.db),
    linkTokens: new LinkTokenStore(options.redis),
    logger: options.logger,
  };
}

/** One feature of the bot, named so a variant (the benchmark's bot without sessions) can swap one out. */
export interface BotFeature {
  name: string;
  middleware: Middleware<BotContext>;
}

/** The middleware tree in order: filters and per-update state first, the catch-all last. */
export function botFeatures(options: CreateBotOptions): BotFeature[] {
  const services = options.services ?? createServices(options);
  const sessions = options.sessionStorage ?? new UpstashSessionStorage<SessionData>(options.redis);
  return [
    { name: "group-filter", middleware: groupFilter },
    {
      name: "services",
      middleware: (ctx, next) => {
        ctx.services = services;
        return next();
      },
    },
    {
      name: "session",
      // A storage per update: what one update read is never taken for what another one read.
      middleware: (ctx, next) =>
        session<SessionData, BotContext>({
          initial: () => ({}),
          getSessionKey: sessionKeyOf,
          storage: sessions.forUpdate(ctx.update),
        })(ctx, next),
    },
    { name: "i18n", middleware: i18n },
    { name: "rate-limit", middleware: rateLimit(options.rateLimiter ?? rateLimiterOf(options.config, options.redis)) },
    { name: "start", middleware: start },
    { name: "help", middleware: help },
    { name: "account", middleware: account },
    { name: "language", middleware: language },
    { name: "membership", middleware: membership },
    { name: "fallback", middleware: fallback },
  ];
}

/**
 * Builds the bot: the one definition shared by the Worker and `scripts/polling.ts`.
 * @example
 * const bot = createBot({ config, redis, db, logger });
 * await bot.init();
 */
export function createBot(options: CreateBotOptions): Bot<BotContext> {
  const bot = new Bot<BotContext>(options.config.botToken, {
    botInfo: options.config.botInfo,
    client: { apiRoot: options.config.apiRoot },
  });
  bot.api.config.use(unchangedEditSucceeds);
  if (options.responseReplies) bot.use(options.responseReplies.middleware);
  for (const feature of botFeatures(options)) bot.use(feature.middleware);
  return bot;
}
