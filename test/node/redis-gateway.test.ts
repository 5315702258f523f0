import { createHash } from "node:crypto";
import { createServer } from "node:net";
import { Ratelimit } from "@upstash/ratelimit";
import { Redis as Upstash, type RedisConfigNodejs } from "@upstash/redis";
import { Redis as IORedis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedisGateway, type RedisGateway } from "../../scripts/local/redis-gateway.js";

const REDIS_URL = "redis://127.0.0.1:6379/14";
const TOKEN = `test-token-${process.pid}`;

// Strings whose bytes must survive JSON, UTF-8 and base64 both ways.
const TRICKY_STRINGS = {
  emoji: "🚀 launch 👍🏽 👨‍👩‍👧",
  cyrillic: "Привет, мир! Ёжик в тумане",
  uzbek: "Oʻzbekiston, gʻalaba, O‘zbek tili, ma'lumot, sanʼat",
  control: "nul:\u0000 tab:\t crlf:\r\n del:\u007f",
  latin1: "ÿþ ÀÁÂ \u0080\u009f",
  replacement: "lone \ufffd replacement",
};

let gateway: RedisGateway;
let direct: IORedis;
let redis: Upstash;

function client(options: Partial<RedisConfigNodejs> = {}): Upstash {
  return new Upstash({ url: gateway.url, token: TOKEN, enableTelemetry: false, ...options });
}

async function control(path: string, method = "POST"): Promise<Response> {
  return fetch(`${gateway.url}/__control/${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
}

async function stats(): Promise<{ requests: number; commands: number }> {
  const res = await control("stats", "GET");
  expect(res.status).toBe(200);
  return (await res.json()) as { requests: number; commands: number };
}

/** One raw REST call, to check the wire format itself rather than what the client makes of it. */
async function rest(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gateway.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

function sha1(text: string): string {
  return createHash("sha1").update(text, "utf8").digest("hex");
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return address.port;
}

beforeAll(async () => {
  direct = new IORedis(REDIS_URL);
  await direct.flushdb();
  gateway = await startRedisGateway({ token: TOKEN, redisUrl: REDIS_URL });
  redis = client();
});

afterAll(async () => {
  await gateway?.close();
  await direct?.flushdb();
  direct?.disconnect();
});

describe("redis gateway with the official @upstash/redis client", () => {
  it("serves the URL it reports", () => {
    expect(gateway.url).toBe(`http://127.0.0.1:${gateway.port}`);
    expect(gateway.port).toBeGreaterThan(0);
  });

  it("round-trips JSON objects and numbers through set/get", async () => {
    const user = { id: 7, name: "Ali", roles: ["teacher", "admin"], nested: { ok: true, score: 4.5 } };
    expect(await redis.set("json:user", user)).toBe("OK");
    expect(await redis.get("json:user")).toEqual(user);
    expect(await direct.get("json:user")).toBe(JSON.stringify(user));

    expect(await redis.set("json:number", 42)).toBe("OK");
    expect(await redis.get("json:number")).toBe(42);
    expect(await direct.get("json:number")).toBe("42");
    expect(await redis.get("json:missing")).toBeNull();
  });

  it("applies set options: ex sets a TTL, nx refuses to overwrite", async () => {
    expect(await redis.set("opt:ttl", "first", { ex: 60 })).toBe("OK");
    const ttl = await direct.ttl("opt:ttl");
    expect(ttl).toBeGreaterThan(50);
    expect(ttl).toBeLessThanOrEqual(60);
    expect(await redis.ttl("opt:ttl")).toBeGreaterThan(50);

    expect(await redis.set("opt:ttl", "second", { nx: true })).toBeNull();
    expect(await redis.get("opt:ttl")).toBe("first");
    expect(await redis.set("opt:fresh", "value", { nx: true })).toBe("OK");
    expect(await direct.get("opt:fresh")).toBe("value");
  });

  it("increments and deletes", async () => {
    expect(await redis.incr("num:counter")).toBe(1);
    expect(await redis.incr("num:counter")).toBe(2);
    expect(await redis.incrby("num:counter", 40)).toBe(42);
    expect(await direct.get("num:counter")).toBe("42");

    await direct.set("num:other", "x");
    expect(await redis.del("num:counter", "num:other", "num:never")).toBe(2);
    expect(await direct.exists("num:counter", "num:other")).toBe(0);
  });

  it("keeps unicode, control and binary-looking strings intact, with and without base64", async () => {
    const plain = client({ responseEncoding: false });
    for (const [name, value] of Object.entries(TRICKY_STRINGS)) {
      expect(await redis.set(`str:${name}`, value)).toBe("OK");
      expect(await direct.getBuffer(`str:${name}`)).toEqual(Buffer.from(value, "utf8"));
      expect(await redis.get(`str:${name}`)).toBe(value);
      expect(await plain.get(`str:${name}`)).toBe(value);
    }
    expect(await redis.mget(...Object.keys(TRICKY_STRINGS).map((name) => `str:${name}`))).toEqual(
      Object.values(TRICKY_STRINGS),
    );
  });

  it("sends bytes that are not UTF-8 exactly with Upstash-Encoding: base64, replaced without it", async () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x41]);
    await direct.set("bin:raw", bytes);

    const encoded = await rest("/", ["GET", "bin:raw"], { "upstash-encoding": "base64" });
    expect(encoded.status).toBe(200);
    const { result } = (await encoded.json()) as { result: string };
    expect(Buffer.from(result, "base64")).toEqual(bytes);

    const utf8 = await rest("/", ["GET", "bin:raw"]);
    expect(await utf8.json()).toEqual({ result: bytes.toString("utf8") });
    expect(bytes.toString("utf8")).toContain("\ufffd");

    // The client decodes base64 with TextDecoder, so it sees the same replacement characters.
    expect(await redis.get("bin:raw")).toBe(new TextDecoder().decode(bytes));
  });

  it("speaks Upstash's base64 wire format: OK unencoded at top level, numbers and nil as is", async () => {
    const base64 = { "upstash-encoding": "base64" };
    expect(await (await rest("/", ["SET", "wire:a", "OK"], base64)).json()).toEqual({ result: "OK" });
    expect(await (await rest("/", ["PING"], base64)).json()).toEqual({ result: Buffer.from("PONG").toString("base64") });
    expect(await (await rest("/", ["INCR", "wire:n"], base64)).json()).toEqual({ result: 1 });
    expect(await (await rest("/", ["GET", "wire:none"], base64)).json()).toEqual({ result: null });
    // Inside arrays every string is encoded, "OK" included, as the client decodes them all.
    expect(await (await rest("/", ["MGET", "wire:a", "wire:none", "wire:n"], base64)).json()).toEqual({
      result: ["T0s=", null, "MQ=="],
    });
    expect(await redis.mget("wire:a")).toEqual(["OK"]);
  });

  it("answers in RESP2 shapes, as Upstash does: flat hashes, scores as strings", async () => {
    await direct.hset("resp2:h", "a", "1", "b", "two");
    await direct.zadd("resp2:z", 1.5, "m", 2, "n");
    expect(await (await rest("/", ["HGETALL", "resp2:h"])).json()).toEqual({ result: ["a", "1", "b", "two"] });
    expect(await (await rest("/", ["ZRANGE", "resp2:z", 0, -1, "WITHSCORES"])).json()).toEqual({
      result: ["m", "1.5", "n", "2"],
    });
    expect(await redis.hgetall("resp2:h")).toEqual({ a: 1, b: "two" });
    expect(await redis.zrange("resp2:z", 0, -1, { withScores: true })).toEqual(["m", 1.5, "n", 2]);
    expect(await redis.zscore("resp2:z", "m")).toBe(1.5);
  });

  it("answers the path form, with a POST body as the value and query parameters appended", async () => {
    const get = await fetch(`${gateway.url}/set/path:k/hello%20world/EX/100`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(await get.json()).toEqual({ result: "OK" });
    expect(await direct.get("path:k")).toBe("hello world");
    expect(await direct.ttl("path:k")).toBeGreaterThan(90);

    const post = await fetch(`${gateway.url}/set/path:body?EX=50&_token=${TOKEN}`, {
      method: "POST",
      body: '{"raw": "json body"}',
    });
    expect(await post.json()).toEqual({ result: "OK" });
    expect(await direct.get("path:body")).toBe('{"raw": "json body"}');
    expect(await direct.ttl("path:body")).toBeGreaterThan(40);
  });

  it("batches concurrent commands with auto-pipelining", async () => {
    const auto = client({ enableAutoPipelining: true });
    await control("stats/reset");
    const writes = await Promise.all([
      auto.incr("auto:n"),
      auto.incr("auto:n"),
      auto.incr("auto:n"),
      auto.set("auto:s", "x"),
      auto.incr("auto:n"),
    ]);
    expect(writes).toEqual([1, 2, 3, "OK", 4]);
    expect(await stats()).toEqual({ requests: 1, commands: 5 });

    const reads = await Promise.all([auto.get("auto:n"), auto.get("auto:s"), auto.get("auto:none")]);
    expect(reads).toEqual([4, "x", null]);
    expect(await stats()).toEqual({ requests: 2, commands: 8 });
  });

  it("runs redis.pipeline() in one request, keeping going after a failed command", async () => {
    await control("stats/reset");
    const results = await redis
      .pipeline()
      .set("pipe:a", 1)
      .incr("pipe:a")
      .hset("pipe:h", { x: 1, y: "two" })
      .hgetall("pipe:h")
      .get("pipe:a")
      .exec();
    expect(results).toEqual(["OK", 2, 2, { x: 1, y: "two" }, 2]);
    expect(await stats()).toEqual({ requests: 1, commands: 5 });
    expect(await direct.hgetall("pipe:h")).toEqual({ x: "1", y: "two" });

    const withError = await redis
      .pipeline()
      .set("pipe:text", "abc")
      .incr("pipe:text")
      .set("pipe:after", "ran")
      .exec({ keepErrors: true });
    expect(withError.map((entry) => entry.error)).toEqual([
      undefined,
      "ERR value is not an integer or out of range",
      undefined,
    ]);
    expect(await direct.get("pipe:after")).toBe("ran");
    await expect(redis.pipeline().set("pipe:text", "abc").incr("pipe:text").exec()).rejects.toThrow(
      /Command 2 \[ incr \] failed: ERR value is not an integer/,
    );
  });

  it("runs redis.multi() as a MULTI/EXEC transaction", async () => {
    const monitor = await direct.monitor();
    const seen: string[][] = [];
    monitor.on("monitor", (_time: string, args: string[], _source: string, database: string) => {
      if (database === "14") seen.push(args.map((arg) => arg.toLowerCase()));
    });
    try {
      const results = await redis.multi().set("tx:a", "1").incr("tx:a").get("tx:a").exec();
      expect(results).toEqual(["OK", 2, 2]);
      await expect.poll(() => seen.length).toBeGreaterThanOrEqual(5);
      expect(seen.slice(0, 5)).toEqual([["multi"], ["set", "tx:a", "1"], ["incr", "tx:a"], ["get", "tx:a"], ["exec"]]);
    } finally {
      monitor.disconnect();
    }
    expect(await direct.get("tx:a")).toBe("2");
  });

  it("reports a command failing inside a transaction, the others still applied (Redis semantics)", async () => {
    await expect(
      redis.multi().set("tx:text", "abc").incr("tx:text").set("tx:after", "yes").exec(),
    ).rejects.toThrow(/Command 2 \[ incr \] failed: ERR value is not an integer/);
    expect(await direct.get("tx:after")).toBe("yes");
  });

  it("discards a whole transaction when a command cannot be queued", async () => {
    const res = await rest("/multi-exec", [
      ["SET", "tx:discarded", "1"],
      ["GET"],
    ]);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string };
    expect(body.error).toMatch(/^EXECABORT .*wrong number of arguments for 'get'/);
    expect(await direct.exists("tx:discarded")).toBe(0);
  });

  it("surfaces Redis error replies as client errors (400 with the Redis message)", async () => {
    await redis.set("err:text", "not a number");
    await expect(redis.incr("err:text")).rejects.toThrow(/ERR value is not an integer or out of range/);
    await expect(redis.lpush("err:text", "x")).rejects.toThrow(/WRONGTYPE/);
    expect(await direct.get("err:text")).toBe("not a number");

    const res = await rest("/", ["NOSUCHCOMMAND", "k"]);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^ERR unknown command/);
  });

  it("refuses commands that would change the shared connection", async () => {
    const res = await rest("/", ["SELECT", "0"]);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: "ERR Command is not available: 'select'" });
    // Still on db 14.
    await redis.set("conn:still14", "yes");
    expect(await direct.get("conn:still14")).toBe("yes");
  });

  it("rejects malformed bodies with 400", async () => {
    const notJson = await fetch(gateway.url, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: "{nope",
    });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: string }).error).toMatch(/not valid JSON/);

    for (const body of [{ cmd: "GET" }, [], [1, "k"], ["SET", "k", { nested: true }]]) {
      const res = await rest("/", body);
      expect(res.status).toBe(400);
      expect(typeof ((await res.json()) as { error: unknown }).error).toBe("string");
    }
    expect((await rest("/pipeline", [])).status).toBe(400);
    expect((await rest("/pipeline", [["GET", "k"], "GET"])).status).toBe(400);
  });

  it("answers 401 to a wrong or missing token, and the client throws", async () => {
    const wrong = client({ token: "wrong-token", retry: false });
    await expect(wrong.get("json:user")).rejects.toThrow(/WRONGPASS invalid or missing auth token/);
    await expect(wrong.set("auth:k", "v")).rejects.toThrow(/WRONGPASS/);
    expect(await direct.exists("auth:k")).toBe(0);

    const missing = await fetch(gateway.url, { method: "POST", body: '["GET","k"]' });
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { error: string }).error).toMatch(/^WRONGPASS/);
    const badBearer = await rest("/", ["GET", "k"], { authorization: "Bearer nope" });
    expect(badBearer.status).toBe(401);
    const control401 = await fetch(`${gateway.url}/__control/down`, { method: "POST" });
    expect(control401.status).toBe(401);
  });

  it("answers as Cloudflare's edge does for an origin it cannot reach, or as a failing service, until up", async () => {
    await control("edge/1016");
    const dns = await fetch(`${gateway.url}/ping`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect([dns.status, await dns.text()]).toEqual([530, "error code: 1016"]);
    await control("edge/525");
    expect((await fetch(`${gateway.url}/ping`)).status).toBe(525);
    await control("http-error/503");
    const failing = await fetch(`${gateway.url}/ping`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(failing.status).toBe(503);
    expect(await failing.json()).toMatchObject({ error: "service failed with HTTP 503" });
    expect((await control("edge/999")).status).toBe(404);
    await control("up");
    expect(await client({ retry: false }).ping()).toBe("PONG");
  });

  it("drops every request while down and serves again after up", async () => {
    const flaky = client({ retry: false });
    expect(await flaky.set("down:before", "v")).toBe("OK");
    await control("stats/reset");
    expect(await (await control("down")).json()).toEqual({ ok: true, down: true });
    try {
      await expect(flaky.set("down:k", "v")).rejects.toThrow();
      await expect(flaky.get("down:before")).rejects.toThrow();
      expect(await direct.exists("down:k")).toBe(0);
      const during = await stats();
      expect(during.requests).toBeGreaterThanOrEqual(2);
      expect(during.commands).toBe(0);
    } finally {
      expect(await (await control("up")).json()).toEqual({ ok: true, down: false });
    }
    expect(await flaky.set("down:k", "after")).toBe("OK");
    expect(await direct.get("down:k")).toBe("after");
    expect(await redis.get("down:before")).toBe("v");
  });

  it("answers 503 quickly when Redis itself is unreachable, and closes cleanly", async () => {
    const dead = await startRedisGateway({ token: TOKEN, redisUrl: `redis://127.0.0.1:${await freePort()}/0` });
    try {
      const started = Date.now();
      const res = await fetch(dead.url, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
        body: '["GET","k"]',
      });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: string }).error).toMatch(/unreachable/);
      expect(Date.now() - started).toBeLessThan(2000);

      const deadClient = new Upstash({ url: dead.url, token: TOKEN, retry: false, enableTelemetry: false });
      await expect(deadClient.get("k")).rejects.toThrow(/unreachable/);
    } finally {
      await dead.close();
    }
    await expect(fetch(dead.url, { method: "POST", body: '["PING"]' })).rejects.toThrow();
  });

  describe("Lua scripts with shebang flags Redis 7 refuses, as @upstash/ratelimit sends them", () => {
    const LOCKING = `#!lua flags=allow-key-locking
redis.call("SET", KEYS[1], ARGV[1])
return redis.call("INCR", KEYS[2])
`;

    it("evals a script flagged allow-key-locking, which Redis itself refuses", async () => {
      await expect(direct.eval(LOCKING, 2, "lua:eval:s", "x", "lua:eval:n")).rejects.toThrow(
        /Unexpected flag in script shebang: allow-key-locking/,
      );
      expect(await redis.eval(LOCKING, ["lua:eval:s", "lua:eval:n"], ["hello"])).toBe(1);
      // A shebang script needs no-writes to run read-only, on Redis as on Upstash.
      const read = `#!lua flags=allow-key-locking,no-writes\nreturn redis.call("GET", KEYS[1])`;
      expect(await redis.evalRo(read, ["lua:eval:s"], [])).toBe("hello");
      expect(await direct.get("lua:eval:s")).toBe("hello");
      expect(await direct.get("lua:eval:n")).toBe("1");
    });

    it("answers SCRIPT LOAD with the original text's sha1, which EVALSHA and SCRIPT EXISTS then accept", async () => {
      const sha = await redis.scriptLoad(LOCKING);
      expect(sha).toBe(sha1(LOCKING));
      expect(await redis.evalsha(sha, ["lua:sha:s", "lua:sha:n"], ["v"])).toBe(1);
      expect(await redis.evalsha(sha.toUpperCase(), ["lua:sha:s", "lua:sha:n"], ["v"])).toBe(2);
      expect(await direct.get("lua:sha:n")).toBe("2");
      expect(await redis.scriptExists(sha, "0".repeat(40))).toEqual([1, 0]);
      // Redis holds the script under the rewritten text's sha only.
      expect(await direct.script("EXISTS", sha, sha1("#!lua\n" + LOCKING.split("\n").slice(1).join("\n")))).toEqual([
        0, 1,
      ]);
    });

    it("keeps the flags Redis knows and drops only the others", async () => {
      const script = "#!lua flags=no-writes,allow-key-locking\nreturn redis.call('SET', KEYS[1], 'x')";
      // no-writes survived: Redis refuses a write from the script.
      await expect(redis.eval(script, ["lua:mixed"], [])).rejects.toThrow(/Write commands are not allowed/);
      expect(await direct.exists("lua:mixed")).toBe(0);
      const rewritten = sha1("#!lua flags=no-writes\nreturn redis.call('SET', KEYS[1], 'x')");
      expect(await direct.script("EXISTS", rewritten)).toEqual([1]);
    });

    it("passes an unknown sha through, so the client gets NOSCRIPT and can fall back to EVAL", async () => {
      const script = `#!lua flags=allow-key-locking\nreturn "fresh ${process.pid} ${Date.now()}"`;
      await expect(redis.evalsha(sha1(script), [], [])).rejects.toThrow(/NOSCRIPT/);
      expect(await redis.eval(script, [], [])).toMatch(/^fresh /);
      expect(await redis.evalsha(sha1(script), [], [])).toMatch(/^fresh /);
    });

    it("rewrites scripts in /pipeline and /multi-exec too, case-insensitively", async () => {
      const script = "#!lua flags=allow-key-locking,no-writes\nreturn 'batched'";
      const sha = sha1(script);
      const pipeline = await rest("/pipeline", [
        ["script", "LOAD", script],
        ["EvalSha", sha, 0],
        ["SCRIPT", "exists", sha],
        ["EVAL", script, 0],
        ["eval_ro", script, 0],
        ["EVALSHA_RO", sha, 0],
      ]);
      expect(await pipeline.json()).toEqual([
        { result: sha },
        { result: "batched" },
        { result: [1] },
        { result: "batched" },
        { result: "batched" },
        { result: "batched" },
      ]);

      const other = "#!lua flags=allow-key-locking\nreturn 'in a transaction'";
      const multi = await rest("/multi-exec", [
        ["SCRIPT", "LOAD", other],
        ["EVALSHA", sha1(other), 0],
        ["EVAL", other, 0],
      ]);
      expect(await multi.json()).toEqual([
        { result: sha1(other) },
        { result: "in a transaction" },
        { result: "in a transaction" },
      ]);
    });

    it("runs @upstash/ratelimit end to end, evalsha hitting after the first call", async () => {
      const ratelimit = new Ratelimit({
        redis: client(),
        limiter: Ratelimit.slidingWindow(2, "10 s"),
        prefix: `rl-test-${process.pid}-${Date.now()}`,
      });
      // Crossing a 10 s window boundary mid-test would let the third call through: start well inside one.
      const intoWindow = Date.now() % 10_000;
      if (intoWindow > 8_000) await new Promise((resolve) => setTimeout(resolve, 10_050 - intoWindow));
      await control("stats/reset");
      const first = await ratelimit.limit("id");
      expect(first.success).toBe(true);
      // This gateway has not seen the script yet: EVALSHA answers NOSCRIPT, then EVAL records it.
      expect(await stats()).toEqual({ requests: 2, commands: 2 });

      await control("stats/reset");
      const second = await ratelimit.limit("id");
      expect(second.success).toBe(true);
      expect(await stats()).toEqual({ requests: 1, commands: 1 });

      await control("stats/reset");
      const third = await ratelimit.limit("id");
      expect(third.success).toBe(false);
      expect(third.remaining).toBe(0);
      expect(await stats()).toEqual({ requests: 1, commands: 1 });
      await Promise.all([first.pending, second.pending, third.pending]);
    });
  });
});
