/**
 * Benchmark only: the bot's own handlers in a Worker, WITHOUT the exactly-once ledger and WITHOUT the
 * Redis session. It shows what those two cost by difference with the real Worker (src/index.ts).
 *
 * Kept the same as production: the configuration parser, the Upstash/Neon clients, the middleware tree
 * from `botFeatures` (same order, same handlers, same Neon upsert, same Bot API calls, the same replies on
 * the webhook response) and a Bot built with the options `createBot` uses. Changed: the "session" feature
 * gets a storage that stores nothing (every update starts from the initial session `{}`, nothing is read
 * or written), and the route calls `bot.handleUpdate` directly — no claim/complete in Redis, no deadline,
 * no per-request log line.
 * Nothing in src/ is altered.
 */
import { Bot, session, type StorageAdapter } from "grammy";
import type { Update } from "grammy/types";
import { Hono } from "hono";
import { timingSafeEqual } from "hono/utils/buffer";
import type { BotContext, SessionData } from "../../src/bot/context.js";
import { botFeatures } from "../../src/bot/index.js";
import { ResponseReplies } from "../../src/bot/response-replies.js";
import { unchangedEditSucceeds } from "../../src/bot/unchanged-edit.js";
import { createDb } from "../../src/clients/db.js";
import { createRedis } from "../../src/clients/redis.js";
import { parseWorkerConfig, secretsOf, type WorkerConfig } from "../../src/config.js";
import { createLogger } from "../../src/lib/logger.js";

/** A session storage that keeps nothing: reads find nothing, writes are dropped. */
class NoSessionStorage implements StorageAdapter<SessionData> {
  read(): undefined {
    return undefined;
  }
  write(): void {}
  delete(): void {}
}

interface BenchRuntime {
  config: WorkerConfig;
  bot: Bot<BotContext>;
  replies: ResponseReplies;
}

const runtimes = new WeakMap<object, BenchRuntime>();

/** Per isolate, like src/runtime.ts: the bot built once from the validated bindings. */
function runtimeFor(env: object): BenchRuntime {
  let runtime = runtimes.get(env);
  if (runtime !== undefined) return runtime;
  const config = parseWorkerConfig(env);
  const options = {
    config,
    redis: createRedis(config.redis),
    db: createDb(config.database),
    logger: createLogger(secretsOf(config)),
  };
  // The construction of `createBot` (src/bot/index.ts), with the session feature swapped.
  const bot = new Bot<BotContext>(config.botToken, { botInfo: config.botInfo, client: { apiRoot: config.apiRoot } });
  bot.api.config.use(unchangedEditSucceeds);
  const replies = new ResponseReplies(config.webhookReplyMethods);
  bot.use(replies.middleware);
  for (const feature of botFeatures(options)) {
    bot.use(
      feature.name === "session"
        ? session<SessionData, BotContext>({ initial: () => ({}), storage: new NoSessionStorage() })
        : feature.middleware,
    );
  }
  runtime = { config, bot, replies };
  runtimes.set(env, runtime);
  return runtime;
}

const app = new Hono<{ Bindings: Record<string, unknown> }>({ strict: false }).basePath("/bot");

app.get("/health", (c) => c.json({ status: "ok" }));

app.post("/webhook", async (c) => {
  const { config, bot, replies } = runtimeFor(c.env);
  const presented = c.req.header("X-Telegram-Bot-Api-Secret-Token");
  if (presented === undefined || !(await timingSafeEqual(presented, config.webhookSecret))) {
    return c.json({ error: "unauthorized" }, 401);
  }
  if (!bot.isInited()) await bot.init();
  const update = (await c.req.json()) as Update;
  await bot.handleUpdate(update);
  const reply = replies.takeReply(update);
  return reply === undefined ? c.body(null, 200) : c.body(reply, 200, { "Content-Type": "application/json" });
});

app.onError((error, c) => {
  console.error(JSON.stringify({ level: "error", msg: "bench no-ledger worker failed", error: String(error) }));
  return c.json({ error: "internal_error" }, 500);
});

export default { fetch: app.fetch };
