import { Composer, InlineKeyboard } from "grammy";
import type { TelegramProfile } from "../../data/accounts.js";
import type { BotContext, BotServices } from "../context.js";
import { profileOf } from "../profile.js";

const TOKEN = "[A-Za-z0-9_-]{16,64}";
const LINK_PAYLOAD = new RegExp(`^link_(${TOKEN})$`);
/** Callback data is at most 64 bytes: 13 + a 32-character token fits. */
const REPLACE_LINK = new RegExp(`^link:replace:(${TOKEN})$`);
const KEEP_LINK = "link:keep";

/**
 * /start greets and records the account; /start link_<token> also links it to a web account. A
 * Telegram account linked to another web account is never moved without asking: anyone can make a
 * link for their own account and get someone else to press Start.
 */
export const start = new Composer<BotContext>();
const privateChat = start.chatType("private");

/**
 * Redeems the token for the update and links the account; a redelivery of the same update may redeem it
 * again, so a failure below loses nothing. @returns the linked web account, or undefined for a used token.
 */
async function redeemAndLink(services: BotServices, profile: TelegramProfile, token: string, updateId: number): Promise<number | undefined> {
  const webUserId = await services.linkTokens.redeem(token, { telegramUserId: profile.userId, updateId });
  if (webUserId !== undefined) await services.accounts.upsertAndLink(profile, webUserId);
  return webUserId;
}

privateChat.command("start", async (ctx) => {
  const { accounts, linkTokens } = ctx.services;
  const profile = profileOf(ctx.from, ctx.chat);
  const payload = ctx.match.trim();
  if (payload === "") {
    await accounts.upsert(profile);
    await ctx.reply(ctx.t("start_greeting", { name: ctx.from.first_name }));
    return;
  }
  const token = LINK_PAYLOAD.exec(payload)?.[1];
  const updateId = ctx.update.update_id;
  const current = token === undefined ? undefined : (await accounts.find(ctx.from.id))?.web_user_id;
  const next = token === undefined || !current ? undefined : await linkTokens.peek(token, { telegramUserId: ctx.from.id, updateId });
  if (current && next !== undefined && String(next) !== current) {
    await accounts.upsert(profile);
    const keyboard = new InlineKeyboard()
      .text(ctx.t("link_replace_yes", { next }), `link:replace:${token}`)
      .text(ctx.t("link_replace_no", { current }), KEEP_LINK);
    await ctx.reply(ctx.t("link_replace_confirm", { current, next }), { reply_markup: keyboard });
    return;
  }
  if (token === undefined || (await redeemAndLink(ctx.services, profile, token, updateId)) === undefined) {
    await accounts.upsert(profile);
    await ctx.reply(ctx.t("link_invalid"));
    return;
  }
  await ctx.reply(ctx.t("link_success"));
});

privateChat.callbackQuery(REPLACE_LINK, async (ctx) => {
  const webUserId = await redeemAndLink(ctx.services, profileOf(ctx.from, ctx.chat), ctx.match[1] ?? "", ctx.update.update_id);
  await ctx.answerCallbackQuery();
  await ctx.editMessageText(webUserId === undefined ? ctx.t("link_invalid") : ctx.t("link_replaced", { webUserId }));
});

privateChat.callbackQuery(KEEP_LINK, async (ctx) => {
  // The token is left alone: it stays usable until it expires.
  const current = (await ctx.services.accounts.find(ctx.from.id))?.web_user_id;
  await ctx.answerCallbackQuery();
  await ctx.editMessageText(current ? ctx.t("link_kept", { webUserId: current }) : ctx.t("nothing_changed"));
});
