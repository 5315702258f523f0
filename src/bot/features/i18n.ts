import { Composer } from "grammy";
import type { BotContext } from "../context.js";
import { DEFAULT_LOCALE, toLocale, translate } from "../i18n/index.js";

/** Chooses the reply language: the one picked with /language, else Telegram's, else Uzbek. */
export const i18n = new Composer<BotContext>();

i18n.use(async (ctx, next) => {
  // Updates without a chat have no session to read.
  const chosen = ctx.chat === undefined ? undefined : ctx.session.language;
  ctx.locale = chosen ?? toLocale(ctx.from?.language_code) ?? DEFAULT_LOCALE;
  ctx.t = (key, params) => translate(ctx.locale, key, params);
  await next();
});
