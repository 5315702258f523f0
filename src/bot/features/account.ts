import { Composer, InlineKeyboard } from "grammy";
import type { BotContext } from "../context.js";

const UNLINK_YES = "unlink:yes";
const UNLINK_NO = "unlink:no";

/** /me shows the link status; /unlink removes the link after an inline-keyboard confirmation. */
export const account = new Composer<BotContext>();
const privateChat = account.chatType("private");

privateChat.command("me", async (ctx) => {
  const found = await ctx.services.accounts.find(ctx.from.id);
  const webUserId = found?.web_user_id;
  await ctx.reply(webUserId ? ctx.t("me_linked", { webUserId }) : ctx.t("me_not_linked"));
});

privateChat.command("unlink", async (ctx) => {
  const found = await ctx.services.accounts.find(ctx.from.id);
  if (!found?.web_user_id) {
    await ctx.reply(ctx.t("unlink_not_linked"));
    return;
  }
  const keyboard = new InlineKeyboard().text(ctx.t("unlink_yes"), UNLINK_YES).text(ctx.t("unlink_no"), UNLINK_NO);
  await ctx.reply(ctx.t("unlink_confirm"), { reply_markup: keyboard });
});

// Unlinking is idempotent, so a redelivery (or a second tap) confirms the same outcome.
privateChat.callbackQuery(UNLINK_YES, async (ctx) => {
  await ctx.services.accounts.unlink(ctx.from.id);
  await ctx.answerCallbackQuery();
  await ctx.editMessageText(ctx.t("unlink_done"));
});

privateChat.callbackQuery(UNLINK_NO, async (ctx) => {
  await ctx.answerCallbackQuery();
  await ctx.editMessageText(ctx.t("nothing_changed"));
});
