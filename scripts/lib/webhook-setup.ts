import type { Api } from "grammy";
import type { UserFromGetMe } from "grammy/types";
import { ALLOWED_UPDATES } from "../../src/bot/allowed-updates.js";
import { COMMANDS } from "../../src/bot/commands.js";
import { DEFAULT_LOCALE, LOCALES, translate } from "../../src/bot/i18n/index.js";
import { CliError } from "./cli.js";

/** The bot's command menu in every locale (the default one without a language code). */
async function registerCommands(api: Api): Promise<void> {
  for (const locale of LOCALES) {
    const commands = COMMANDS.map(({ command, description }) => ({ command, description: translate(locale, description) }));
    await api.setMyCommands(commands, locale === DEFAULT_LOCALE ? {} : { language_code: locale });
  }
}

function sameUpdates(actual: readonly string[] | undefined): boolean {
  return JSON.stringify([...(actual ?? [])].sort()) === JSON.stringify([...ALLOWED_UPDATES].sort());
}

/** How a webhook is set. */
export interface WebhookSettings {
  url: string;
  secret: string;
  maxConnections: number;
  /** Drop the updates that queued up while no webhook was set. */
  dropPending: boolean;
}

/**
 * `setWebhook` with the bot's `allowed_updates`, `setMyCommands` per locale, then `getWebhookInfo` to
 * check that Telegram took both (what `npm run set-webhook` does, and `npm run dev` on its double).
 * @returns the bot, from `getMe`.
 * @throws CliError when Telegram reports another URL or other updates than were set.
 */
export async function setUpWebhook(api: Api, settings: WebhookSettings): Promise<UserFromGetMe> {
  const me = await api.getMe();
  await api.setWebhook(settings.url, {
    secret_token: settings.secret,
    allowed_updates: [...ALLOWED_UPDATES],
    max_connections: settings.maxConnections,
    drop_pending_updates: settings.dropPending,
  });
  await registerCommands(api);
  const info = await api.getWebhookInfo();
  if (info.url !== settings.url) throw new CliError(`Telegram reports webhook ${info.url || "(none)"}, not ${settings.url}`);
  if (!sameUpdates(info.allowed_updates)) {
    throw new CliError(`Telegram reports allowed_updates ${JSON.stringify(info.allowed_updates)}, not ${JSON.stringify(ALLOWED_UPDATES)}`);
  }
  return me;
}
