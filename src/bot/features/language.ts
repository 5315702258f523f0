import { Composer, InlineKeyboard } from "grammy";
import type { BotContext } from "../context.js";
import { LOCALES, translate, type Locale } from "../i18n/index.js";

const LANGUAGE_NAMES: Record<Locale, string> = { uz: "O‘zbekcha", ru: "Русский", en: "English" };

/** /language offers uz/ru/en on an inline keyboard; the choice is kept in the session. */
export const language = new Composer<BotContext>();

language.command("language", async (ctx) => {
  const keyboard = new InlineKeyboard();
  for (const [locale, name] of Object.entries(LANGUAGE_NAMES)) keyboard.text(name, `lang:${locale}`);
  await ctx.reply(ctx.t("language_choose"), { reply_markup: keyboard });
});

language.callbackQuery(new RegExp(`^lang:(${LOCALES.join("|")})$`), async (ctx) => {
  const locale = ctx.match[1] as Locale;
  ctx.session.language = locale;
  const confirmation = translate(locale, "language_set");
  await ctx.answerCallbackQuery({ text: confirmation });
  await ctx.editMessageText(confirmation);
});
