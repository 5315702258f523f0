import type { Api } from "grammy";
import type { WebhookInfo } from "grammy/types";
import { ALLOWED_UPDATES } from "../src/bot/allowed-updates.js";
import { COMMANDS } from "../src/bot/commands.js";
import { DEFAULT_LOCALE, LOCALES, translate } from "../src/bot/i18n/index.js";
import { readVariable } from "../src/config.js";
import { CliError, createProgram, loadDevVars, runProgram, wholeNumber } from "./lib/cli.js";
import { botApiFromEnv } from "./lib/telegram.js";

/** Ports Telegram delivers webhooks to. */
const WEBHOOK_PORTS = new Set(["443", "80", "88", "8443"]);
/** webhook:info fails when Telegram reported a delivery error more recently than this. */
const RECENT_ERROR_SECONDS = 60 * 60;

/**
 * The webhook URL from the environment, checked the way Telegram will check it and normalised the way
 * `set` registers it (so `info` compares like with like); undefined when unset.
 */
function webhookUrl(): string | undefined {
  const raw = readVariable(process.env, "TELEGRAM_WEBHOOK_URL");
  if (raw === undefined) return undefined;
  const url = new URL(raw);
  if (url.protocol !== "https:") throw new CliError("TELEGRAM_WEBHOOK_URL must be https");
  if (!WEBHOOK_PORTS.has(url.port || "443")) throw new CliError("TELEGRAM_WEBHOOK_URL port must be 443, 80, 88 or 8443");
  return url.href;
}

async function registerCommands(api: Api): Promise<void> {
  for (const locale of LOCALES) {
    const commands = COMMANDS.map(({ command, description }) => ({ command, description: translate(locale, description) }));
    await api.setMyCommands(commands, locale === DEFAULT_LOCALE ? {} : { language_code: locale });
  }
}

function sameUpdates(actual: readonly string[] | undefined): boolean {
  return JSON.stringify([...(actual ?? [])].sort()) === JSON.stringify([...ALLOWED_UPDATES].sort());
}

function summary(info: WebhookInfo): string[] {
  const lines = [
    `url:                  ${info.url || "(none)"}`,
    `pending updates:      ${info.pending_update_count}`,
    `max connections:      ${info.max_connections ?? "-"}`,
    `allowed updates:      ${(info.allowed_updates ?? []).join(", ") || "(all but chat_member etc.)"}`,
  ];
  if (info.last_error_date !== undefined) {
    lines.push(`last error:           ${new Date(info.last_error_date * 1000).toISOString()} ${info.last_error_message ?? ""}`);
  }
  return lines;
}

const program = createProgram("webhook", "Register, inspect and delete the bot's Telegram webhook.").hook("preAction", () => {
  loadDevVars();
});

program
  .command("set")
  .description("setWebhook with TELEGRAM_WEBHOOK_URL and the secret, setMyCommands, then verify with getWebhookInfo")
  .option("--max-connections <n>", "parallel connections Telegram may open (1-100)", wholeNumber(1, 100), 40)
  .option("--keep-pending", "keep updates that queued up while no webhook was set (default: drop them)")
  .action(async (options: { maxConnections: number; keepPending?: boolean }) => {
    const { maxConnections } = options;
    const url = webhookUrl();
    if (url === undefined) throw new CliError("TELEGRAM_WEBHOOK_URL is missing");
    const secret = readVariable(process.env, "TELEGRAM_WEBHOOK_SECRET");
    const api = botApiFromEnv();
    const me = await api.getMe();
    await api.setWebhook(url, {
      secret_token: secret,
      allowed_updates: [...ALLOWED_UPDATES],
      max_connections: maxConnections,
      drop_pending_updates: !options.keepPending,
    });
    await registerCommands(api);
    const info = await api.getWebhookInfo();
    if (info.url !== url) throw new CliError(`Telegram reports webhook ${info.url || "(none)"}, not ${url}`);
    if (!sameUpdates(info.allowed_updates)) {
      throw new CliError(`Telegram reports allowed_updates ${JSON.stringify(info.allowed_updates)}, not ${JSON.stringify(ALLOWED_UPDATES)}`);
    }
    console.log(`webhook set for @${me.username}: ${url}`);
    console.log(`allowed updates: ${ALLOWED_UPDATES.join(", ")}; max connections: ${maxConnections}; pending updates ${options.keepPending ? "kept" : "dropped"}`);
    console.log(`commands registered: ${COMMANDS.map((c) => `/${c.command}`).join(" ")} (${LOCALES.join(", ")})`);
    console.log("\nStore this as TELEGRAM_BOT_INFO (saves a getMe per Worker isolate):");
    console.log(JSON.stringify(me));
  });

program
  .command("info")
  .description("show getWebhookInfo; exit 1 when no webhook is set, the URL differs, or Telegram reported an error in the last hour")
  .option("--json", "print Telegram's answer as JSON")
  .action(async (options: { json?: boolean }) => {
    const info = await botApiFromEnv().getWebhookInfo();
    console.log(options.json ? JSON.stringify(info, null, 2) : summary(info).join("\n"));
    const expected = webhookUrl();
    if (!info.url) throw new CliError("no webhook is set");
    if (expected !== undefined && info.url !== expected) throw new CliError(`webhook is ${info.url}, expected ${expected}`);
    if (info.last_error_date !== undefined && Date.now() / 1000 - info.last_error_date < RECENT_ERROR_SECONDS) {
      throw new CliError(`Telegram reported a delivery error within the last hour: ${info.last_error_message ?? "(no message)"}`);
    }
  });

program
  .command("delete")
  .description("deleteWebhook (rollback: then run `npm run polling`)")
  .option("--drop-pending", "also drop the updates waiting for delivery")
  .action(async (options: { dropPending?: boolean }) => {
    await botApiFromEnv().deleteWebhook({ drop_pending_updates: Boolean(options.dropPending) });
    console.log(`webhook deleted${options.dropPending ? "; pending updates dropped" : "; pending updates kept for polling"}`);
  });

await runProgram(program);
