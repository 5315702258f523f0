// The Worker and `npm run polling` run the same bot: one conversation, played once through the deployed
// bundle in workerd (webhook) and once through the polling script (getUpdates), must make the same Bot API
// calls and leave the same rows and sessions behind. A handler registered in only one of them shows here.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Update } from "grammy/types";
import { Redis as IORedis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordedCall } from "../../../scripts/local/bot-api-double.js";
import { startLocalServices, type LocalServices } from "../../../scripts/lib/local-services.js";
import { ALLOWED_UPDATES } from "../../../src/bot/allowed-updates.js";
import { buildWorkerBundle, runWorkerBundle, type RunningWorker } from "../../../scripts/lib/worker-bundle.js";
import { startEarlyInMinute } from "../../worker/rate-window.js";
import { cleanUp, createDatabase, dropDatabase, query, SAMPLES, startScript, TOKEN, waitFor } from "./run-script.js";

const DATABASE = `mtt_bot_parity_test_${process.pid}`;
/** A Redis database of its own (polling tests use 11, worker tests 15, development 0). */
const REDIS_URL = "redis://127.0.0.1:6379/10";
const UPSTASH_TOKEN = "parity-test-upstash-token";
const WEBHOOK_SECRET = "parity-test-webhook-secret";
const INTERNAL_TOKEN = "parity-test-internal-token";
/** The web account both Telegram users link to, and the one they are then asked to move the link to. */
const WEB_USER_ID = 4242;
const NEXT_WEB_USER_ID = 4343;
/** The samples' user, chat and callback ids, replaced per run. */
const SAMPLE_USER = 123456789;
const SAMPLE_GROUP = -1001234567890;

/** Who talks to the bot in one run: distinct per run, so both runs share the services without mixing. */
interface Speaker {
  user: number;
  group: number;
  /** Prefix of callback query ids. */
  callbacks: string;
  /** Link tokens issued for the run, by their placeholder in STEPS. */
  tokens: Map<string, string>;
}
const viaWorker: Speaker = { user: 710000001, group: -1007100000001, callbacks: "worker", tokens: new Map() };
const viaPolling: Speaker = { user: 720000001, group: -1007200000001, callbacks: "polling", tokens: new Map() };

let local: LocalServices;
let databaseUrl: string;
let worker: RunningWorker;
let bundleDir: string;
const samples = new Map<string, unknown>();

const common = (): Record<string, string> => ({
  UPSTASH_REDIS_REST_URL: local.vars.UPSTASH_REDIS_REST_URL ?? "",
  UPSTASH_REDIS_REST_TOKEN: UPSTASH_TOKEN,
  DATABASE_URL: local.vars.DATABASE_URL ?? "",
  NEON_HTTP_ENDPOINT: local.vars.NEON_HTTP_ENDPOINT ?? "",
  TELEGRAM_BOT_TOKEN: TOKEN,
  TELEGRAM_API_ROOT: local.vars.TELEGRAM_API_ROOT ?? "",
  TELEGRAM_BOT_INFO: local.vars.TELEGRAM_BOT_INFO ?? "",
  RATE_LIMIT_PER_MINUTE,
});

async function control<T>(path: string, method: string, body?: unknown): Promise<T> {
  const response = await fetch(`${local.vars.TELEGRAM_API_ROOT}/__control/${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
  });
  expect(response.status, path).toBe(200);
  return (await response.json()) as T;
}

/** A sample of test/fixtures/telegram moved to the speaker's ids, with its own update_id. */
function fromSample(name: string, speaker: Speaker, updateId: number, change?: (body: any) => void): Update {
  const json = JSON.stringify(samples.get(name))
    .replaceAll(String(SAMPLE_GROUP), String(speaker.group))
    .replaceAll(String(SAMPLE_USER), String(speaker.user));
  const update = JSON.parse(json) as Update & Record<string, any>;
  update.update_id = updateId;
  if (update.callback_query) update.callback_query.id = `${speaker.callbacks}-${updateId}`;
  change?.(Object.values(update).find((value) => typeof value === "object"));
  return update;
}

const text = (value: string) => (message: any) => {
  message.text = value;
  const command = /^\/\w+(@\w+)?/.exec(value)?.[0];
  message.entities = command ? [{ offset: 0, length: command.length, type: "bot_command" }] : undefined;
};
const callbackData = (data: string) => (query: any) => void (query.data = data);
const memberStatus = (status: string) => (member: any) => {
  member.old_chat_member.status = member.new_chat_member.status;
  member.new_chat_member.status = status;
  delete member.new_chat_member.until_date;
};

/** Every handler's way in, in the order a user could go: the samples plus the rest of the features. */
const STEPS: [sample: string, change?: (body: any) => void][] = [
  ["message_start"],
  ["message_help"],
  ["message_text", text("/me")],
  ["message_text", text("/language")],
  ["callback_query"],
  ["message_text"],
  ["message_photo"],
  ["edited_message"],
  ["group_command"],
  ["group_command", text("hello everyone")],
  ["message_text", text("/nonsense")],
  ["message_start_deeplink"],
  ["message_text", text("/start link_<token>")],
  ["message_text", text("/me")],
  // A link for another web account asks first; keeping is answered, then replacing moves the link.
  ["message_text", text("/start link_<next-token>")],
  ["callback_query", callbackData("link:keep")],
  ["callback_query", callbackData("link:replace:<next-token>")],
  ["message_text", text("/me")],
  ["message_text", text("/unlink")],
  ["callback_query", callbackData("unlink:yes")],
  ["callback_query", callbackData("lang:en")],
  ["message_text", text("/me")],
  ["my_chat_member_kicked"],
  ["my_chat_member_kicked", memberStatus("member")],
  ["my_chat_member_kicked"],
  // Over the rate limit: told once, then silence.
  ["message_help"],
  ["message_help"],
];
/**
 * The limit the steps before the last two use up: all but the edited message (not subscribed to), the
 * unaddressed group message and the member changes.
 */
const RATE_LIMIT_PER_MINUTE = String(STEPS.length - 2 - 1 - 1 - 3);

/** The text with each token placeholder replaced by the run's token, or the other way round. */
function withTokens(value: string, speaker: Speaker, direction: "fill" | "normalise"): string {
  let result = value;
  for (const [placeholder, token] of speaker.tokens) {
    result = direction === "fill" ? result.replaceAll(placeholder, token) : result.replaceAll(token, placeholder);
  }
  return result;
}

function conversation(speaker: Speaker, firstUpdateId: number): Update[] {
  return STEPS.map(([name, change], index) =>
    fromSample(name, speaker, firstUpdateId + index, (body) => {
      change?.(body);
      for (const field of ["text", "data"]) {
        if (typeof body[field] === "string") body[field] = withTokens(body[field], speaker, "fill");
      }
    }),
  );
}

/** A Bot API call with the run's own ids replaced, so two runs can be compared. */
function normalised(call: { method: string; params: Record<string, unknown> }, speaker: Speaker): string {
  return withTokens(`${call.method} ${JSON.stringify(call.params)}`, speaker, "normalise")
    .replaceAll(String(speaker.group), "<group>")
    .replaceAll(String(speaker.user), "<user>")
    .replaceAll(`${speaker.callbacks}-`, "<callback>-")
    .replace(/"<callback>-\d+"/g, '"<callback>"');
}

function concerns(call: { params: Record<string, unknown> }, speaker: Speaker): boolean {
  const chat = String(call.params.chat_id);
  return chat === String(speaker.user) || chat === String(speaker.group) || String(call.params.callback_query_id).startsWith(`${speaker.callbacks}-`);
}

async function issueLinkToken(webUserId: number): Promise<string> {
  const response = await fetch(`${worker.origin}/bot/internal/link-tokens`, {
    method: "POST",
    headers: { Authorization: `Bearer ${INTERNAL_TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify({ user_id: webUserId }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { token: string }).token;
}

async function issueTokensFor(speaker: Speaker): Promise<void> {
  speaker.tokens.set("<next-token>", await issueLinkToken(NEXT_WEB_USER_ID));
  speaker.tokens.set("<token>", await issueLinkToken(WEB_USER_ID));
}

/** What the speaker's conversation left behind: the account row (ids aside) and the sessions. */
async function stateOf(speaker: Speaker) {
  const accounts = await query(
    databaseUrl,
    `SELECT chat_id = telegram_user_id AS private_chat, username, first_name, last_name, language_code,
            web_user_id, linked_at IS NULL AS never_linked, is_blocked
       FROM telegram_accounts WHERE telegram_user_id = $1`,
    [speaker.user],
  );
  const redis = new IORedis(REDIS_URL);
  try {
    const sessions = await Promise.all([speaker.user, speaker.group].map((chat) => redis.get(`bot:session:${chat}`)));
    return { accounts, sessions };
  } finally {
    redis.disconnect();
  }
}

beforeAll(async () => {
  for (const name of ["message_start", "message_help", "message_text", "callback_query", "message_photo", "edited_message", "group_command", "message_start_deeplink", "my_chat_member_kicked"]) {
    samples.set(name, JSON.parse(await readFile(new URL(`${name}.json`, SAMPLES), "utf8")));
  }
  bundleDir = await mkdtemp(join(tmpdir(), "mtt-bot-parity-"));
  const redis = new IORedis(REDIS_URL);
  await redis.flushdb();
  redis.disconnect();
  const [bundle, url] = await Promise.all([buildWorkerBundle(bundleDir), createDatabase(DATABASE)]);
  databaseUrl = url;
  local = await startLocalServices(
    {},
    { redisUrl: REDIS_URL, postgresUrl: databaseUrl, upstashToken: UPSTASH_TOKEN, botToken: TOKEN, ports: { redis: 0, neon: 0, botApi: 0 } },
  );
  worker = await runWorkerBundle({
    name: "mtt-pro-bot",
    bundlePath: bundle.path,
    bindings: { ...common(), TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET, BOT_INTERNAL_API_TOKEN: INTERNAL_TOKEN },
  });
}, 120_000);

afterAll(async () => {
  await cleanUp();
  await worker?.dispose();
  await local?.close();
  await dropDatabase(DATABASE);
  await rm(bundleDir, { recursive: true, force: true });
});

describe("the Worker and the polling script", () => {
  it("answer the same conversation with the same Bot API calls, rows and sessions", async () => {
    // Both runs count up to the rate limit within one minute.
    await startEarlyInMinute(10_000);
    // Through the Worker: each update POSTed as Telegram does; a webhook reply counts as a call.
    // Telegram sends a webhook only the types set-webhook subscribed to, as the double's getUpdates does.
    const subscribed = new Set<string>(ALLOWED_UPDATES);
    await Promise.all([issueTokensFor(viaWorker), issueTokensFor(viaPolling)]);
    const workerUpdates = conversation(viaWorker, 30_000_001).filter((update) =>
      Object.keys(update).every((key) => key === "update_id" || subscribed.has(key)),
    );
    const webhookReplies: { method: string; params: Record<string, unknown>; at: number }[] = [];
    for (const update of workerUpdates) {
      const response = await fetch(`${worker.origin}/bot/webhook/`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET },
        body: JSON.stringify(update),
      });
      expect(response.status, `update ${update.update_id}`).toBe(200);
      const body = await response.text();
      if (body !== "") {
        const { method, ...params } = JSON.parse(body) as { method: string };
        webhookReplies.push({ method, params, at: Date.now() });
      }
    }

    // Through the polling script: the same conversation served by the double's getUpdates.
    const pollingUpdates = conversation(viaPolling, 40_000_001);
    await control("updates", "POST", pollingUpdates);
    const script = await startScript("polling.ts", [], { env: common() });
    const lastId = pollingUpdates.at(-1)?.update_id ?? 0;
    await waitFor(async () => {
      const polls = await control<RecordedCall[]>("calls?method=getUpdates", "GET");
      return polls.some((call) => call.params.offset === lastId + 1);
    }, "the polling script to confirm the whole conversation", 30_000);
    script.child.kill("SIGTERM");
    expect((await script.exited).code).toBe(0);

    const recorded = await control<RecordedCall[]>("calls", "GET");
    const callsOf = (speaker: Speaker, extra: { method: string; params: Record<string, unknown>; at: number }[] = []) =>
      [...recorded.filter((call) => concerns(call, speaker)), ...extra]
        .sort((a, b) => a.at - b.at)
        .map((call) => normalised(call, speaker));
    const workerCalls = callsOf(viaWorker, webhookReplies);
    const pollingCalls = callsOf(viaPolling);
    // A webhook reply goes out with the response, after the other calls of its update: in order, the
    // other calls must match; all of them must match as a whole.
    const onResponse = new Set(webhookReplies.map((reply) => reply.method));
    const others = (calls: string[]) => calls.filter((call) => !onResponse.has(call.split(" ")[0] ?? ""));
    expect(others(pollingCalls)).toEqual(others(workerCalls));
    expect([...pollingCalls].sort()).toEqual([...workerCalls].sort());
    expect(webhookReplies.length).toBeGreaterThan(0);
    // The conversation reaches every feature that answers: start, help, account, language, fallback,
    // and in the group only the command addressed to the bot.
    expect(new Set(workerCalls.map((call) => call.split(" ")[0]))).toEqual(
      new Set(["sendMessage", "editMessageText", "answerCallbackQuery"]),
    );
    expect(workerCalls.filter((call) => call.includes("<group>"))).toHaveLength(1);
    // The question before moving a link, and the move itself.
    expect(workerCalls.filter((call) => call.includes('"callback_data":"link:replace:<next-token>"'))).toHaveLength(1);
    expect(workerCalls.filter((call) => call.startsWith("editMessageText") && call.includes(`#${NEXT_WEB_USER_ID}`))).toHaveLength(1);
    expect(await stateOf(viaPolling)).toEqual(await stateOf(viaWorker));
  }, 90_000);
});
