import { Api, GrammyError } from "grammy";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startBotApiDouble, type BotApiDouble } from "../../scripts/local/bot-api-double.js";

const TOKEN = "7000000001:flood-control-test-token";

let double: BotApiDouble;
let api: Api;

async function control(method: string, body?: unknown): Promise<{ status: number; body: Record<string, any> }> {
  const response = await fetch(`${double.url}/__control/flood`, {
    method,
    ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** The error a call fails with, or undefined when it succeeds. */
async function outcome(call: Promise<unknown>): Promise<GrammyError | undefined> {
  return call.then(
    () => undefined,
    (error: unknown) => {
      if (!(error instanceof GrammyError)) throw error;
      return error;
    },
  );
}

beforeAll(async () => {
  double = await startBotApiDouble({ tokens: [TOKEN], botInfo: { id: 7000000001, is_bot: true, first_name: "Bot", username: "test_bot" } });
  api = new Api(TOKEN, { apiRoot: double.url });
});

afterAll(async () => {
  await double.close();
});

beforeEach(() => {
  double.reset();
});

describe("flood control of the Bot API double", () => {
  it("is off unless asked for", async () => {
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => outcome(api.sendMessage(1000 + i, "hi"))));
    expect(answers.filter(Boolean)).toEqual([]);
    expect((await control("GET")).body).toMatchObject({ enabled: false, sends: [] });
  });

  it("answers the send past the rate per second with 429 and retry_after, as Telegram does", async () => {
    expect((await control("POST", { per_second: 5 })).status).toBe(200);
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await outcome(api.sendMessage(2000 + i, "hi")));
    expect(answers.slice(0, 5)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    const refused = answers[5];
    expect(refused?.error_code).toBe(429);
    expect(refused?.description).toBe("Too Many Requests: retry after 1");
    expect(refused?.parameters.retry_after).toBe(1);
    // Other methods do not count.
    expect(await outcome(api.getMe())).toBeUndefined();
    const report = (await control("GET")).body;
    expect(report.sends).toHaveLength(5);
    expect(report.refused).toEqual({ "429": 1 });
  });

  it("takes allow_paid_broadcast calls up to the paid rate", async () => {
    await control("POST", { per_second: 2, paid_per_second: 4 });
    const free = [];
    for (let i = 0; i < 3; i++) free.push(await outcome(api.sendMessage(3000 + i, "hi")));
    expect(free.map((e) => e?.error_code)).toEqual([undefined, undefined, 429]);
    const paid = [];
    for (let i = 0; i < 3; i++) paid.push(await outcome(api.sendMessage(3100 + i, "hi", { allow_paid_broadcast: true })));
    expect(paid.map((e) => e?.error_code)).toEqual([undefined, undefined, 429]);
  });

  it("allows one message per second per chat", async () => {
    await control("POST", {});
    expect(await outcome(api.sendMessage(4000, "one"))).toBeUndefined();
    const second = await outcome(api.sendMessage(4000, "two"));
    expect(second?.error_code).toBe(429);
    expect(second?.parameters.retry_after).toBe(1);
    expect(await outcome(api.sendMessage(4001, "another chat"))).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await outcome(api.sendMessage(4000, "three"))).toBeUndefined();
  });

  it("allows a group its messages per minute, then tells it to wait for the minute", async () => {
    await control("POST", { per_chat_per_second: 1_000_000, per_group_per_minute: 3 });
    const group = -1001234567890;
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await outcome(api.sendMessage(group, `m${i}`)));
    expect(answers.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    expect(answers[3]?.error_code).toBe(429);
    expect(answers[3]?.parameters.retry_after).toBeGreaterThan(50);
    expect(await outcome(api.sendMessage(-1009999999999, "another group"))).toBeUndefined();
  });

  it("refuses chats that blocked the bot (403) or do not exist (400), without counting them", async () => {
    await control("POST", { blocked: [5001, "5002"], not_found: [5003] });
    const blocked = await outcome(api.sendMessage(5001, "hi"));
    expect([blocked?.error_code, blocked?.description]).toEqual([403, "Forbidden: bot was blocked by the user"]);
    expect((await outcome(api.sendMessage(5002, "hi")))?.error_code).toBe(403);
    const missing = await outcome(api.sendMessage(5003, "hi"));
    expect([missing?.error_code, missing?.description]).toEqual([400, "Bad Request: chat not found"]);
    expect(await outcome(api.sendMessage(5004, "hi"))).toBeUndefined();
    const report = (await control("GET")).body;
    expect(report.sends).toEqual([{ chat_id: "5004", at: expect.any(Number) }]);
    expect(report.refused).toEqual({ "403": 2, "400": 1 });
  });

  it("does not count a send the method itself refused", async () => {
    await control("POST", { per_second: 1 });
    expect((await outcome(api.sendMessage(6000, "x".repeat(5000))))?.description).toBe("Bad Request: message is too long");
    expect(await outcome(api.sendMessage(6001, "fits"))).toBeUndefined();
    expect((await control("GET")).body.sends).toEqual([{ chat_id: "6001", at: expect.any(Number) }]);
  });

  it("is turned off by DELETE and by reset, and refuses bad settings", async () => {
    await control("POST", { per_second: 1, blocked: [7000] });
    expect((await control("DELETE")).status).toBe(200);
    expect(await outcome(api.sendMessage(7000, "hi"))).toBeUndefined();
    await control("POST", { per_second: 1 });
    double.reset();
    expect((await control("GET")).body.enabled).toBe(false);
    expect((await control("POST", { per_second: 0 })).body).toEqual({ ok: false, error: "per_second must be a positive integer" });
    expect((await control("POST", { blocked: ["@name"] })).body).toEqual({ ok: false, error: "blocked must be an array of chat ids" });
  });
});
