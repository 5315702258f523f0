import { afterEach, describe, expect, it } from "vitest";
import { callWorker, callWorkerWith, neonGateway, redisGateway } from "./helpers.js";

describe("GET /bot/health", () => {
  it("answers 200 {status: ok}", async () => {
    const response = await callWorker("/bot/health");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it("stays 200 while Redis is down, because it checks nothing", async () => {
    await redisGateway.down();
    try {
      expect((await callWorker("/bot/health")).status).toBe(200);
    } finally {
      await redisGateway.up();
    }
  });
});

describe("unknown paths", () => {
  it.each(["/bot/nope", "/bot/", "/bot/webhook/extra", "/other"])("%s answers 404 JSON", async (path) => {
    const response = await callWorker(path);
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(await response.json()).toEqual({ error: "not_found" });
  });
});

describe("GET /bot/ready", () => {
  afterEach(async () => {
    await Promise.all([redisGateway.up(), neonGateway.up()]);
  });

  it("answers 200 with a check per dependency when Redis and Postgres answer", async () => {
    const response = await callWorker("/bot/ready");
    expect(response.status).toBe(200);
    const body = (await response.json()) as any;
    expect(body.status).toBe("ready");
    expect(body.checks.redis).toMatchObject({ status: "ok" });
    expect(body.checks.postgres).toMatchObject({ status: "ok" });
    expect(body.checks.redis.latency_ms).toBeTypeOf("number");
    expect(body.checks.postgres.latency_ms).toBeTypeOf("number");
  });

  it("answers 503 naming Redis as unreachable when its gateway is down, and recovers", async () => {
    await redisGateway.down();
    const response = await callWorker("/bot/ready");
    expect(response.status).toBe(503);
    const body = (await response.json()) as any;
    expect(body.status).toBe("not_ready");
    expect(body.checks.redis).toMatchObject({ status: "fail", reason: "unreachable" });
    expect(body.checks.postgres).toMatchObject({ status: "ok" });
    await redisGateway.up();
    expect((await callWorker("/bot/ready")).status).toBe(200);
  });

  it("answers 503 naming Postgres when its gateway is down, with no address or driver text", async () => {
    await neonGateway.down();
    const response = await callWorker("/bot/ready");
    expect(response.status).toBe(503);
    const text = await response.text();
    const body = JSON.parse(text);
    expect(body.checks.postgres).toMatchObject({ status: "fail", reason: "unreachable" });
    expect(body.checks.redis).toMatchObject({ status: "ok" });
    expect(text).not.toMatch(/127\.0\.0\.1|postgres:\/\/|fetch failed|Error connecting/);
  });

  it.each([
    ["redis", redisGateway],
    ["postgres", neonGateway],
  ] as const)("answers 503 with reason timeout within its deadline when %s hangs", async (name, gateway) => {
    await gateway.hang();
    const response = await callWorker("/bot/ready");
    expect(response.status).toBe(503);
    const body = (await response.json()) as any;
    // A hung dependency never answers: only the deadline can have produced this.
    expect(body.checks[name]).toMatchObject({ status: "fail", reason: "timeout" });
  });

  it("answers 503 with reason auth when Redis refuses the token, without echoing it", async () => {
    const response = await callWorkerWith({ UPSTASH_REDIS_REST_TOKEN: "a-wrong-upstash-token" }, "/bot/ready");
    expect(response.status).toBe(503);
    const text = await response.text();
    expect(JSON.parse(text).checks.redis).toMatchObject({ status: "fail", reason: "auth" });
    expect(text).not.toContain("a-wrong-upstash-token");
  });
});
