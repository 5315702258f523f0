/**
 * Peer 2: Telegraf's webhook on Node (`bot.webhookCallback(path, { secretToken })` on http.createServer)
 * with the smallest handler set equivalent to what the benchmark sends:
 * - `/start` in a private chat: upserts the account with the same SQL (AccountRepository over the Neon
 *   HTTP driver, through the same Neon gateway) and replies the same greeting in the user's language;
 * - any other text: replies the same hint;
 * - a language button (`lang:uz|ru|en`): answers the callback query and edits the message to the same
 *   confirmation, as the bot's language feature does (no session to keep the choice in).
 * Not there (the Worker and peer 1 have them): sessions (a Redis GET per update), the group filter, the
 * i18n middleware chain, the other commands, the exactly-once ledger, the failure policy, logging.
 * Telegraf is told not to answer through the webhook response (`webhookReply: false`), as the bot does
 * not for sendMessage, so every reply is a real Bot API call to the double.
 */
import { Agent } from "node:http";
import { Telegraf } from "telegraf";
import { message } from "telegraf/filters";
import { DEFAULT_LOCALE, LOCALES, toLocale, translate, type Locale } from "../../src/bot/i18n/index.js";
import { profileOf } from "../../src/bot/profile.js";
import { createDb } from "../../src/clients/db.js";
import { parseWorkerConfig } from "../../src/config.js";
import { AccountRepository } from "../../src/data/accounts.js";
import { servePeer } from "./serve.js";

const config = parseWorkerConfig(process.env);
const accounts = new AccountRepository(createDb(config.database));
const bot = new Telegraf(config.botToken, { telegram: { apiRoot: config.apiRoot, webhookReply: false } });
// Telegraf drops its (https) keep-alive agent for an http:// API root, which would open a new connection
// per Bot API call; give it a keep-alive one, as grammY and workerd have.
(bot.telegram.options as { agent?: Agent }).agent = new Agent({ keepAlive: true });
if (config.botInfo === undefined) throw new Error("TELEGRAM_BOT_INFO is required (no getMe per process)");
bot.botInfo = config.botInfo;

const localeOf = (code: string | undefined) => toLocale(code) ?? DEFAULT_LOCALE;

bot.start(async (ctx) => {
  if (ctx.chat.type !== "private") return;
  await accounts.upsert(profileOf(ctx.from, ctx.chat));
  await ctx.reply(translate(localeOf(ctx.from.language_code), "start_greeting", { name: ctx.from.first_name }));
});
bot.on(message("text"), async (ctx) => {
  await ctx.reply(translate(localeOf(ctx.from.language_code), "hint"));
});
bot.action(new RegExp(`^lang:(${LOCALES.join("|")})$`), async (ctx) => {
  const confirmation = translate(ctx.match[1] as Locale, "language_set");
  await ctx.answerCbQuery(confirmation);
  await ctx.editMessageText(confirmation);
});

await servePeer("telegraf-node", bot.webhookCallback("/bot/webhook/", { secretToken: config.webhookSecret }));
