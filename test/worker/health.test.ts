import { afterEach, describe, expect, inject, it } from "vitest";
import { TEST_SECRETS } from "./bindings.js";
import { callWorker, callWorkerWith, neonGateway, redisGateway } from "./helpers.js";

/** The test database's connection string with another role, password or database. */
function databaseUrlWith(parts: { user?: string; password?: string; database?: string }): string {
  const base = new URL(inject("databaseUrl"));
  const user = parts.user ?? base.username;
  const password = parts.password ?? base.password;
  const database = parts.database ?? base.pathname.slice(1);
  return `postgres://${user}${password ? `:${password}` : ""}@${base.host}/${database}`;
}

/** Text that would reveal where a dependency lives, what it was told, or what its driver said. */
const LEAKS = /127\.0\.0\.1|localhost|https?:\/\/|postgres(ql)?:\/\/|[A-Z]\w*Error|ERR |SQLSTATE|does not exist|command was/;

/** One check of /bot/ready as its JSON shows it, with any latency. */
const ok = { status: "ok", latency_ms: expect.any(Number) };
const failed = (reason: string) => ({ status: "fail", reason, latency_ms: expect.any(Number) });

/** /bot/ready with changed bindings: 503 with exactly these checks; returns the body's text for leak checks. */
async function expectNotReady(overrides: Record<string, string>, checks: { redis: object; postgres: object }): Promise<string> {
  const response = await callWorkerWith(overrides, "/bot/ready");
  expect(response.status).toBe(503);
  const text = await response.text();
  expect(JSON.parse(text)).toEqual({ status: "not_ready", checks });
  return text;
}

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

  it("answers 503 with reason auth when Postgres refuses the role, with no host, role, password or driver text", async () => {
    // Local Postgres trusts every known role, so an unknown role is what gets SQLSTATE 28000 here.
    const role = "no_such_role_mtt_ready";
    const password = "wrong-postgres-password-7731";
    const text = await expectNotReady({ DATABASE_URL: databaseUrlWith({ user: role, password }) }, { redis: ok, postgres: failed("auth") });
    for (const revealing of [role, password, new URL(inject("databaseUrl")).host]) expect(text).not.toContain(revealing);
    expect(text).not.toMatch(LEAKS);
  });

  it("answers 503 with reason error when Postgres answers with another error (no such database)", async () => {
    const database = "no_such_database_mtt_ready";
    const text = await expectNotReady({ DATABASE_URL: databaseUrlWith({ database }) }, { redis: ok, postgres: failed("error") });
    expect(text).not.toContain(database);
    expect(text).not.toMatch(LEAKS);
  });

  it("answers 503 with reason error when Redis answers the probe with an error reply", async () => {
    // A REST URL with a path sends PING's arguments to that command instead; Redis refuses it.
    const url = `${inject("redisGatewayUrl")}/no-such-redis-command`;
    const text = await expectNotReady({ UPSTASH_REDIS_REST_URL: url }, { redis: failed("error"), postgres: ok });
    expect(text).not.toContain("no-such-redis-command");
    expect(text).not.toContain(TEST_SECRETS.UPSTASH_REDIS_REST_TOKEN);
    expect(text).not.toMatch(LEAKS);
  });
});
