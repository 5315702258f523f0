/**
 * One local service in a Node process of its own (the benchmark starts three of these), so the Upstash
 * gateway, the Neon gateway and the Bot API double each get their own event loop and core time.
 *
 * Input: the JSON of `ServiceChildOptions` in the BENCH_SERVICE environment variable.
 * Announces the variables `startLocalServices` returned (bench/lib/child.ts).
 */
import { startLocalServices } from "../../scripts/lib/local-services.js";
import { announceReady } from "./child.js";

/** Which service to start and what it stands on. */
export interface ServiceChildOptions {
  only: "redis" | "neon" | "botApi";
  redisUrl: string;
  postgresUrl: string;
  upstashToken: string;
  botToken: string;
}

const options = JSON.parse(process.env.BENCH_SERVICE ?? "") as ServiceChildOptions;
// startLocalServices starts a stand-in for each variable `env` leaves unset: mark the other two as set.
const taken = "set elsewhere";
const env: Record<string, string | undefined> = {
  UPSTASH_REDIS_REST_URL: options.only === "redis" ? undefined : taken,
  DATABASE_URL: options.only === "neon" ? undefined : taken,
  TELEGRAM_BOT_TOKEN: options.only === "botApi" ? undefined : taken,
  // The webhook secret and internal token stand-ins are not wanted: the benchmark sets its own.
  TELEGRAM_WEBHOOK_SECRET: taken,
  BOT_INTERNAL_API_TOKEN: taken,
};
const local = await startLocalServices(env, {
  redisUrl: options.redisUrl,
  postgresUrl: options.postgresUrl,
  upstashToken: options.upstashToken,
  botToken: options.botToken,
  ports: { redis: 0, neon: 0, botApi: 0 },
});
announceReady(local.vars, () => local.close());
