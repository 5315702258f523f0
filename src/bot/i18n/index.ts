import { en, type MessageKey } from "./en.js";
import { ru } from "./ru.js";
import { uz } from "./uz.js";

/** Languages the bot speaks. */
export const LOCALES = ["uz", "ru", "en"] as const;
export type Locale = (typeof LOCALES)[number];
/** The language of MTT Pro's users when Telegram tells us nothing we speak. */
export const DEFAULT_LOCALE: Locale = "uz";

const catalogs: Record<Locale, Record<MessageKey, string>> = { uz, ru, en };

/** Narrows a Telegram `language_code` (e.g. "ru", "en-US") to a locale we speak. */
export function toLocale(code: string | undefined): Locale | undefined {
  const base = code?.slice(0, 2).toLowerCase();
  return LOCALES.find((locale) => locale === base);
}

/** Returns the message in the locale with `{placeholders}` filled in. */
export function translate(locale: Locale, key: MessageKey, params: Record<string, string | number> = {}): string {
  return catalogs[locale][key].replace(/\{(\w+)\}/g, (match, name: string) => String(params[name] ?? match));
}

export type { MessageKey };
