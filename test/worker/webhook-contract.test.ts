import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TEST_SECRETS } from "./bindings.js";
import { freshUpdateId, sample } from "./fixtures.js";
import { botApi, callWorker, callWorkerWith, deliver, failedRecord, redisGateway } from "./helpers.js";

beforeEach(async () => {
  await botApi.reset();
  await redisGateway.resetStats();
});

/** Nothing reached the Bot API double or Redis. */
async function expectNoWork(): Promise<void> {
  expect(await botApi.calls()).toEqual([]);
  expect((await redisGateway.stats()).requests).toBe(0);
}

describe("POST /bot/webhook/ secret", () => {
  it.each([
    ["missing", null],
    ["wrong", "not-the-secret"],
    ["one character off", `${TEST_SECRETS.TELEGRAM_WEBHOOK_SECRET.slice(0, -1)}X`],
    ["a prefix", TEST_SECRETS.TELEGRAM_WEBHOOK_SECRET.slice(0, 10)],
    ["overlong", `${TEST_SECRETS.TELEGRAM_WEBHOOK_SECRET}${"a".repeat(5000)}`],
  ])("%s secret answers 401 and does no other work", async (_case, secret) => {
    const response = await deliver(sample("messageStart"), { secret });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: "unauthorized" });
    await expectNoWork();
  });

  it("wrong secret with an unparseable body is still 401: the body is not read", async () => {
    const response = await deliver("{not json", { secret: "wrong" });
    expect(response.status).toBe(401);
    await expectNoWork();
  });
});

describe("POST /bot/webhook/ body", () => {
  it.each([
    ["not JSON", "{not json"],
    ["truncated JSON", JSON.stringify(sample("messageStart")).slice(0, 40)],
    ["a JSON array", "[1,2]"],
    ["a JSON string", '"hello"'],
    ["no update_id", JSON.stringify({ message: {} })],
    ["a string update_id", JSON.stringify({ update_id: "7", message: {} })],
    ["a fractional update_id", JSON.stringify({ update_id: 1.5 })],
    ["a negative update_id", JSON.stringify({ update_id: -1 })],
    ["an update_id beyond 2^53", '{"update_id": 123456789012345678901234567890}'],
  ])("%s answers 400 with a short JSON error", async (_case, body) => {
    const response = await deliver(body);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: "invalid_update" });
    expect(await botApi.calls()).toEqual([]);
  });

  it("invalid UTF-8 answers 400", async () => {
    const bytes = new Uint8Array([0x7b, 0x22, 0x75, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]);
    const response = await callWorker("/bot/webhook/", {
      method: "POST",
      headers: { "X-Telegram-Bot-Api-Secret-Token": TEST_SECRETS.TELEGRAM_WEBHOOK_SECRET },
      body: bytes,
    });
    expect(response.status).toBe(400);
  });

  it("a body over 1 MiB answers 413 from its Content-Length", async () => {
    const response = await deliver(JSON.stringify({ update_id: freshUpdateId(), pad: "x".repeat(1024 * 1024) }));
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: "payload_too_large" });
    expect(await botApi.calls()).toEqual([]);
  });

  it("a streamed body over 1 MiB without Content-Length answers 413", async () => {
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 40) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const response = await callWorker("/bot/webhook/", {
      method: "POST",
      headers: { "X-Telegram-Bot-Api-Secret-Token": TEST_SECRETS.TELEGRAM_WEBHOOK_SECRET },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(sent).toBeLessThan(40);
  });
});

describe("POST /bot/webhook/ routing", () => {
  it.each(["GET", "PUT", "DELETE", "PATCH"])("%s answers 405 with Allow: POST", async (method) => {
    const response = await callWorker("/bot/webhook/", { method });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
  });

  it("the path without a trailing slash works the same", async () => {
    const update = sample("messageHelp");
    const response = await deliver(update, { path: "/bot/webhook" });
    expect(response.status).toBe(200);
    const replies = await botApi.calls("sendMessage");
    expect(replies).toHaveLength(1);
  });

  it("an unknown update type is accepted with 200, answered by no one, and is not a failure", async () => {
    const updateId = freshUpdateId();
    const response = await deliver({ update_id: updateId, future_update_kind: { id: 1 } });
    expect(response.status).toBe(200);
    expect(await botApi.calls()).toEqual([]);
    expect(await failedRecord(updateId)).toBeUndefined();
  });
});

describe("every webhook request gets one log line", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const presentedSecret = "a-wrong-secret-that-must-not-be-logged";
  it.each([
    ["a wrong secret", () => deliver(sample("messageStart"), { secret: presentedSecret }), 401, "rejected"],
    ["a body that is not an update", () => deliver("{not json"), 400, "rejected"],
    ["another method", () => callWorker("/bot/webhook/", { method: "GET" }), 405, "rejected"],
    ["a body over 1 MiB", () => deliver("x".repeat(1024 * 1024 + 1)), 413, "rejected"],
    ["a broken configuration", () => callWorkerWith({ TELEGRAM_BOT_TOKEN: undefined }, "/bot/webhook/", { method: "POST", body: "{}" }), 500, "error"],
  ])("%s: status and outcome, nothing of the request's secrets", async (_case, send, status, outcome) => {
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    expect((await send()).status).toBe(status);
    const lines = log.mock.calls.map((args) => JSON.parse(String(args[0])) as Record<string, unknown>);
    const requestLines = lines.filter((line) => line.msg === "webhook");
    expect(requestLines).toHaveLength(1);
    expect(requestLines[0]).toMatchObject({ level: "info", outcome, status });
    expect(requestLines[0]?.duration_ms).toBeTypeOf("number");
    const raw = log.mock.calls.flat().join("\n");
    for (const secret of [presentedSecret, ...Object.values(TEST_SECRETS)]) expect(raw).not.toContain(secret);
  });
});
