import type { Context, SessionFlavor } from "grammy";
import type { AccountRepository } from "../data/accounts.js";
import type { LinkTokenStore } from "../data/link-tokens.js";
import type { Logger } from "../lib/logger.js";
import type { Locale, MessageKey } from "./i18n/index.js";

/** What the bot keeps per chat in Redis. */
export interface SessionData {
  /** The language picked with /language; unset means "follow Telegram's language_code". */
  language?: Locale;
}

/** Services the handlers use; the same in the Worker and the polling script. */
export interface BotServices {
  accounts: AccountRepository;
  linkTokens: LinkTokenStore;
  logger: Logger;
}

/** Adds the chosen locale and a translator to the context. */
export interface I18nFlavor {
  locale: Locale;
  t(key: MessageKey, params?: Record<string, string | number>): string;
}

/** The context every handler sees. */
export type BotContext = Context & SessionFlavor<SessionData> & I18nFlavor & { services: BotServices };
