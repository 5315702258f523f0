// The Bot API double delivering to a webhook as Telegram does: a local HTTP server plays the bot.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Api } from "grammy";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startBotApiDouble, type BotApiDouble } from "../../scripts/local/bot-api-double.js";

const TOKEN = "7000000001:webhook-delivery-test-token";
const BOT = { id: 7000000001, is_bot: true, first_name: "MTT Pro", username: "mtt_pro_bot" };
const SECRET = "delivery-test-secret";

/** One request the fake bot received. */
interface Received {
  update: Record<string, any>;
  secret: string | undefined;
  contentType: string | undefined;
}

let double: BotApiDouble;
let api: Api;
let bot: Server;
let botUrl: string;
let received: Received[];
/** How the fake bot answers each update; default 200 with no body. */
let answer: (update: Record<string, any>, res: ServerResponse) => void | Promise<void>;

const message = (chatId: number, text: string) => ({
  message: { message_id: 1, date: 0, chat: { id: chatId, type: "private" }, from: { id: chatId, is_bot: false, first_name: "U" }, text },
});

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

beforeAll(async () => {
  double = await startBotApiDouble({ tokens: [TOKEN], botInfo: BOT, webhookDelivery: { retryBaseMs: 20, retryMaxMs: 100 } });
  api = new Api(TOKEN, { apiRoot: double.url });
  bot = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      const update = JSON.parse(body) as Record<string, any>;
      received.push({ update, secret: req.headers["x-telegram-bot-api-secret-token"] as string | undefined, contentType: req.headers["content-type"] });
      void answer(update, res);
    });
  });
  await new Promise<void>((resolve) => bot.listen(0, "127.0.0.1", resolve));
  botUrl = `http://127.0.0.1:${(bot.address() as { port: number }).port}/bot/webhook/`;
});

beforeEach(() => {
  double.reset();
  received = [];
  answer = (_update, res) => void res.writeHead(200).end();
});

afterEach(() => double.reset());

afterAll(async () => {
  await double.close();
  await new Promise((resolve) => bot.close(resolve));
});

describe("setWebhook on this machine", () => {
  it.each(["http://127.0.0.1:8787/bot/webhook/", "http://localhost:9/x", "http://[::1]:3000/", "https://127.0.0.2:1234/"])("takes %s, which Telegram would refuse", async (url) => {
    expect(await api.setWebhook(url)).toBe(true);
    expect((await api.getWebhookInfo()).url).toBe(url);
  });

  it("still refuses plain http and other ports elsewhere", async () => {
    await expect(api.setWebhook("http://example.com/hook")).rejects.toThrow("An HTTPS URL must be provided");
    await expect(api.setWebhook("https://example.com:8080/hook")).rejects.toThrow("ports 80, 88, 443 or 8443");
  });
});

describe("delivery", () => {
  it("posts queued updates as JSON with the secret header, and confirms them on 200", async () => {
    double.queueUpdates([message(1, "queued before")]);
    await api.setWebhook(botUrl, { secret_token: SECRET });
    double.queueUpdates([message(1, "queued after")]);
    await until(() => received.length === 2, "both updates");
    expect(received.map((r) => r.update.message.text)).toEqual(["queued before", "queued after"]);
    expect(received.every((r) => r.secret === SECRET && r.contentType === "application/json")).toBe(true);
    await until(async () => (await api.getWebhookInfo()).pending_update_count === 0, "confirmed");
    expect(await api.getWebhookInfo()).not.toHaveProperty("last_error_date");
  });

  it("sends no secret header when setWebhook gave no secret", async () => {
    await api.setWebhook(botUrl);
    double.queueUpdates([message(1, "hi")]);
    await until(() => received.length === 1, "the update");
    expect(received[0]?.secret).toBeUndefined();
  });

  it("delivers one chat's updates one at a time, other chats meanwhile", async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    answer = async (update, res) => {
      if (update.message.text === "a1") await held;
      res.writeHead(200).end();
    };
    await api.setWebhook(botUrl);
    double.queueUpdates([message(1, "a1"), message(1, "a2"), message(2, "b1")]);
    await until(() => received.some((r) => r.update.message.text === "b1"), "the other chat's update");
    expect(received.map((r) => r.update.message.text)).toEqual(["a1", "b1"]);
    expect((await api.getWebhookInfo()).pending_update_count).toBe(2);
    release();
    await until(() => received.length === 3, "the held chat's next update");
    expect(received.map((r) => r.update.message.text)).toEqual(["a1", "b1", "a2"]);
  });

  it("redelivers after a non-2xx answer, reporting it in getWebhookInfo, and holds the chat's next update meanwhile", async () => {
    let failures = 2;
    answer = (_update, res) => void res.writeHead(failures-- > 0 ? 503 : 200).end();
    await api.setWebhook(botUrl);
    double.queueUpdates([message(1, "first"), message(1, "second")]);
    await until(() => received.length === 4, "two failures, then both updates");
    expect(received.map((r) => r.update.message.text)).toEqual(["first", "first", "first", "second"]);
    expect(new Set(received.slice(0, 3).map((r) => r.update.update_id)).size).toBe(1);
    const info = await api.getWebhookInfo();
    expect(info.last_error_message).toBe("Wrong response from the webhook: 503 Service Unavailable");
    expect(info.last_error_date).toBeGreaterThan(Date.now() / 1000 - 60);
    await until(async () => (await api.getWebhookInfo()).pending_update_count === 0, "confirmed");
  });

  it("reports a refused connection as Telegram words it, and keeps the update pending", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    await api.setWebhook(`http://127.0.0.1:${port}/hook`);
    double.queueUpdates([message(1, "nobody listens")]);
    await until(async () => (await api.getWebhookInfo()).last_error_message === "Connection refused", "the error");
    expect((await api.getWebhookInfo()).pending_update_count).toBe(1);
  });

  it("runs the Bot API method a webhook answer carries, as the bot's own call", async () => {
    answer = (update, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ method: "sendMessage", chat_id: update.message.chat.id, text: "via the reply" }));
    };
    await api.setWebhook(botUrl);
    double.queueUpdates([message(42, "hi")]);
    await until(() => double.calls("sendMessage").length === 1, "the reply's sendMessage");
    expect(double.calls("sendMessage")[0]).toMatchObject({ params: { chat_id: 42, text: "via the reply" } });
  });

  it("does not deliver to a webhook elsewhere: the double never posts made-up updates to a real deployment", async () => {
    await api.setWebhook("https://mtt-pro-api.xlog.uz/bot/webhook/");
    double.queueUpdates([message(1, "stays")]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const info = await api.getWebhookInfo();
    expect(info.pending_update_count).toBe(1);
    expect(info).not.toHaveProperty("last_error_message");
  });

  it("stops delivering when the webhook is deleted: the updates wait for getUpdates", async () => {
    answer = (_update, res) => void res.writeHead(500).end();
    await api.setWebhook(botUrl);
    double.queueUpdates([message(1, "for polling")]);
    await until(() => received.length >= 1, "a first attempt");
    await api.deleteWebhook();
    const attempts = received.length;
    const updates = await api.getUpdates({ timeout: 0 });
    expect(updates.map((u) => u.message?.text)).toEqual(["for polling"]);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(received.length).toBe(attempts);
  });
});
