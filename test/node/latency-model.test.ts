// The production latency model of the local services: the added latency before each answer, and the
// timeline of arrivals and answers the benchmark counts critical paths from.
import { Client, neon, neonConfig } from "@neondatabase/serverless";
import { Redis } from "@upstash/redis";
import { Api } from "grammy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLatencyModel } from "../../scripts/lib/latency-model.js";
import { startBotApiDouble, type BotApiDouble } from "../../scripts/local/bot-api-double.js";
import { startNeonGateway, type NeonGateway } from "../../scripts/local/neon-gateway.js";
import { startRedisGateway, type RedisGateway } from "../../scripts/local/redis-gateway.js";
import type { TimedRequest } from "../../scripts/local/request-timing.js";

const LATENCY_MS = 40;
const UPSTASH_TOKEN = `latency-test-${process.pid}`;
const BOT_TOKEN = "7000000001:latency-test-token";
const DATABASE_URL = "postgres://postgres:unused@127.0.0.1:5432/test";

let redisGateway: RedisGateway;
let neonGateway: NeonGateway;
let double: BotApiDouble;

async function control(origin: string, path: string, method = "POST", token?: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${origin}/__control/${path}`, {
    method,
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  return { status: response.status, body: await response.json() };
}

/** Records the requests `work` makes at `origin` and returns them. */
async function timeline(origin: string, work: () => Promise<unknown>, token?: string): Promise<TimedRequest[]> {
  expect((await control(origin, "timeline", "POST", token)).status).toBe(200);
  await work();
  const { body } = await control(origin, "timeline", "GET", token);
  expect((await control(origin, "timeline", "DELETE", token)).status).toBe(200);
  return body.requests as TimedRequest[];
}

/** Whether two recorded requests were in flight at the same time. */
const overlap = ([a0, a1]: TimedRequest, [b0, b1]: TimedRequest) => a0 < b1 && b0 < a1;

beforeAll(async () => {
  redisGateway = await startRedisGateway({ token: UPSTASH_TOKEN, redisUrl: "redis://127.0.0.1:6379/6", latencyMs: LATENCY_MS });
  neonGateway = await startNeonGateway({ latencyMs: LATENCY_MS });
  double = await startBotApiDouble({ tokens: [BOT_TOKEN], botInfo: { id: 7000000001, is_bot: true, first_name: "T", username: "t_bot" }, latencyMs: LATENCY_MS });
  neonConfig.fetchEndpoint = neonGateway.httpEndpoint;
  neonConfig.wsProxy = neonGateway.wsProxy;
  neonConfig.useSecureWebSocket = false;
  // The local PostgreSQL trusts its users: a password sent ahead of its request would be refused.
  neonConfig.pipelineConnect = false;
});

afterAll(async () => {
  await Promise.all([redisGateway?.close(), neonGateway?.close(), double?.close()]);
});

describe("the added latency", () => {
  it("holds back every Upstash request, and a pipeline is one request", async () => {
    const redis = new Redis({ url: redisGateway.url, token: UPSTASH_TOKEN, enableTelemetry: false, enableAutoPipelining: false });
    const requests = await timeline(
      redisGateway.url,
      async () => {
        await redis.ping();
        await redis.pipeline().set("latency:test", "1").get("latency:test").exec();
      },
      UPSTASH_TOKEN,
    );
    expect(requests).toHaveLength(2);
    for (const [arrived, answered] of requests) expect(answered - arrived).toBeGreaterThanOrEqual(LATENCY_MS - 1);
    expect(overlap(requests[0]!, requests[1]!)).toBe(false);
  });

  it("holds back Neon /sql requests; parallel ones are in flight together", async () => {
    const sql = neon(DATABASE_URL);
    const requests = await timeline(neonGateway.httpEndpoint.replace(/\/sql$/, ""), () => Promise.all([sql`SELECT 1`, sql`SELECT 2`]));
    expect(requests).toHaveLength(2);
    for (const [arrived, answered] of requests) expect(answered - arrived).toBeGreaterThanOrEqual(LATENCY_MS - 1);
    expect(overlap(requests[0]!, requests[1]!)).toBe(true);
  });

  it("holds back each message through a Neon WebSocket tunnel, in order", async () => {
    const client = new Client(DATABASE_URL);
    await client.connect();
    try {
      const began = performance.now();
      const { rows } = await client.query("SELECT $1::text AS a", ["first"]);
      expect(performance.now() - began).toBeGreaterThanOrEqual(LATENCY_MS - 1);
      expect(rows).toEqual([{ a: "first" }]);
    } finally {
      await client.end();
    }
  });

  it("holds back Bot API calls, not the double's controls", async () => {
    const api = new Api(BOT_TOKEN, { apiRoot: double.url });
    const requests = await timeline(double.url, () => api.sendMessage(1, "hi"));
    expect(requests).toHaveLength(1);
    expect(requests[0]![1] - requests[0]![0]).toBeGreaterThanOrEqual(LATENCY_MS - 1);
    expect(double.calls("sendMessage")).toHaveLength(1);
  });

  it("is set at run time through /__control/latency, and refuses what is not a number of ms", async () => {
    expect(await control(double.url, "latency?ms=abc")).toEqual({ status: 400, body: { ok: false, error: expect.any(String) } });
    expect(await control(double.url, "latency?ms=-1")).toMatchObject({ status: 400 });
    expect(await control(double.url, "latency?ms=0")).toEqual({ status: 200, body: { ok: true, latency_ms: 0 } });
    const api = new Api(BOT_TOKEN, { apiRoot: double.url });
    const [request] = await timeline(double.url, () => api.getMe());
    expect(request![1] - request![0]).toBeLessThan(LATENCY_MS);
    expect((await control(double.url, `latency?ms=${LATENCY_MS}`)).status).toBe(200);
    expect(await control(redisGateway.url, "latency?ms=7", "POST", UPSTASH_TOKEN)).toEqual({ status: 200, body: { ok: true, latency_ms: 7 } });
    expect((await control(redisGateway.url, "latency?ms=7")).status).toBe(401);
  });
});

describe("parseLatencyModel (the --latency flag)", () => {
  it("reads each service's ms, with the ones left out at 0", () => {
    expect(parseLatencyModel("upstash=5,neon=20,telegram=50")).toEqual({ upstash: 5, neon: 20, telegram: 50 });
    expect(parseLatencyModel("telegram=12.5")).toEqual({ upstash: 0, neon: 0, telegram: 12.5 });
    expect(parseLatencyModel("production")).toEqual({ upstash: 5, neon: 20, telegram: 50 });
    expect(parseLatencyModel("none")).toEqual({ upstash: 0, neon: 0, telegram: 0 });
  });

  it.each(["redis=5", "upstash=5,upstash=6", "upstash=-1", "upstash=", "upstash=99999", ""])("refuses %j", (text) => {
    expect(() => parseLatencyModel(text)).toThrow(/expected upstash=MS/);
  });
});
