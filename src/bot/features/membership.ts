import { Composer } from "grammy";
import type { BotContext } from "../context.js";
import { profileOf } from "../profile.js";

/** Follows the user blocking (status "kicked") or unblocking the bot in a private chat. */
export const membership = new Composer<BotContext>();

membership.chatType("private").on("my_chat_member", async (ctx) => {
  const blocked = ctx.myChatMember.new_chat_member.status === "kicked";
  await ctx.services.accounts.upsert(profileOf(ctx.from, ctx.chat), { blocked });
});
