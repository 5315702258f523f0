import type { Command } from "commander";
import { GrammyError } from "grammy";
import { callWebhookReply } from "../src/bot/response-replies.js";
import { createRedis, type Redis } from "../src/clients/redis.js";
import { readVariable } from "../src/config.js";
import { DependencyError } from "../src/lib/errors.js";
import { FailedUpdateStore, type FailedUpdateRecord } from "../src/webhook/failed-updates.js";
import { forgetHandledUpdate } from "../src/webhook/update-ledger.js";
import { CliError, createProgram, keepPasswordsSecret, loadDevVars, redact, runProgram, wholeNumber } from "./lib/cli.js";
import { useDevSession } from "./lib/dev-session.js";
import { LOCAL_DEFAULTS, startLocalServices, type LocalServices } from "./lib/local-services.js";
import { botApiFromEnv } from "./lib/telegram.js";

const SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token";
/** About how long Telegram waits for a webhook answer. */
const REPLAY_TIMEOUT_MS = 60_000;
/** An operator can wait longer for one Redis command than a webhook request may (REDIS_TIMEOUT_MS). */
const REDIS_TIMEOUT_MS = 10_000;

interface Upstash {
  redis: Redis;
  store: FailedUpdateStore;
  /** Where the records are read, for messages. */
  url: string;
}

let local: LocalServices | undefined;

/**
 * The configured Upstash (the environment, .dev.vars, a running `npm run dev`), or a local gateway over
 * `--redis-url` when nothing is configured.
 */
async function upstash(program: Command): Promise<Upstash> {
  loadDevVars();
  const session = useDevSession();
  // Failures kept in a running `npm run dev`'s Redis came from its Worker: a replay goes back there.
  if (session?.vars.UPSTASH_REDIS_REST_URL !== undefined && process.env.UPSTASH_REDIS_REST_URL === session.vars.UPSTASH_REDIS_REST_URL) {
    process.env.TELEGRAM_WEBHOOK_URL ||= `${session.worker}/bot/webhook/`;
  }
  if (!process.env.UPSTASH_REDIS_REST_URL) {
    const { redisUrl } = program.opts<{ redisUrl: string }>();
    keepPasswordsSecret(redisUrl);
    local = await startLocalServices(process.env, { ...LOCAL_DEFAULTS, redisUrl, only: ["redis"] });
    process.env.UPSTASH_REDIS_REST_URL = local.vars.UPSTASH_REDIS_REST_URL;
    process.env.UPSTASH_REDIS_REST_TOKEN = local.vars.UPSTASH_REDIS_REST_TOKEN;
  }
  const url = readVariable(process.env, "UPSTASH_REDIS_REST_URL");
  const redis = createRedis({ url, token: readVariable(process.env, "UPSTASH_REDIS_REST_TOKEN"), timeoutMs: REDIS_TIMEOUT_MS });
  const retentionSeconds = readVariable(process.env, "FAILED_UPDATES_RETENTION_DAYS") * 24 * 60 * 60;
  return { redis, store: new FailedUpdateStore(redis, retentionSeconds), url };
}

/** Runs `work` against Upstash; an Upstash it cannot reach is one line naming it. */
async function withUpstash(program: Command, work: (upstash: Upstash) => Promise<void>): Promise<void> {
  const connection = await upstash(program);
  try {
    await work(connection);
  } catch (error) {
    if (error instanceof DependencyError) throw new CliError(`cannot use Upstash at ${connection.url}: ${error.message}`);
    throw error;
  } finally {
    await local?.close();
  }
}

function age(failedAt: string): string {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(failedAt)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 2 * 3600) return `${Math.round(seconds / 60)}m`;
  if (seconds < 2 * 86400) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

function errorOf(record: FailedUpdateRecord): string {
  const line = `${record.error_name}: ${record.error_message}`.split("\n", 1)[0] ?? "";
  return line.length > 120 ? `${line.slice(0, 119)}…` : line;
}

/** The columns of `list`, padded; the last one runs free. */
function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join("  ")).join("\n");
}

async function record(store: FailedUpdateStore, updateId: number): Promise<FailedUpdateRecord> {
  const found = await store.get(updateId);
  if (found === undefined) throw new CliError(`no failed update ${updateId} (never kept, dropped, or past its retention)`);
  return found;
}

/**
 * What the Worker's answer to a replay means; throws a one-line CliError for anything but "handled".
 * @returns the Bot API call the answer carries (a webhook reply), if any.
 */
function outcomeOf(status: number, body: string): { method: string; [param: string]: unknown } | undefined {
  let json: { error?: string; dependency?: string; method?: unknown } = {};
  try {
    json = JSON.parse(body) as typeof json;
  } catch {
    // an empty 200, or not JSON: the status says it all
  }
  if (status === 200) return typeof json.method === "string" ? (json as { method: string }) : undefined;
  if (status === 401) throw new CliError("the Worker refused the webhook secret (401): TELEGRAM_WEBHOOK_SECRET differs from the Worker's");
  if (status === 503 && json.error === "update_in_progress") throw new CliError("another delivery of this update is being handled right now (503); try again shortly");
  if (status === 503) {
    throw new CliError(`the Worker could not handle it (503 ${json.error ?? ""}${json.dependency ? `, ${json.dependency}` : ""}); it stays in the failed list`);
  }
  throw new CliError(`the Worker answered ${status}${json.error ? ` ${json.error}` : ""}; it stays in the failed list`);
}

/** Makes the call a webhook answer carried, as Telegram would. @throws CliError when it cannot. */
async function sendWebhookReply(updateId: number, reply: { method: string; [param: string]: unknown }): Promise<void> {
  const notSent = `update ${updateId} was handled, but its webhook reply (${reply.method}) was not sent`;
  if (!process.env.TELEGRAM_BOT_TOKEN) throw new CliError(`${notSent}: TELEGRAM_BOT_TOKEN is not set; the record is kept`);
  try {
    await callWebhookReply(botApiFromEnv(), reply);
  } catch (error) {
    const why = error instanceof GrammyError ? `${error.error_code} ${error.description}` : error instanceof CliError ? error.message : String(error);
    throw new CliError(`${notSent}: ${why}; the record is kept`);
  }
}

const program = createProgram(
  "failed",
  "Inspect, replay and drop the updates the Worker kept as failed (in the configured Upstash; with none configured, a running `npm run dev`'s or the local Redis).",
).option("--redis-url <url>", "the local Redis to read when no Upstash is configured", LOCAL_DEFAULTS.redisUrl);

program
  .command("list")
  .description("the kept failed updates, newest first: id, type, age and error")
  .action(() =>
    withUpstash(program, async ({ store }) => {
      const records = await store.list();
      if (records.length === 0) return console.log("no failed updates");
      const rows = records.map((r) => [String(r.update_id), r.update_type, age(r.failed_at), `${errorOf(r)}${r.update === undefined ? "  [excerpt only: cannot be replayed]" : ""}`]);
      console.log(redact(table([["update_id", "type", "age", "error"], ...rows])));
    }),
  );

program
  .command("show")
  .description("one failed update's record as JSON: the update, its error and stack")
  .argument("<update_id>", "the update's id", wholeNumber(0))
  .action((updateId: number) =>
    withUpstash(program, async ({ store }) => {
      console.log(redact(JSON.stringify(await record(store, updateId), null, 2)));
    }),
  );

program
  .command("replay")
  .description(
    "clear the update's done mark and send it to the Worker's webhook again (TELEGRAM_WEBHOOK_URL, with TELEGRAM_WEBHOOK_SECRET), carrying out its webhook reply as Telegram would (TELEGRAM_BOT_TOKEN); drops the record once it is handled",
  )
  .argument("<update_id>", "the update's id", wholeNumber(0))
  .action((updateId: number) =>
    withUpstash(program, async ({ redis, store }) => {
      const kept = await record(store, updateId);
      if (kept.update === undefined) {
        throw new CliError(`update ${updateId} cannot be replayed: its JSON was over 8 KiB, so only an excerpt was kept (see \`show\`)`);
      }
      const webhookUrl = readVariable(process.env, "TELEGRAM_WEBHOOK_URL");
      if (webhookUrl === undefined) throw new CliError("TELEGRAM_WEBHOOK_URL is not set and no `npm run dev` runs in this directory: nowhere to replay to");
      const secret = readVariable(process.env, "TELEGRAM_WEBHOOK_SECRET");
      await forgetHandledUpdate(redis, updateId);
      const response = await fetch(webhookUrl, {
        method: "POST",
        headers: { "content-type": "application/json", [SECRET_HEADER]: secret },
        body: JSON.stringify(kept.update),
        signal: AbortSignal.timeout(REPLAY_TIMEOUT_MS),
      }).catch((error: unknown) => {
        const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
        throw new CliError(`cannot reach the Worker at ${new URL(webhookUrl).origin}: ${cause}`);
      });
      const reply = outcomeOf(response.status, await response.text());
      const after = await store.get(updateId);
      if (after !== undefined && after.failed_at !== kept.failed_at) throw new CliError(`update ${updateId} failed again: ${errorOf(after)}`);
      // Telegram carries out the Bot API call a webhook answer holds; here the replay stands in for Telegram.
      if (reply !== undefined) await sendWebhookReply(updateId, reply);
      await store.drop(updateId);
      const sent = reply === undefined ? "" : `; its webhook reply (${reply.method}) sent to the Bot API`;
      console.log(`update ${updateId} replayed to ${webhookUrl}: handled (200)${sent}; its failed-update record is dropped`);
    }),
  );

program
  .command("drop")
  .description("forget one failed update")
  .argument("<update_id>", "the update's id", wholeNumber(0))
  .action((updateId: number) =>
    withUpstash(program, async ({ store }) => {
      if (!(await store.drop(updateId))) throw new CliError(`no failed update ${updateId}`);
      console.log(`dropped failed update ${updateId}`);
    }),
  );

await runProgram(program);
