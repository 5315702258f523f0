import { afterEach, describe, expect, inject, it } from "vitest";
import { TEST_SECRETS } from "./bindings.js";
import { bindingsWith, callWorker, callWorkerWith, fetchWithBindings, neonGateway, redisGateway } from "./helpers.js";

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
  expect(JSON.parse(text)).toEqual({ status: "not_ready", checked_at: expect.any(String), checks });
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

/** /bot/ready of an isolate of its own (fresh bindings), so no earlier probe is reused. */
function freshReady(overrides: Record<string, string> = {}): Promise<Response> {
  return callWorkerWith(overrides, "/bot/ready");
}

describe("GET /bot/ready", () => {
  afterEach(async () => {
    await Promise.all([redisGateway.up(), neonGateway.up()]);
  });

  it("answers 200 with a check per dependency when Redis and Postgres answer, and when they were checked", async () => {
    const before = Date.now();
    const response = await freshReady();
    expect(response.status).toBe(200);
    const body = (await response.json()) as any;
    expect(body).toEqual({ status: "ready", checked_at: expect.any(String), checks: { redis: ok, postgres: ok } });
    expect(Date.parse(body.checked_at)).toBeGreaterThanOrEqual(before - 1000);
  });

  it.each([
    ["redis", redisGateway],
    ["postgres", neonGateway],
  ] as const)("answers 503 with reason refused when the %s gateway drops connections, and recovers", async (name, gateway) => {
    await gateway.down();
    const text = await expectNotReady({}, { ...{ redis: ok, postgres: ok }, [name]: failed("refused") } as { redis: object; postgres: object });
    expect(text).not.toMatch(LEAKS);
    await gateway.up();
    expect((await freshReady()).status).toBe(200);
  });

  it.each([
    ["redis", redisGateway],
    ["postgres", neonGateway],
  ] as const)("answers 503 with reason timeout within its deadline when %s hangs", async (name, gateway) => {
    await gateway.hang();
    const response = await freshReady();
    expect(response.status).toBe(503);
    const body = (await response.json()) as any;
    // A hung dependency never answers: only the deadline can have produced this.
    expect(body.checks[name]).toMatchObject({ status: "fail", reason: "timeout" });
  });

  describe.each([
    ["redis", redisGateway],
    ["postgres", neonGateway],
  ] as const)("%s failing as Cloudflare's edge reports it, or answering 5xx", (name, gateway) => {
    it.each([
      ["edge/1016", "dns"],
      ["edge/525", "tls"],
      ["edge/526", "tls"],
      ["edge/521", "refused"],
      ["edge/522", "timeout"],
      ["http-error/503", "http_5xx"],
      ["http-error/500", "http_5xx"],
    ])("%s → reason %s, with no address or body text", async (fault, reason) => {
      await gateway.fail(fault);
      const checks = { redis: ok, postgres: ok, [name]: failed(reason) } as { redis: object; postgres: object };
      const text = await expectNotReady({}, checks);
      expect(text).not.toMatch(LEAKS);
      expect(text).not.toMatch(/error code|service failed/);
    });
  });

  it("answers 503 with reason auth when Redis refuses the token, without echoing it", async () => {
    const response = await freshReady({ UPSTASH_REDIS_REST_TOKEN: "a-wrong-upstash-token" });
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

describe("GET /bot/ready is cheap to call often", () => {
  afterEach(async () => {
    await redisGateway.up();
  });

  it("calls within a few seconds of one isolate share one probe: one Upstash command and one Neon query", async () => {
    const bindings = bindingsWith({});
    await Promise.all([redisGateway.resetStats(), neonGateway.resetStats()]);
    const answers = await Promise.all(Array.from({ length: 5 }, () => fetchWithBindings(bindings, "/bot/ready")));
    const later = await fetchWithBindings(bindings, "/bot/ready");
    const bodies = (await Promise.all([...answers, later].map((answer) => answer.json()))) as { checked_at: string }[];
    expect(new Set(bodies.map((body) => body.checked_at)).size).toBe(1);
    expect((await redisGateway.stats()).requests).toBe(1);
    expect((await neonGateway.stats()).requests).toBe(1);
  });

  it("a failing result is reused for about a second only, so a recovery shows soon", async () => {
    const bindings = bindingsWith({});
    await redisGateway.down();
    const first = await fetchWithBindings(bindings, "/bot/ready");
    expect(first.status).toBe(503);
    await redisGateway.up();
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const recovered = await fetchWithBindings(bindings, "/bot/ready");
    expect(recovered.status).toBe(200);
    expect(((await recovered.json()) as { checked_at: string }).checked_at).not.toBe(((await first.json()) as { checked_at: string }).checked_at);
  });
});
