import { Composer } from "grammy";
import type { BotContext } from "../context.js";
import { profileOf } from "../profile.js";

const LINK_PAYLOAD = /^link_([A-Za-z0-9_-]{16,64})$/;

/** /start greets and records the account; /start link_<token> also links it to a web account. */
export const start = new Composer<BotContext>();

start.chatType("private").command("start", async (ctx) => {
  const { accounts, linkTokens } = ctx.services;
  const profile = profileOf(ctx.from, ctx.chat);
  const payload = ctx.match.trim();
  if (payload === "") {
    await accounts.upsert(profile);
    await ctx.reply(ctx.t("start_greeting", { name: ctx.from.first_name }));
    return;
  }
  const token = LINK_PAYLOAD.exec(payload)?.[1];
  // A redelivery of this update may redeem the token again, so a failure below does not lose the link.
  const redeemer = { telegramUserId: ctx.from.id, updateId: ctx.update.update_id };
  const webUserId = token === undefined ? undefined : await linkTokens.redeem(token, redeemer);
  if (webUserId === undefined) {
    await accounts.upsert(profile);
    await ctx.reply(ctx.t("link_invalid"));
    return;
  }
  await accounts.upsertAndLink(profile, webUserId);
  await ctx.reply(ctx.t("link_success"));
});
