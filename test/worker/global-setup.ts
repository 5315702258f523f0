import { createRequire } from "node:module";
import type { TestProject } from "vitest/node";
import { spawnLocalServices } from "../../scripts/lib/local-services-process.js";
import { TEST_SECRETS } from "./bindings.js";

// This file runs under the worker project's resolver, which picks the wrong builds of Node packages;
// require gets the Node ones, and the local services run in a Node process of their own.
const require = createRequire(import.meta.url);
const pg: typeof import("pg") = require("pg");
const IORedis: typeof import("ioredis").default = require("ioredis");

const TEST_DATABASE = "mtt_bot_worker_test";
const POSTGRES = "postgres://postgres@127.0.0.1:5432";
/** A Redis database of its own, so the tests never touch development data in database 0. */
const TEST_REDIS_URL = "redis://127.0.0.1:6379/15";

async function recreateDatabase(): Promise<void> {
  const admin = new pg.Client({ connectionString: `${POSTGRES}/postgres` });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${TEST_DATABASE} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${TEST_DATABASE}`);
  } finally {
    await admin.end();
  }
}

async function flushRedis(): Promise<void> {
  const redis = new IORedis(TEST_REDIS_URL);
  await redis.flushdb();
  await redis.quit();
}

/** Starts `npm run local:services` on free ports over a fresh test database and Redis database. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await Promise.all([recreateDatabase(), flushRedis()]);
  const services = await spawnLocalServices([
    ...["--redis-port", "0", "--neon-port", "0", "--bot-api-port", "0"],
    ...["--redis-url", TEST_REDIS_URL, "--postgres-url", `${POSTGRES}/${TEST_DATABASE}`],
    ...["--upstash-token", TEST_SECRETS.UPSTASH_REDIS_REST_TOKEN, "--bot-token", TEST_SECRETS.TELEGRAM_BOT_TOKEN],
  ]);
  const vars = services.vars;
  project.provide("botApiUrl", vars.TELEGRAM_API_ROOT ?? "");
  project.provide("redisGatewayUrl", vars.UPSTASH_REDIS_REST_URL ?? "");
  project.provide("neonHttpEndpoint", vars.NEON_HTTP_ENDPOINT ?? "");
  project.provide("databaseUrl", vars.DATABASE_URL ?? "");
  return services.stop;
}
