/**
 * Peer 1: the SAME bot (`createBot` from src/bot/index.ts: every feature, sessions in Redis through the
 * Upstash gateway, accounts in PostgreSQL through the Neon gateway, replies to the Bot API double) served
 * by grammY's own `webhookCallback(bot, "http")` on Node's http server. What it lacks compared with the
 * Worker's route: the exactly-once ledger (2 Redis round trips per update), the handler deadline with the
 * failure policy, the per-request JSON log line, the body-size/UTF-8 checks.
 * Configuration: the same variables as the Worker, from the environment.
 */
import { webhookCallback } from "grammy";
import { createBot } from "../../src/bot/index.js";
import { createDb } from "../../src/clients/db.js";
import { createRedis } from "../../src/clients/redis.js";
import { parseWorkerConfig, secretsOf } from "../../src/config.js";
import { createLogger } from "../../src/lib/logger.js";
import { servePeer } from "./serve.js";

const config = parseWorkerConfig(process.env);
const bot = createBot({
  config,
  redis: createRedis(config.redis),
  db: createDb(config.database),
  logger: createLogger(secretsOf(config)),
});
await bot.init();
await servePeer("grammy-node", webhookCallback(bot, "http", { secretToken: config.webhookSecret }));
