import type { WebhookInfo } from "grammy/types";
import { ALLOWED_UPDATES } from "../src/bot/allowed-updates.js";
import { COMMANDS } from "../src/bot/commands.js";
import { LOCALES } from "../src/bot/i18n/index.js";
import { readVariable } from "../src/config.js";
import { isLoopbackUrl } from "./local/loopback.js";
import { CliError, createProgram, loadDevVars, runProgram, wholeNumber } from "./lib/cli.js";
import { useDevSession } from "./lib/dev-session.js";
import { botApiFromEnv } from "./lib/telegram.js";
import { setUpWebhook } from "./lib/webhook-setup.js";

/** Ports Telegram delivers webhooks to. */
const WEBHOOK_PORTS = new Set(["443", "80", "88", "8443"]);
/** webhook:info fails when Telegram reported a delivery error more recently than this. */
const RECENT_ERROR_SECONDS = 60 * 60;

/**
 * The webhook URL from the environment, checked the way Telegram will check it and normalised the way
 * `set` registers it (so `info` compares like with like); undefined when unset. A Bot API on this
 * machine (the double of `npm run dev`, or `telegram-bot-api --local`) also takes a plain-http address on
 * this machine and any port, which Telegram itself refuses.
 */
function webhookUrl(): string | undefined {
  const raw = readVariable(process.env, "TELEGRAM_WEBHOOK_URL");
  if (raw === undefined) return undefined;
  const url = new URL(raw);
  if (isLoopbackUrl(url) && isLoopbackUrl(new URL(readVariable(process.env, "TELEGRAM_API_ROOT")))) return url.href;
  if (url.protocol !== "https:") throw new CliError("TELEGRAM_WEBHOOK_URL must be https");
  if (!WEBHOOK_PORTS.has(url.port || "443")) throw new CliError("TELEGRAM_WEBHOOK_URL port must be 443, 80, 88 or 8443");
  return url.href;
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

const program = createProgram(
  "webhook",
  "Register, inspect and delete the bot's Telegram webhook. With no bot token set, while `npm run dev` runs in this directory: the webhook of its local Bot API double.",
).hook("preAction", () => {
  loadDevVars();
  useDevSession();
  if (!process.env.TELEGRAM_BOT_TOKEN) {
    throw new CliError(
      "TELEGRAM_BOT_TOKEN is not set and no `npm run dev` runs in this directory: start `npm run dev` (its local Bot API double) or set TELEGRAM_BOT_TOKEN in .dev.vars",
    );
  }
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
    const me = await setUpWebhook(botApiFromEnv(), { url, secret, maxConnections, dropPending: !options.keepPending });
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
