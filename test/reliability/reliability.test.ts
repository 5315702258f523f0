/**
 * Reliability of a real local deployment (issue 7): the `wrangler deploy --dry-run` bundle in
 * Miniflare, against the Upstash/Neon gateways over real Redis/PostgreSQL and the Bot API double.
 * Cases run in order and share the deployment; see README.md in this folder.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, expect, test } from "vitest";
import { translate, type Locale } from "../../src/bot/i18n/index.js";
import { startDeployment, type Deployment } from "./deployment.js";
import { formatSummary, newRow, type SummaryRow } from "./summary.js";
import {
  SecretScanner,
  WorkerClient,
  deliver,
  pool,
  rawRequest,
  runChatQueues,
  sendMessagesByChat,
  succeeded,
  pressUpdate,
  textUpdate,
  type Answer,
  type Attempt,
  type RecordedCall,
  type SendOptions,
  type UserSpec,
} from "./telegram.js";

// ---------------------------------------------------------------- parameters

/** Case 1: 5,000 updates, 200 chats, 50 in flight. */
const LOAD_CHATS = 200;
const LOAD_PER_CHAT = 25;
const LOAD_CONCURRENCY = 50;
/** Case 2: every 5th update is delivered twice at once; fresh updates raced the same way. */
const TWIN_EVERY = 5;
const FRESH_TWINS = 1000;
/** Case 3: a new update every this many ms while the faults come and go. */
const STREAM_INTERVAL_MS = 10;
const STREAM_MAX_IN_FLIGHT = 200;
const FAULT_MS = 3000;
/** /bot/ready's own deadline is 1.5 s; the slack covers a busy 2-core machine. */
const READY_DEADLINE_MS = 1500;
/** How long an isolate reuses a ready result: a probe after that sees the dependencies as they are now. */
const READY_REUSE_MS = 5000;
const READY_SLACK_MS = 1500;
/**
 * Telegram-like redelivery gives up after this long. An update whose claim could not be released
 * (Redis went down mid-update) waits out its lease: WEBHOOK_HANDLER_TIMEOUT_MS (25 s) + 30 s.
 */
const REDELIVER_MAX_MS = 80_000;

const LOCALES: Locale[] = ["en", "ru", "uz"];
const LOAD_UPDATE_BASE = 100_000_000;
const LOAD_USER_BASE = 710_000_000;
const TWIN_UPDATE_BASE = 200_000_000;
const TWIN_USER_BASE = 720_000_000;
const STREAM_UPDATE_BASE = 300_000_000;
const STREAM_USER_BASE = 730_000_000;
const HOSTILE_UPDATE_BASE = 400_000_000;
const HOSTILE_USER_BASE = 740_000_000;

// ---------------------------------------------------------------- shared state

let d: Deployment;
let scanner: SecretScanner;
let client: WorkerClient;
const summary: SummaryRow[] = [];
const suiteStarted = Date.now();

/** One update as Telegram sent it, and what became of it. */
interface Sent {
  updateId: number;
  chatId: number;
  update: Record<string, unknown>;
  /** The reply text the bot must send for it. */
  expected: string;
  /** For a button press: its callback query, which the bot answers (a request) before editing (on the answer). */
  callbackQueryId?: string;
  attempts: Attempt[];
  /** From the first request until the last answer. */
  start: number;
  end: number;
}

beforeAll(async () => {
  d = await startDeployment();
  scanner = new SecretScanner(d.secrets);
  client = new WorkerClient(d.url, d.secrets.TELEGRAM_WEBHOOK_SECRET, scanner, d.vars.TELEGRAM_API_ROOT ?? "", 128);
  console.log(`reliability: Worker bundle on ${d.url}, up in ${d.startupMs} ms`);
}, 180_000);

afterAll(async () => {
  try {
    console.log(`${formatSummary(summary)}\nreliability: whole suite ${((Date.now() - suiteStarted) / 1000).toFixed(1)} s`);
  } finally {
    await client?.close().catch(() => undefined);
    await d?.stop();
  }
}, 60_000);

// ---------------------------------------------------------------- helpers

async function sendMessages(): Promise<RecordedCall[]> {
  return callsOf("sendMessage");
}

async function callsOf(method: string): Promise<RecordedCall[]> {
  return d.botApi.call<RecordedCall[]>("GET", `/__control/calls?method=${method}`);
}

async function notDone(updateIds: number[]): Promise<number[]> {
  const missing: number[] = [];
  for (let i = 0; i < updateIds.length; i += 1000) {
    const batch = updateIds.slice(i, i + 1000);
    const values = await d.redis.mget(batch.map((id) => `bot:update:${id}`));
    values.forEach((value, j) => {
      if (value !== "done") missing.push(batch[j]!);
    });
  }
  return missing;
}

async function deliverSent(sent: Sent, maxMs = REDELIVER_MAX_MS): Promise<void> {
  sent.start = Date.now();
  const attempts = await deliver(client, sent.update, { redeliver: true, maxMs });
  sent.end = Date.now();
  sent.attempts.push(...attempts);
}

function greeting(locale: Locale, name: string): string {
  return translate(locale, "start_greeting", { name });
}

/** Counts per reply text: what a chat was due and what it got. */
function multisetDiff(expected: string[], actual: string[]): { lost: number; extra: number } {
  const counts = new Map<string, number>();
  for (const text of expected) counts.set(text, (counts.get(text) ?? 0) + 1);
  for (const text of actual) counts.set(text, (counts.get(text) ?? 0) - 1);
  let lost = 0;
  let extra = 0;
  for (const n of counts.values()) {
    if (n > 0) lost += n;
    else extra -= n;
  }
  return { lost, extra };
}

function statusHistogram(attempts: Attempt[]): string {
  const counts = new Map<string, number>();
  for (const a of attempts) {
    const key = a.status === 0 ? `no answer (${a.transport ?? "?"})` : `${a.status}${a.error ? ` ${a.error}` : ""}${a.dependency ? `/${a.dependency}` : ""}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${k}×${n}`).join(", ");
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function caseRow(name: string, body: (row: SummaryRow) => Promise<void>): Promise<void> {
  const row = newRow(name);
  const started = Date.now();
  try {
    await body(row);
    row.passed = true;
  } finally {
    row.seconds = (Date.now() - started) / 1000;
    summary.push(row);
  }
}

// ---------------------------------------------------------------- 1. load

/** The 5,000 updates of case 1, per chat in Telegram's order; case 2 sends them again. */
const loadQueues: Sent[][] = [];

test("1. load: 5,000 updates over 200 chats at 50 in flight, each handled once, in order per chat", async () => {
  await caseRow("1. load", async (row) => {
    for (let c = 0; c < LOAD_CHATS; c++) {
      const chatId = LOAD_USER_BASE + c;
      const queue: Sent[] = [];
      for (let k = 0; k < LOAD_PER_CHAT; k++) {
        const updateId = LOAD_UPDATE_BASE + k * LOAD_CHATS + c; // increasing within each chat, like Telegram
        const locale = LOCALES[(k + c) % LOCALES.length]!;
        const isStart = k % 5 === 0;
        // /start replies name the update (greeting with a unique first name); text replies are the hint
        // in the update's language, so the reply sequence of a chat pins down count and order.
        const user: UserSpec = { id: chatId, firstName: isStart ? `L${updateId}` : `Chat${c}`, languageCode: locale };
        const update = textUpdate(updateId, user, isStart ? "/start" : `msg ${updateId}`);
        const expected = isStart ? greeting(locale, user.firstName) : translate(locale, "hint");
        queue.push({ updateId, chatId, update, expected, attempts: [], start: 0, end: 0 });
      }
      loadQueues.push(queue);
    }
    const all = loadQueues.flat();
    row.sent = all.length;
    const before = (await sendMessages()).length;

    const started = Date.now();
    await runChatQueues(loadQueues, LOAD_CONCURRENCY, (sent) => deliverSent(sent, 30_000));
    const elapsed = (Date.now() - started) / 1000;

    const calls = (await sendMessages()).slice(before);
    const byChat = sendMessagesByChat(calls);
    const problems: string[] = [];
    for (const queue of loadQueues) {
      const chatId = queue[0]!.chatId;
      const replies = byChat.get(chatId) ?? [];
      const { lost, extra } = multisetDiff(
        queue.map((s) => s.expected),
        replies.map((r) => String(r.params.text)),
      );
      row.lost += lost;
      row.duplicated += extra;
      if (lost > 0 || extra > 0) {
        problems.push(`chat ${chatId}: ${queue.length} updates, ${replies.length} replies (${lost} missing, ${extra} extra)`);
        continue;
      }
      // Same count: the i-th reply must be the i-th update's reply and be sent while that update
      // was being delivered (the chat's deliveries do not overlap), which proves order and attribution.
      queue.forEach((sent, i) => {
        const reply = replies[i]!;
        if (reply.params.text !== sent.expected) {
          problems.push(`chat ${chatId}: reply ${i} is ${JSON.stringify(reply.params.text)}, expected ${JSON.stringify(sent.expected)} (out of order)`);
        } else if (reply.at < Math.floor(sent.start) || reply.at > Math.ceil(sent.end)) {
          problems.push(`chat ${chatId}: reply ${i} at ${reply.at} outside the delivery of update ${sent.updateId} [${sent.start}, ${sent.end}]`);
        }
      });
    }
    const missingDone = await notDone(all.map((s) => s.updateId));
    row.lost = Math.max(row.lost, missingDone.length);
    row.handled = row.sent - row.lost - row.duplicated;
    const attempts = all.flatMap((s) => s.attempts);
    row.requests = attempts.length;
    row.non2xx = attempts.filter((a) => a.status < 200 || a.status >= 300).length;
    const fiveXx = attempts.filter((a) => a.status >= 500 || a.status === 0);
    const latencies = attempts.map((a) => a.ms);
    row.notes = `${(all.length / elapsed).toFixed(0)} updates/s, p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms; answers: ${statusHistogram(attempts)}`;

    expect(problems.slice(0, 20), `${problems.length} per-chat problems`).toEqual([]);
    expect(missingDone.slice(0, 20), `${missingDone.length} updates not "done" in Redis`).toEqual([]);
    expect(fiveXx.length, `5xx/no answer: ${statusHistogram(fiveXx)}`).toBe(0);
    expect(row.non2xx).toBe(0);
    expect(all.every((s) => succeeded(s.attempts))).toBe(true);
  });
}, 120_000);

// ---------------------------------------------------------------- 2. retries

test("2a. retries: the 5,000 updates again, every 5th twice at once: no new reply", async () => {
  await caseRow("2a. retries (redelivered)", async (row) => {
    expect(loadQueues.length, "case 1 must have run").toBe(LOAD_CHATS);
    const before = (await sendMessages()).length;
    const redelivered: Attempt[][] = [];
    let index = 0;
    await runChatQueues(loadQueues, LOAD_CONCURRENCY, async (sent) => {
      const twice = index++ % TWIN_EVERY === 0;
      const deliveries = twice ? [1, 2] : [1];
      const results = await Promise.all(
        deliveries.map(() => deliver(client, sent.update, { redeliver: true, maxMs: REDELIVER_MAX_MS })),
      );
      redelivered.push(...results);
    });
    const after = await sendMessages();
    const newCalls = after.slice(before);
    const all = loadQueues.flat();
    const missingDone = await notDone(all.map((s) => s.updateId));
    const attempts = redelivered.flat();
    const unexpected = attempts.filter((a) => !(a.status === 200 || (a.status === 503 && a.error === "update_in_progress")));
    row.sent = all.length;
    row.duplicated = newCalls.length;
    row.lost = missingDone.length;
    row.handled = row.sent - row.lost;
    row.requests = attempts.length;
    row.non2xx = attempts.filter((a) => a.status !== 200).length;
    row.notes = `${redelivered.length} deliveries (${redelivered.length - all.length} concurrent twins); answers: ${statusHistogram(attempts)}`;

    expect(newCalls.map((c) => `${String(c.params.chat_id)}: ${String(c.params.text)}`).slice(0, 20), "new sendMessage calls").toEqual([]);
    expect(unexpected.map((a) => `${a.status} ${a.error ?? a.transport ?? ""}`).slice(0, 20), "answers other than 200 / 503 update_in_progress").toEqual([]);
    expect(redelivered.every(succeeded), "every delivery ends in 200").toBe(true);
    expect(missingDone).toEqual([]);
  });
}, 120_000);

test("2b. retries: fresh updates delivered twice at once: exactly one reply each", async () => {
  await caseRow("2b. retries (fresh twins)", async (row) => {
    const twins: Sent[] = Array.from({ length: FRESH_TWINS }, (_, j) => {
      const updateId = TWIN_UPDATE_BASE + j;
      const user: UserSpec = { id: TWIN_USER_BASE + j, firstName: `T${updateId}`, languageCode: "en" };
      return { updateId, chatId: user.id, update: textUpdate(updateId, user, "/start"), expected: greeting("en", user.firstName), attempts: [], start: 0, end: 0 };
    });
    const before = (await sendMessages()).length;
    const deliveries: Attempt[][] = [];
    await pool(twins, LOAD_CONCURRENCY / 2, async (sent) => {
      const pair = await Promise.all([1, 2].map(() => deliver(client, sent.update, { redeliver: true, maxMs: REDELIVER_MAX_MS })));
      sent.attempts.push(...pair.flat());
      deliveries.push(...pair);
    });
    const byChat = sendMessagesByChat((await sendMessages()).slice(before));
    const problems: string[] = [];
    for (const sent of twins) {
      const replies = byChat.get(sent.chatId) ?? [];
      if (replies.length === 0) row.lost += 1;
      if (replies.length > 1) row.duplicated += replies.length - 1;
      if (replies.length !== 1 || replies[0]!.params.text !== sent.expected) {
        problems.push(`update ${sent.updateId}: ${replies.length} replies ${JSON.stringify(replies.map((r) => r.params.text))}`);
      }
    }
    const missingDone = await notDone(twins.map((s) => s.updateId));
    const attempts = deliveries.flat();
    const unexpected = attempts.filter((a) => !(a.status === 200 || (a.status === 503 && a.error === "update_in_progress")));
    const inProgress = attempts.filter((a) => a.error === "update_in_progress").length;
    row.sent = twins.length;
    row.lost = Math.max(row.lost, missingDone.length);
    row.handled = row.sent - row.lost - row.duplicated;
    row.requests = attempts.length;
    row.non2xx = attempts.filter((a) => a.status !== 200).length;
    row.notes = `${inProgress} twins answered 503 update_in_progress and redelivered; answers: ${statusHistogram(attempts)}`;

    expect(problems.slice(0, 20), `${problems.length} updates without exactly one reply`).toEqual([]);
    expect(unexpected.map((a) => `${a.status} ${a.error ?? a.transport ?? ""}`).slice(0, 20)).toEqual([]);
    expect(deliveries.every(succeeded), "every delivery ends in 200").toBe(true);
    expect(missingDone).toEqual([]);
    // The twins really overlapped: some found their update being handled.
    expect(inProgress).toBeGreaterThan(0);
  });
}, 120_000);

// ---------------------------------------------------------------- 3. faults

interface ReadyProbe {
  status: number;
  ms: number;
  body: { status?: string; checks?: Record<string, { status: string; reason?: string }> };
}

async function probeReady(): Promise<ReadyProbe> {
  const answer = await client.send({ method: "GET", path: "/bot/ready", noSecret: true });
  let body: ReadyProbe["body"] = {};
  try {
    body = JSON.parse(answer.body) as ReadyProbe["body"];
  } catch {
    // checked below
  }
  return { status: answer.status, ms: answer.ms, body };
}

/** Polls /bot/ready until it answers `status`; returns how long that took and the last probe. */
async function readyBecomes(status: number, withinMs: number): Promise<{ afterMs: number; probe: ReadyProbe }> {
  const started = Date.now();
  for (;;) {
    const probe = await probeReady();
    if (probe.status === status || Date.now() - started > withinMs) return { afterMs: Date.now() - started, probe };
    await sleep(100);
  }
}

test("3. faults: Upstash, Neon and the Bot API fail in turn; affected updates get 503 and are handled once on redelivery", async () => {
  await caseRow("3. faults", async (row) => {
    const stream: Sent[] = [];
    const running: Promise<void>[] = [];
    let streaming = true;
    let inFlight = 0;
    const launcher = (async () => {
      for (let n = 0; streaming; n++) {
        if (inFlight < STREAM_MAX_IN_FLIGHT) {
          const updateId = STREAM_UPDATE_BASE + n;
          // Fresh user per update: its own chat, so exactly one reply is due in that chat. Every other one
          // presses a language button: its answer is a Bot API request of the Worker's own (the edit
          // after it rides on the webhook answer), so a failing Bot API reaches the Worker.
          const user: UserSpec = { id: STREAM_USER_BASE + n, firstName: `F${updateId}`, languageCode: "en" };
          const sent: Sent =
            n % 2 === 0
              ? { updateId, chatId: user.id, update: textUpdate(updateId, user, "/start"), expected: greeting("en", user.firstName), attempts: [], start: 0, end: 0 }
              : { updateId, chatId: user.id, update: pressUpdate(updateId, user, "lang:en"), expected: translate("en", "language_set"), callbackQueryId: `cb-${updateId}`, attempts: [], start: 0, end: 0 };
          stream.push(sent);
          inFlight += 1;
          running.push(deliverSent(sent).finally(() => (inFlight -= 1)));
        }
        await sleep(STREAM_INTERVAL_MS);
      }
    })();

    const windows: { name: string; dependency: string; from: number; to: number }[] = [];
    const ready: string[] = [];
    const problems: string[] = [];
    try {
      await sleep(1000);

      // Upstash down: updates cannot be claimed (or finished); /bot/ready names redis.
      for (const [name, dependency, control] of [
        ["Upstash down", "redis", d.upstash],
        ["Neon down", "postgres", d.neon],
      ] as const) {
        const from = Date.now();
        await control.call("POST", "/__control/down");
        const during = await probeReady();
        ready.push(`${dependency} down: ready ${during.status} in ${during.ms.toFixed(0)} ms`);
        const other = dependency === "redis" ? "postgres" : "redis";
        if (during.status !== 503) problems.push(`${name}: /bot/ready answered ${during.status}`);
        if (during.ms > READY_DEADLINE_MS + READY_SLACK_MS) problems.push(`${name}: /bot/ready took ${during.ms.toFixed(0)} ms`);
        if (during.body.checks?.[dependency]?.status !== "fail") problems.push(`${name}: /bot/ready does not name ${dependency}: ${JSON.stringify(during.body)}`);
        if (during.body.checks?.[other]?.status !== "ok") problems.push(`${name}: /bot/ready says ${other} is not ok: ${JSON.stringify(during.body)}`);
        await sleep(Math.max(0, from + FAULT_MS - Date.now()));
        await control.call("POST", "/__control/up");
        windows.push({ name, dependency, from, to: Date.now() });
        const back = await readyBecomes(200, 10_000);
        ready.push(`${dependency} up: ready 200 after ${back.afterMs} ms`);
        if (back.probe.status !== 200) problems.push(`${name}: /bot/ready still ${back.probe.status} 10 s after up: ${JSON.stringify(back.probe.body)}`);
        // The next outage's first probe must not be the reused result of this one.
        await sleep(READY_REUSE_MS + 500);
      }

      // The Bot API answers 500 for a while, then 429 with retry_after (the button answers meet it).
      for (const [name, fault, ms] of [
        ["Bot API 500", { method: "answerCallbackQuery", error_code: 500 }, FAULT_MS],
        ["Bot API 429", { method: "answerCallbackQuery", error_code: 429, retry_after: 1 }, 2000],
      ] as const) {
        const from = Date.now();
        await d.botApi.call("POST", "/__control/faults", fault);
        await sleep(ms);
        await d.botApi.call("DELETE", "/__control/faults");
        windows.push({ name, dependency: "telegram", from, to: Date.now() });
        await sleep(1000);
      }
    } finally {
      // Whatever happened, nothing stays broken and the stream stops.
      await d.upstash.call("POST", "/__control/up").catch(() => undefined);
      await d.neon.call("POST", "/__control/up").catch(() => undefined);
      await d.botApi.call("DELETE", "/__control/faults").catch(() => undefined);
      streaming = false;
      await launcher;
      await Promise.all(running);
    }

    // Accounting per update (each has its own chat): every Bot API request either failed — the Worker
    // then answered 503 dependency "telegram" for that delivery — or delivered the reply: a greeting, or
    // a button's answer. A button's edit rides on the 200 answer only, so exactly one is due.
    const byChat = sendMessagesByChat(await sendMessages());
    const answersByQuery = Map.groupBy(await callsOf("answerCallbackQuery"), (call) => String(call.params.callback_query_id));
    const editsByChat = Map.groupBy(await callsOf("editMessageText"), (call) => Number(call.params.chat_id));
    const affected: Sent[] = [];
    for (const sent of stream) {
      const calls = sent.callbackQueryId === undefined ? (byChat.get(sent.chatId) ?? []) : (answersByQuery.get(sent.callbackQueryId) ?? []);
      const failedCalls = sent.attempts.filter((a) => a.status === 503 && a.dependency === "telegram").length;
      const delivered = calls.length - failedCalls;
      const ok = succeeded(sent.attempts);
      if (sent.callbackQueryId !== undefined) {
        const edits = editsByChat.get(sent.chatId) ?? [];
        if (edits.length !== 1 || edits[0]?.params.text !== sent.expected) problems.push(`update ${sent.updateId}: ${edits.length} edits`);
      }
      if (sent.attempts.some((a) => a.status !== 200)) affected.push(sent);
      if (!ok || delivered < 1) {
        row.lost += 1;
        problems.push(`update ${sent.updateId} lost: ${delivered} replies; answers ${statusHistogram(sent.attempts)}`);
      } else if (delivered > 1) {
        row.duplicated += delivered - 1;
        problems.push(`update ${sent.updateId} replied ${delivered} times; answers ${statusHistogram(sent.attempts)}; calls at ${calls.map((c) => c.at - sent.start).join(",")} ms`);
      }
      if (calls.some((c) => c.params.text !== sent.expected)) problems.push(`update ${sent.updateId}: wrong reply text`);
    }
    const attempts = stream.flatMap((s) => s.attempts);
    const unexpectedStatus = attempts.filter((a) => a.status !== 200 && a.status !== 503);
    if (unexpectedStatus.length > 0) problems.push(`answers other than 200/503: ${statusHistogram(unexpectedStatus)}`);
    for (const w of windows) {
      const hits = attempts.filter((a) => a.status === 503 && a.dependency === w.dependency && a.at >= w.from && a.at <= w.to + 2000);
      if (hits.length === 0) problems.push(`${w.name}: no update was answered 503 ${w.dependency}`);
    }
    const missingDone = await notDone(stream.map((s) => s.updateId));
    const notMarked = d.logs.filter((line) => line.includes("update handled but not marked done")).length;

    row.sent = stream.length;
    row.handled = row.sent - row.lost - row.duplicated;
    row.requests = attempts.length;
    row.non2xx = attempts.filter((a) => a.status !== 200).length;
    const perWindow = windows
      .map((w) => `${w.name}: ${new Set(stream.filter((s) => s.attempts.some((a) => a.status !== 200 && a.at >= w.from && a.at <= w.to + 2000)).map((s) => s.updateId)).size} updates got 503`)
      .join("; ");
    const slowest = Math.max(0, ...stream.map((s) => s.end - s.start));
    row.notes = `${affected.length} updates affected, all redelivered until 200 (slowest ${(slowest / 1000).toFixed(1)} s); ${perWindow}; ${ready.join("; ")}; answers: ${statusHistogram(attempts)}; not "done" in Redis: ${missingDone.length} (handled, done-mark failed: ${notMarked})`;

    expect(problems.slice(0, 30), `${problems.length} problems`).toEqual([]);
  });
}, 200_000);

/**
 * The fault of case 3 at the worst moment, made deterministic: Upstash goes down while the reply of a
 * first-contact /start is on its way (the Bot API double holds that sendMessage for 1.5 s), so the reply
 * is delivered and only the steps after it (grammY's session write, the done mark) meet Redis down.
 */
test("3b. faults: Upstash down after the reply was sent: still exactly one reply", async () => {
  await caseRow("3b. faults (Redis lost after reply)", async (row) => {
    const updateId = STREAM_UPDATE_BASE + 900_000;
    const user: UserSpec = { id: STREAM_USER_BASE + 900_000, firstName: `R${updateId}`, languageCode: "en" };
    const callbackQueryId = `cb-${updateId}`;
    const sent: Sent = { updateId, chatId: user.id, update: pressUpdate(updateId, user, "lang:en"), expected: translate("en", "language_set"), callbackQueryId, attempts: [], start: 0, end: 0 };
    // The button's answer is the Worker's own request (the edit rides on the webhook answer); the double
    // holds it for 1.5 s, so Upstash goes down after the user saw it and before the session is stored.
    await d.botApi.call("POST", "/__control/faults", { method: "answerCallbackQuery", callback_query_id: callbackQueryId, delay_ms: 1500, times: 1 });
    const answersOf = async () => (await callsOf("answerCallbackQuery")).filter((call) => call.params.callback_query_id === callbackQueryId);
    const delivery = deliverSent(sent);
    let downAt = 0;
    try {
      // Wait until the answer has reached the double (it is recorded on arrival, answered 1.5 s later).
      const waitStarted = Date.now();
      while (Date.now() - waitStarted < 10_000) {
        if ((await answersOf()).length > 0) break;
        await sleep(20);
      }
      await d.upstash.call("POST", "/__control/down");
      downAt = Date.now();
      await sleep(FAULT_MS);
    } finally {
      await d.upstash.call("POST", "/__control/up").catch(() => undefined);
      await d.botApi.call("DELETE", "/__control/faults").catch(() => undefined);
    }
    await delivery;
    const answers = await answersOf();
    const edits = (await callsOf("editMessageText")).filter((call) => Number(call.params.chat_id) === user.id);
    const failedCalls = sent.attempts.filter((a) => a.status === 503 && a.dependency === "telegram").length;
    const delivered = answers.length - failedCalls;
    row.sent = 1;
    row.lost = succeeded(sent.attempts) && delivered >= 1 && edits.length >= 1 ? 0 : 1;
    row.duplicated = Math.max(0, delivered - 1) + Math.max(0, edits.length - 1);
    row.handled = 1 - row.lost - Math.min(1, row.duplicated);
    row.requests = sent.attempts.length;
    row.non2xx = sent.attempts.filter((a) => a.status !== 200).length;
    const story = d.logs
      .filter((line) => line.includes(`"update_id":${updateId}`) && !line.includes('"outcome":"in_progress"'))
      .map((line) => {
        const entry = JSON.parse(line.slice(line.indexOf("{"))) as { msg?: string; outcome?: string; status?: number; error_message?: string };
        return entry.msg === "webhook" ? `${entry.status} ${entry.outcome}` : `${entry.msg}${entry.error_message ? ` (${entry.error_message.slice(0, 60)})` : ""}`;
      });
    row.notes = `worker log: ${story.join(" → ")}; answers: ${statusHistogram(sent.attempts)}; button answered at ${answers.map((c) => `+${((c.at - sent.start) / 1000).toFixed(1)} s`).join(", ")}, edited at ${edits.map((c) => `+${((c.at - sent.start) / 1000).toFixed(1)} s`).join(", ")} (Upstash down at +${((downAt - sent.start) / 1000).toFixed(1)} s for ${FAULT_MS / 1000} s); delivery took ${((sent.end - sent.start) / 1000).toFixed(1)} s`;

    expect(succeeded(sent.attempts), "the update is finally answered 200").toBe(true);
    expect(answers.map((c) => c.params.text), "the button's answers").toEqual([sent.expected]);
    expect(edits.map((c) => c.params.text), "the edits in the chat").toEqual([sent.expected]);
  });
}, 120_000);

// ---------------------------------------------------------------- 4. hostile input

interface HostileCase {
  name: string;
  request: SendOptions;
  /** Expected status; a list means any of them. */
  expect: number | number[];
  /** Send over a raw socket (bodies the Worker may refuse before reading them). */
  raw?: boolean;
  /** A reply due in this chat: 1 (or 0) sendMessage calls, with this text when given. */
  replyIn?: { chatId: number; count: number; text?: string };
}

function hostileUpdate(n: number, user: Partial<UserSpec>, text: string): { update: Record<string, unknown>; chatId: number } {
  const id = HOSTILE_USER_BASE + n;
  return { update: textUpdate(HOSTILE_UPDATE_BASE + n, { id, firstName: "Hostile", languageCode: "en", ...user }, text), chatId: id };
}

function oneCharOff(secret: string, at: number): string {
  const c = secret[at] === "a" ? "b" : "a";
  return secret.slice(0, at) + c + secret.slice(at + 1);
}

async function* chunked(total: number, chunk = 64 * 1024): AsyncGenerator<Buffer> {
  const piece = Buffer.alloc(chunk, 0x20);
  for (let sent = 0; sent < total; sent += chunk) yield piece.subarray(0, Math.min(chunk, total - sent));
}

test("4. hostile input: secrets, bodies, methods, ids, odd text; nothing leaks, Worker stays up", async () => {
  await caseRow("4. hostile input", async (row) => {
    const secret = d.secrets.TELEGRAM_WEBHOOK_SECRET;
    const valid = hostileUpdate(0, {}, "valid body, wrong secret").update;
    const validBody = JSON.stringify(valid);
    const withSecret = (value: string): SendOptions => ({ body: validBody, headers: { "X-Telegram-Bot-Api-Secret-Token": value } });
    const MiB = 1024 * 1024;
    const deep = 100_000;

    // --- secrets: 401 before any other work (no Redis, no Postgres, no Bot API)
    const secretCases: HostileCase[] = [
      { name: "missing secret", request: { body: validBody, noSecret: true }, expect: 401 },
      { name: "empty secret", request: withSecret(""), expect: 401 },
      { name: "wrong secret", request: withSecret("wrong_secret_0123456789"), expect: 401 },
      { name: "overlong secret (10 KB)", request: withSecret("A".repeat(10 * 1024)), expect: 401 },
      { name: "secret + 1 char", request: withSecret(`${secret}x`), expect: 401 },
      { name: "secret − last char", request: withSecret(secret.slice(0, -1)), expect: 401 },
      { name: "secret, 1st char differs", request: withSecret(oneCharOff(secret, 0)), expect: 401 },
      { name: "secret, middle char differs", request: withSecret(oneCharOff(secret, secret.length >> 1)), expect: 401 },
      { name: "secret, last char differs", request: withSecret(oneCharOff(secret, secret.length - 1)), expect: 401 },
      { name: "secret in upper case", request: withSecret(secret.toUpperCase()), expect: 401 },
      { name: "wrong secret, 10 MiB body", request: { ...withSecret("nope"), body: Buffer.alloc(10 * MiB, 0x20) }, expect: 401, raw: true },
      { name: "wrong secret, 10 MiB chunked body", request: { ...withSecret("nope"), body: chunked(10 * MiB) }, expect: 401, raw: true },
      { name: "wrong secret, invalid JSON", request: { ...withSecret("nope"), body: "{" }, expect: 401 },
    ];

    // --- bodies, methods, ids
    const bodyCases: HostileCase[] = [
      { name: "truncated JSON", request: { body: validBody.slice(0, validBody.length >> 1) }, expect: 400 },
      { name: "empty body", request: { body: "" }, expect: 400 },
      { name: "not JSON", request: { body: "update_id=1" }, expect: 400 },
      { name: "JSON null", request: { body: "null" }, expect: 400 },
      { name: "JSON array", request: { body: "[1]" }, expect: 400 },
      { name: "JSON string", request: { body: '"x"' }, expect: 400 },
      { name: "non-UTF-8 byte (0xFF)", request: { body: Buffer.concat([Buffer.from('{"update_id":400000900,"message":{"text":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}')]) }, expect: 400 },
      { name: "overlong UTF-8 (C0 AF)", request: { body: Buffer.concat([Buffer.from('{"update_id":400000901,"x":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]) }, expect: 400 },
      { name: "UTF-8 encoded surrogate (ED A0 80)", request: { body: Buffer.concat([Buffer.from('{"update_id":400000902,"x":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]) }, expect: 400 },
      { name: "UTF-16 body", request: { body: Buffer.from('{"update_id":400000903}', "utf16le") }, expect: 400 },
      { name: `${deep} levels of [`, request: { body: "[".repeat(deep) + "]".repeat(deep) }, expect: 400 },
      { name: `${deep} unclosed [`, request: { body: "[".repeat(deep) }, expect: 400 },
      { name: `update with ${deep} nested arrays`, request: { body: `{"update_id":400000904,"deep":${"[".repeat(deep)}${"]".repeat(deep)}}` }, expect: 200 },
      { name: `update with ${deep} nested objects`, request: { body: `{"update_id":400000905,"deep":${'{"a":'.repeat(deep)}1${"}".repeat(deep)}}` }, expect: 200 },
      { name: "10 MiB body with Content-Length", request: { body: Buffer.alloc(10 * MiB, 0x20) }, expect: 413, raw: true },
      { name: "10 MiB body chunked (no Content-Length)", request: { body: chunked(10 * MiB) }, expect: 413, raw: true },
      { name: "10 MiB body chunked, valid JSON start", request: { body: (async function* () { yield Buffer.from('{"update_id":400000910,"pad":"'); yield* chunked(10 * MiB); })() }, expect: 413, raw: true },
      { name: "1 MiB + 1 byte", request: { body: `{"update_id":400000906}`.padEnd(MiB + 1, " ") }, expect: 413 },
      { name: "exactly 1 MiB (whitespace padded)", request: { body: `{"update_id":400000907}`.padEnd(MiB, " ") }, expect: 200 },
      ...["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"].flatMap((method): HostileCase[] => [
        { name: `${method} /bot/webhook/`, request: { method, body: method === "GET" || method === "HEAD" ? null : validBody }, expect: 405 },
        { name: `${method} /bot/webhook`, request: { method, path: "/bot/webhook", body: method === "GET" || method === "HEAD" ? null : validBody }, expect: 405 },
      ]),
      { name: "update_id 1e300", request: { body: '{"update_id":1e300,"message":{}}' }, expect: 400 },
      { name: "update_id 2^64", request: { body: '{"update_id":18446744073709551616}' }, expect: 400 },
      { name: "update_id 2^53", request: { body: '{"update_id":9007199254740992}' }, expect: 400 },
      { name: "update_id -1", request: { body: '{"update_id":-1}' }, expect: 400 },
      { name: "update_id 1.5", request: { body: '{"update_id":1.5}' }, expect: 400 },
      { name: 'update_id "7"', request: { body: '{"update_id":"7"}' }, expect: 400 },
      { name: "update_id null", request: { body: '{"update_id":null}' }, expect: 400 },
      { name: "no update_id", request: { body: '{"message":{"text":"x"}}' }, expect: 400 },
      { name: "unknown update type", request: { body: '{"update_id":400000908,"future_update_type":{"chat":{"id":740000999,"type":"private"},"text":"x"}}' }, expect: 200 },
      { name: "update_id only", request: { body: '{"update_id":400000909}' }, expect: 200 },
    ];

    // --- odd text and names: 200 and one safe reply
    const odd: { name: string; user: Partial<UserSpec>; text: string }[] = [
      { name: "text of 4096 chars", user: {}, text: "x".repeat(4096) },
      { name: "text of 10,000 chars", user: {}, text: "y".repeat(10_000) },
      { name: "RTL override", user: {}, text: "\u202Egnp.exe\u202C file" },
      { name: "zero-width joiners", user: {}, text: "👨\u200D👩\u200D👧\u200D👦 a\u200Db\u200Cc\uFEFF" },
      { name: "emoji flags", user: {}, text: "🇺🇿🇷🇺🇬🇧🏴󠁧󠁢󠁳󠁣󠁴󠁿" },
      { name: "lone surrogates", user: {}, text: "\uD800 \uDFFF \uDBFF" },
      { name: "NUL and controls", user: {}, text: "a\u0000b\u0007c\u001b[31m" },
      { name: "SQL + HTML text", user: {}, text: "'; DROP TABLE telegram_accounts;-- <b>bold</b> <script>alert(1)</script> &amp;" },
      { name: "/start, SQL name", user: { firstName: "Robert'); DROP TABLE telegram_accounts;--", lastName: "<script>alert('x')</script>", username: "a'b\"c\\d" }, text: "/start" },
      { name: "/start, HTML name", user: { firstName: "<b>Bold</b> & <i>it</i> <a href=\"tg://x\">l</a>", lastName: "{name} $1 $& %s" }, text: "/start" },
      { name: "/start, RTL + ZWJ name", user: { firstName: "\u202Eevil\u200D👨\u200D👩\u200D👧", lastName: "🇺🇿" }, text: "/start" },
      { name: "/start, lone surrogate name", user: { firstName: "x\uD800y" }, text: "/start" },
      { name: "/start, 64-char name", user: { firstName: "Ж".repeat(64) }, text: "/start" },
    ];
    const oddCases: HostileCase[] = odd.map((o, i) => {
      const { update, chatId } = hostileUpdate(10 + i, o.user, o.text);
      const firstName = (update.message as { from: { first_name: string } }).from.first_name;
      const text = o.text === "/start" ? greeting("en", firstName) : translate("en", "hint");
      return { name: o.name, request: { body: JSON.stringify(update) }, expect: 200, replyIn: { chatId, count: 1, text } };
    });

    const sendRaw = (request: SendOptions): Promise<Answer> => {
      client.requests += 1;
      const headers: Record<string, string> = { "Content-Type": "application/json", ...request.headers };
      if (!request.noSecret && !("X-Telegram-Bot-Api-Secret-Token" in headers)) headers["X-Telegram-Bot-Api-Secret-Token"] = secret;
      return rawRequest(d.url, scanner, {
        method: request.method ?? "POST",
        path: request.path ?? "/bot/webhook/",
        headers,
        body: request.body as Buffer | AsyncIterable<Buffer>,
      });
    };
    const problems: string[] = [];
    const resetAnswers: string[] = [];
    const answers: { c: HostileCase; a: Answer }[] = [];
    const run = async (cases: HostileCase[]) => {
      for (const c of cases) {
        const logsBefore = d.logs.length;
        const a = c.raw ? await sendRaw(c.request) : await client.send(c.request);
        // Telegram runs a Bot API call that rides on a 2xx answer.
        await client.runWebhookReply(a);
        answers.push({ c, a });
        const expected = Array.isArray(c.expect) ? c.expect : [c.expect];
        if (a.status === 0 && c.raw && /EPIPE|ECONNRESET/.test(a.error ?? "")) {
          // workerd answered and closed while the body was still coming, so the kernel reset the
          // connection and the answer was lost in transit; the runtime's request log has the status.
          await sleep(200);
          const method = c.request.method ?? "POST";
          const path = c.request.path ?? "/bot/webhook/";
          const logged = d.logs.slice(logsBefore).map((line) => new RegExp(`\\b${method} ${path} (\\d{3}) `).exec(line)?.[1]).find(Boolean);
          if (logged !== undefined) {
            a.status = Number(logged);
            resetAnswers.push(`${c.name} (${logged})`);
          }
        }
        if (!expected.includes(a.status)) {
          problems.push(`${c.name}: ${a.status}${a.error ? ` (${a.error})` : ""} ${a.body.slice(0, 120)}, expected ${expected.join("|")}`);
        }
        if (a.status === 405 && a.headers.allow !== "POST") problems.push(`${c.name}: 405 without Allow: POST`);
      }
    };

    // 401s must not touch Redis, Postgres or the Bot API.
    const redisBefore = await d.upstash.call<{ requests: number }>("GET", "/__control/stats");
    const neonBefore = await d.neon.call<{ requests: number }>("GET", "/__control/stats");
    const callsBefore = (await d.botApi.call<unknown[]>("GET", "/__control/calls")).length;
    await run(secretCases);
    const redisAfter = await d.upstash.call<{ requests: number }>("GET", "/__control/stats");
    const neonAfter = await d.neon.call<{ requests: number }>("GET", "/__control/stats");
    const callsAfter = (await d.botApi.call<unknown[]>("GET", "/__control/calls")).length;
    if (redisAfter.requests !== redisBefore.requests) problems.push(`401s made ${redisAfter.requests - redisBefore.requests} Upstash requests`);
    if (neonAfter.requests !== neonBefore.requests) problems.push(`401s made ${neonAfter.requests - neonBefore.requests} Neon requests`);
    if (callsAfter !== callsBefore) problems.push(`401s made ${callsAfter - callsBefore} Bot API calls`);

    const sendBefore = (await sendMessages()).length;
    await run(bodyCases);
    const sendAfterBodies = await sendMessages();
    const stray = sendAfterBodies.slice(sendBefore);
    if (stray.length > 0) problems.push(`bodies/methods/ids/unknown types caused ${stray.length} replies: ${JSON.stringify(stray.map((c) => c.params).slice(0, 3))}`);

    await run(oddCases);
    const byChat = sendMessagesByChat((await sendMessages()).slice(sendAfterBodies.length));
    let repliesOk = 0;
    for (const c of oddCases) {
      const due = c.replyIn!;
      const replies = byChat.get(due.chatId) ?? [];
      if (replies.length === 0) row.lost += 1;
      if (replies.length > 1) row.duplicated += replies.length - 1;
      const reply = replies[0];
      if (replies.length !== due.count) problems.push(`${c.name}: ${replies.length} replies`);
      else if (reply !== undefined && due.text !== undefined && reply.params.text !== due.text && !c.name.includes("lone surrogate")) {
        problems.push(`${c.name}: reply ${JSON.stringify(reply.params.text)} ≠ ${JSON.stringify(due.text)}`);
      } else if (reply !== undefined && ("parse_mode" in reply.params || "entities" in reply.params)) {
        problems.push(`${c.name}: reply sent with formatting ${JSON.stringify(reply.params.parse_mode ?? reply.params.entities)}`);
      } else repliesOk += 1;
    }

    // Names are stored verbatim: parameters, not SQL text.
    const stored = await d.db.query<{ telegram_user_id: string; first_name: string; last_name: string | null; username: string | null }>(
      "SELECT telegram_user_id, first_name, last_name, username FROM telegram_accounts WHERE telegram_user_id >= $1 AND telegram_user_id < $2",
      [HOSTILE_USER_BASE, HOSTILE_USER_BASE + 1000],
    );
    const storedById = new Map(stored.rows.map((r) => [Number(r.telegram_user_id), r]));
    odd.forEach((o, i) => {
      if (o.text !== "/start") return;
      const r = storedById.get(HOSTILE_USER_BASE + 10 + i);
      if (r === undefined) return void problems.push(`${o.name}: no telegram_accounts row`);
      const want = { first_name: o.user.firstName ?? "Hostile", last_name: o.user.lastName ?? null, username: o.user.username ?? null };
      // PostgreSQL text cannot hold a lone surrogate; it arrives as U+FFFD, the rest verbatim.
      if (o.name.includes("lone surrogate")) want.first_name = want.first_name.replace(/[\uD800-\uDFFF]/g, "\uFFFD");
      const got = { first_name: r.first_name, last_name: r.last_name, username: r.username };
      if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${o.name}: stored ${JSON.stringify(got)}, sent ${JSON.stringify(want)}`);
    });
    const tables = await d.db.query("SELECT count(*)::int AS n FROM telegram_accounts");
    if (!(tables.rows[0]?.n > 0)) problems.push("telegram_accounts is empty");

    // Still alive.
    const health = await client.send({ method: "GET", path: "/bot/health", noSecret: true });
    if (health.status !== 200 || health.body !== '{"status":"ok"}') problems.push(`/bot/health after all that: ${health.status} ${health.body}`);
    const readyAfter = await probeReady();
    if (readyAfter.status !== 200) problems.push(`/bot/ready after all that: ${readyAfter.status}`);
    const crashes = d.logs.filter((line) => /crashed|Fatal uncaught|Received signal|std::terminate/.test(line));
    if (crashes.length > 0) problems.push(`runtime crashed: ${crashes[0]}`);

    const all = [...secretCases, ...bodyCases, ...oddCases];
    row.sent = all.length;
    row.requests = answers.length;
    row.non2xx = problems.filter((p) => p.includes(", expected ")).length;
    row.handled = all.length - row.non2xx;
    row.notes = `${secretCases.length} secret checks → 401 (0 Redis/Postgres/Bot API requests), ${bodyCases.length} bodies/methods/ids, ${oddCases.length} odd texts/names → ${repliesOk} safe replies; ${resetAnswers.length > 0 ? `answer lost to a TCP reset while the body was being sent, status taken from the runtime's request log: ${resetAnswers.join(", ")}; ` : ""}statuses: ${[...new Set(answers.map((x) => x.a.status))].sort().join(",")}`;

    expect(problems, `${problems.length} problems`).toEqual([]);
  });
}, 120_000);

// ---------------------------------------------------------------- 5. secrets

test("5. no secret in any answer or captured log line", async () => {
  await caseRow("5. no secret leaked", async (row) => {
    // Give the runtime a moment to flush the last log lines.
    await sleep(500);
    for (const [i, line] of d.logs.entries()) scanner.scan(`log line ${i}`, line);
    const logLines = d.logs.length;
    const webhookLines = d.logs.filter((l) => l.includes('"msg":"webhook"')).length;
    row.sent = scanner.scanned;
    row.handled = scanner.scanned - scanner.hits.length;
    row.requests = client.requests;
    row.notes = `${client.requests} answers (headers + body) and ${logLines} log lines (${webhookLines} webhook lines) searched for 4 secrets and their halves`;
    expect(logLines, "the Worker's logs were captured").toBeGreaterThan(1000);
    expect(scanner.hits.slice(0, 10), `${scanner.hits.length} leaks`).toEqual([]);
  });
}, 60_000);
