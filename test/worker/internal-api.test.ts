import { beforeEach, describe, expect, it } from "vitest";
import { TEST_SECRETS } from "./bindings.js";
import { freshUserId, textMessage } from "./fixtures.js";
import { botApi, callWorker, deliver, neonGateway, redisGateway, testSql } from "./helpers.js";

const sql = testSql();
const auth = { Authorization: `Bearer ${TEST_SECRETS.BOT_INTERNAL_API_TOKEN}`, "Content-Type": "application/json" };

function post(path: string, body: unknown, headers: Record<string, string> = auth): Promise<Response> {
  return callWorker(path, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
}

/** A Telegram account linked to `webUserId`, made the way users do it: token, then /start. */
async function linkedUser(webUserId: number): Promise<number> {
  const user = freshUserId();
  const { token } = (await (await post("/bot/internal/link-tokens", { user_id: webUserId })).json()) as { token: string };
  expect((await deliver(textMessage(user, `/start link_${token}`))).status).toBe(200);
  return user;
}

let webUserSeq = 900_000 + Math.floor(Math.random() * 10_000) * 10;

beforeEach(async () => {
  await botApi.reset();
});

describe("a dependency down", () => {
  it("answers 503 dependency_unavailable with Retry-After, so Django knows to try again later", async () => {
    await redisGateway.down();
    try {
      const response = await post("/bot/internal/link-tokens", { user_id: 5 });
      expect(response.status).toBe(503);
      expect(response.headers.get("retry-after")).toBe("5");
      expect(await response.json()).toEqual({ error: "dependency_unavailable", dependency: "redis" });
    } finally {
      await redisGateway.up();
    }
  });
});

describe("internal API auth", () => {
  it.each([
    ["no header", {}],
    ["a wrong token", { Authorization: "Bearer wrong-token-wrong-token-wrong" }],
    ["the token as Basic", { Authorization: `Basic ${TEST_SECRETS.BOT_INTERNAL_API_TOKEN}` }],
    ["the webhook secret", { Authorization: `Bearer ${TEST_SECRETS.TELEGRAM_WEBHOOK_SECRET}` }],
  ])("%s → 401", async (_case, headers) => {
    for (const path of ["/bot/internal/link-tokens", "/bot/internal/notify"]) {
      const response = await post(path, { user_id: 1, text: "x" }, headers as Record<string, string>);
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ error: "unauthorized" });
    }
    expect(await botApi.calls()).toEqual([]);
  });
});

describe("POST /bot/internal/link-tokens", () => {
  it("issues distinct one-time tokens", async () => {
    const a = (await (await post("/bot/internal/link-tokens", { user_id: 5 })).json()) as { token: string };
    const b = (await (await post("/bot/internal/link-tokens", { user_id: 5 })).json()) as { token: string };
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(a.token).not.toBe(b.token);
  });

  it.each([
    [{}, "is required"],
    [{ user_id: "5" }, "must be a number"],
    [{ user_id: 0 }, "must be positive"],
    [{ user_id: 1.5 }, "must be an integer"],
  ])("%j → 400 with the field's error", async (body, message) => {
    const response = await post("/bot/internal/link-tokens", body);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: "invalid_request", fields: { user_id: [message] } });
  });

  it.each([
    ["not JSON", "{oops"],
    ["a JSON array", "[5]"],
    ["empty", ""],
  ])("a body that is %s → 400 naming the body", async (_case, body) => {
    const response = await post("/bot/internal/link-tokens", body);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: "invalid_request", fields: { body: ["must be a JSON object"] } });
  });

  it("a body over 64 KiB → 413", async () => {
    const response = await post("/bot/internal/notify", { user_id: 1, text: "x".repeat(70_000) });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: "payload_too_large" });
  });
});

describe("other paths under /bot/internal", () => {
  it.each([
    ["POST", "/bot/internal/unknown"],
    ["GET", "/bot/internal/notify"],
    ["GET", "/bot/internal"],
  ])("%s %s → 404 JSON, with or without a token", async (method, path) => {
    for (const headers of [{}, auth]) {
      const response = await callWorker(path, { method, headers });
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({ error: "not_found" });
    }
  });
});

describe("POST /bot/internal/notify", () => {
  it("sends to every linked, unblocked chat and reports each", async () => {
    const webUser = webUserSeq++;
    const [first, second] = [await linkedUser(webUser), await linkedUser(webUser)];
    await botApi.reset();
    const response = await post("/bot/internal/notify", { user_id: webUser, text: "<b>Order #7</b> is ready", parse_mode: "HTML" });
    expect(response.status).toBe(200);
    const body = (await response.json()) as any;
    expect(body.delivered).toBe(2);
    expect(body.results.map((r: any) => [r.chat_id, r.status])).toEqual([
      [String(first), "sent"],
      [String(second), "sent"],
    ]);
    const calls = await botApi.calls("sendMessage");
    expect(calls.map((c) => [String(c.params.chat_id), c.params.text, c.params.parse_mode])).toEqual([
      [String(first), "<b>Order #7</b> is ready", "HTML"],
      [String(second), "<b>Order #7</b> is ready", "HTML"],
    ]);
  });

  it("a user with no linked chat gets an empty report", async () => {
    const response = await post("/bot/internal/notify", { user_id: webUserSeq++, text: "hi" });
    expect(await response.json()).toMatchObject({ delivered: 0, results: [] });
  });

  it("403 'bot was blocked by the user' marks the account blocked, and it is skipped afterwards", async () => {
    const webUser = webUserSeq++;
    const user = await linkedUser(webUser);
    await botApi.addFault({ method: "sendMessage", chat_id: user, error_code: 403, description: "Forbidden: bot was blocked by the user" });
    const body = (await (await post("/bot/internal/notify", { user_id: webUser, text: "hi" })).json()) as any;
    expect(body.results).toEqual([{ chat_id: String(user), status: "blocked" }]);
    const [row] = (await sql.query("SELECT is_blocked FROM telegram_accounts WHERE telegram_user_id = $1", [user])) as unknown[];
    expect(row).toEqual({ is_blocked: true });
    await botApi.clearFaults();
    const again = (await (await post("/bot/internal/notify", { user_id: webUser, text: "hi" })).json()) as any;
    expect(again.results).toEqual([]);
  });

  it("429 with a short retry_after is waited out and retried once", async () => {
    const webUser = webUserSeq++;
    const user = await linkedUser(webUser);
    await botApi.reset();
    await botApi.addFault({ method: "sendMessage", chat_id: user, error_code: 429, retry_after: 1, times: 1 });
    const started = Date.now();
    const body = (await (await post("/bot/internal/notify", { user_id: webUser, text: "hi" })).json()) as any;
    expect(body.results[0]).toMatchObject({ chat_id: String(user), status: "sent" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(await botApi.calls("sendMessage")).toHaveLength(2);
  });

  it("429 with a long retry_after is reported, not waited for", async () => {
    const webUser = webUserSeq++;
    const user = await linkedUser(webUser);
    await botApi.addFault({ method: "sendMessage", chat_id: user, error_code: 429, retry_after: 30 });
    const body = (await (await post("/bot/internal/notify", { user_id: webUser, text: "hi" })).json()) as any;
    expect(body.results).toEqual([{ chat_id: String(user), status: "rate_limited", retry_after: 30 }]);
    await botApi.clearFaults();
  });

  it.each([
    [{ user_id: 1 }, ["text"]],
    [{ user_id: 1, text: "" }, ["text"]],
    [{ user_id: 1, text: "x".repeat(4097) }, ["text"]],
    [{ user_id: -1, text: "x", parse_mode: "html" }, ["user_id", "parse_mode"]],
  ])("%j → 400 naming the fields", async (body, fields) => {
    const response = await post("/bot/internal/notify", body);
    expect(response.status).toBe(400);
    const json = (await response.json()) as { fields: Record<string, string[]> };
    expect(Object.keys(json.fields).sort()).toEqual([...fields].sort());
  });
});

describe("POST /bot/internal/notify once messages went out (issue 11, defect 4)", () => {
  it("Postgres failing while a blocked chat is recorded after another chat was sent: 200 with per-chat results, not 503", async () => {
    const webUser = webUserSeq++;
    const [first, second] = [await linkedUser(webUser), await linkedUser(webUser)];
    await botApi.reset();
    // The first chat's message is slow to go out; Postgres goes away while it does, before the second
    // chat's 403 is recorded.
    await botApi.addFault({ method: "sendMessage", chat_id: first, delay_ms: 1500, times: 1 });
    await botApi.addFault({ method: "sendMessage", chat_id: second, error_code: 403, description: "Forbidden: bot was blocked by the user" });
    const answer = post("/bot/internal/notify", { user_id: webUser, text: "Your order shipped" });
    for (let i = 0; (await botApi.callsFor(first, "sendMessage")).length === 0 && i < 100; i++) await new Promise((r) => setTimeout(r, 50));
    await neonGateway.down();
    let response: Response;
    try {
      response = await answer;
    } finally {
      await neonGateway.up();
    }
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      user_id: webUser,
      delivered: 1,
      results: [
        { chat_id: String(first), status: "sent", message_id: expect.any(Number) },
        { chat_id: String(second), status: "blocked", recorded: false },
      ],
    });
    await botApi.clearFaults();
  });
});

describe("POST /bot/internal/notify with an id", () => {
  it("sends once; the same id again answers the same results without sending; another body is 409", async () => {
    const webUser = webUserSeq++;
    const [first, second] = [await linkedUser(webUser), await linkedUser(webUser)];
    await botApi.reset();
    const request = { id: `notify:${webUser}`, user_id: webUser, text: "Paid, thank you" };
    const answer = await post("/bot/internal/notify", request);
    expect(answer.status).toBe(200);
    const body = await answer.json();
    expect(body).toEqual({
      user_id: webUser,
      delivered: 2,
      results: [
        { chat_id: String(first), status: "sent", message_id: expect.any(Number) },
        { chat_id: String(second), status: "sent", message_id: expect.any(Number) },
      ],
    });
    const again = await post("/bot/internal/notify", request);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(body);
    const changed = await post("/bot/internal/notify", { ...request, text: "Paid twice?" });
    expect(changed.status).toBe(409);
    expect(await changed.json()).toEqual({ error: "conflict", detail: "this id belongs to a notification with another body" });
    expect(await botApi.calls("sendMessage")).toHaveLength(2);
  });

  it("the same id posted 3 times at once sends each chat one message", async () => {
    const webUser = webUserSeq++;
    const user = await linkedUser(webUser);
    await botApi.reset();
    const request = { id: `notify:${webUser}`, user_id: webUser, text: "Concurrent" };
    const answers = await Promise.all([1, 2, 3].map(() => post("/bot/internal/notify", request)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(await botApi.callsFor(user, "sendMessage")).toHaveLength(1);
  });

  it("a chat still pending after a failure is tried again by the repeat, the sent one is not", async () => {
    const webUser = webUserSeq++;
    const [first, second] = [await linkedUser(webUser), await linkedUser(webUser)];
    await botApi.reset();
    await botApi.addFault({ method: "sendMessage", chat_id: second, error_code: 502, times: 1 });
    const request = { id: `notify:${webUser}`, user_id: webUser, text: "Retry me" };
    const body = (await (await post("/bot/internal/notify", request)).json()) as any;
    expect(body.results.map((r: any) => r.status)).toEqual(["sent", "failed"]);
    const again = (await (await post("/bot/internal/notify", request)).json()) as any;
    expect(again.results.map((r: any) => r.status)).toEqual(["sent", "sent"]);
    expect((await botApi.callsFor(first, "sendMessage")).length).toBe(1);
    expect((await botApi.callsFor(second, "sendMessage")).length).toBe(2);
  });

  it("an id that is not 1-64 of A-Z a-z 0-9 _ . : - → 400", async () => {
    const response = await post("/bot/internal/notify", { id: "no spaces please", user_id: 1, text: "x" });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: "invalid_request", fields: { id: ["must be 1-64 characters of A-Z a-z 0-9 _ . : -"] } });
  });
});
