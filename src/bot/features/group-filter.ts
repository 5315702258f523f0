import { Composer, type Context } from "grammy";
import type { BotContext } from "../context.js";

/** True for a group message that is not a command addressed to this bot by name. */
export function isUnaddressedGroupMessage(ctx: Context): boolean {
  const chatType = ctx.chat?.type;
  if ((chatType !== "group" && chatType !== "supergroup") || ctx.message === undefined) return false;
  const command = ctx.message.text?.split(/\s/, 1)[0] ?? "";
  return !command.startsWith("/") || !command.toLowerCase().endsWith(`@${ctx.me.username.toLowerCase()}`);
}

/**
 * In groups the bot only answers commands addressed to it (`/help@mtt_pro_bot`); other group
 * messages stop here, before the session, the rate limit and any handler.
 */
export const groupFilter = new Composer<BotContext>();

groupFilter.use(async function dropUnaddressedGroupMessages(ctx, next) {
  if (!isUnaddressedGroupMessage(ctx)) await next();
});
