// Replies on the webhook response (src/bot/response-replies.ts), with grammY's own Bot against the Bot
// API double: what becomes a request, what rides on the answer, in which order.
import { readFile } from "node:fs/promises";
import { Bot } from "grammy";
import type { Update } from "grammy/types";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startBotApiDouble, type BotApiDouble } from "../../scripts/local/bot-api-double.js";
import type { BotContext } from "../../src/bot/context.js";
import { ResponseReplies } from "../../src/bot/response-replies.js";

const TOKEN = "7000000001:response-replies-test-token";
const SAMPLES = new URL("../fixtures/telegram/", import.meta.url);
const REPLY_METHODS = new Set(["sendMessage", "editMessageText", "answerCallbackQuery"]);

let double: BotApiDouble;
let botInfo: Bot<BotContext>["botInfo"];
let update: Update;
let nextUpdateId = 1;

/** A bot with replies on the response and one handler; `handle` runs it on a fresh copy of the sample text message. */
function botWith(handler: (ctx: BotContext) => Promise<unknown>) {
  const replies = new ResponseReplies(REPLY_METHODS);
  const bot = new Bot<BotContext>(TOKEN, { botInfo, client: { apiRoot: double.url } });
  bot.use(replies.middleware);
  bot.on("message", async (ctx) => void (await handler(ctx)));
  return {
    replies,
    async handle(): Promise<Update> {
      const copy = { ...structuredClone(update), update_id: nextUpdateId++ };
      await bot.handleUpdate(copy);
      return copy;
    },
  };
}

beforeAll(async () => {
  botInfo = JSON.parse(await readFile(new URL("getMe.json", SAMPLES), "utf8"));
  update = JSON.parse(await readFile(new URL("message_text.json", SAMPLES), "utf8"));
  double = await startBotApiDouble({ tokens: [TOKEN], botInfo: botInfo as unknown as Record<string, unknown> });
});

afterAll(async () => {
  await double.close();
});

beforeEach(() => {
  double.reset();
});

describe("ResponseReplies", () => {
  it("a single reply is no request: it is taken as the answer, once", async () => {
    const { replies, handle } = botWith((ctx) => ctx.reply("only"));
    const handled = await handle();
    expect(double.calls()).toEqual([]);
    expect(JSON.parse(replies.takeReply(handled) ?? "")).toEqual({ method: "sendMessage", chat_id: update.message?.chat.id, text: "only" });
    expect(replies.takeReply(handled)).toBeUndefined();
    expect(replies.hasVisibleEffects(handled)).toBe(false);
  });

  it("two messages keep their order: the first is sent when the second is made, the second rides", async () => {
    const { replies, handle } = botWith(async (ctx) => {
      await ctx.reply("first");
      await ctx.reply("second");
    });
    const handled = await handle();
    expect(double.calls().map((call) => call.params.text)).toEqual(["first"]);
    expect(JSON.parse(replies.takeReply(handled) ?? "")).toMatchObject({ method: "sendMessage", text: "second" });
    expect(replies.hasVisibleEffects(handled)).toBe(true);
  });

  it("a method that may not ride (a read) goes out at once, after the reply held before it", async () => {
    const { replies, handle } = botWith(async (ctx) => {
      await ctx.reply("before");
      await ctx.api.getChat(ctx.chatId ?? 0);
    });
    const handled = await handle();
    expect(double.calls().map((call) => call.method)).toEqual(["sendMessage", "getChat"]);
    expect(replies.takeReply(handled)).toBeUndefined();
  });

  it("a held call that fails when the next call sends it fails that next call, under its own name", async () => {
    double.addFault({ method: "sendMessage", error_code: 400, description: "Bad Request: chat not found", times: 1 });
    let failure: unknown;
    const { replies, handle } = botWith(async (ctx) => {
      await ctx.reply("held");
      await ctx.reply("next").catch((error: unknown) => {
        failure = error;
      });
    });
    const handled = await handle();
    expect(String(failure)).toContain("Call to 'sendMessage' failed! (400: Bad Request: chat not found)");
    expect(replies.hasVisibleEffects(handled)).toBe(false);
  });

  it("a handler that reads the result of a held call fails loudly instead of reading nothing", async () => {
    let failure: unknown;
    const { handle } = botWith(async (ctx) => {
      const sent = await ctx.reply("x");
      try {
        return sent.message_id;
      } catch (error) {
        failure = error;
      }
    });
    await handle();
    expect(String(failure)).toContain("the result of sendMessage is not available: it rides on the webhook response");
  });
});
