import { Composer } from "grammy";
import type { BotContext } from "../context.js";

/** Last in line: any other message (unknown command, plain text) gets a short hint. */
export const fallback = new Composer<BotContext>();

fallback.on("message", async (ctx) => {
  await ctx.reply(ctx.t("hint"));
});
