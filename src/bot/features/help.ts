import { Composer } from "grammy";
import { COMMANDS } from "../commands.js";
import type { BotContext } from "../context.js";

/** /help lists the commands (the same list set-webhook registers with setMyCommands). */
export const help = new Composer<BotContext>();

help.command("help", async (ctx) => {
  const commands = COMMANDS.map(({ command, description }) => `/${command} — ${ctx.t(description)}`).join("\n");
  await ctx.reply(ctx.t("help", { commands }));
});
