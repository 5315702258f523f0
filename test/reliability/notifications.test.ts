/**
 * Reliability of notifications (issue 12): one broadcast through the queue, with the Bot API double
 * enforcing Telegram's flood control, while dependencies fail and a consumer invocation throws.
 * A deployment of its own (test/reliability/chaos-worker.ts around src/index.ts); see README.md here.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startDeployment, type Deployment } from "./deployment.js";
import { formatSummary, newRow, type SummaryRow } from "./summary.js";
import { SecretScanner, WorkerClient } from "./telegram.js";

/** The broadcast: chats, how many of them blocked the bot, and the rate of the pacer and of the double. */
const CHATS = 2000;
const BLOCKED_EVERY = 20;
const RATE = 200;
const CHAT_BASE = 750_000_000;
const WEB_USER_BASE = 5_000_000;
/** When the faults start, after the notification is posted, and how long each lasts. */
const UPSTASH_DOWN_AT_MS = 1500;
const NEON_DOWN_AT_MS = 4500;
const FAULT_MS = 3000;
const SETTLE_TIMEOUT_MS = 150_000;

let d: Deployment;
let scanner: SecretScanner;
let client: WorkerClient;
const summary: SummaryRow[] = [];

beforeAll(async () => {
  d = await startDeployment({
    entry: "test/reliability/chaos-worker.ts",
    vars: { TELEGRAM_SEND_RATE: String(RATE) },
  });
  scanner = new SecretScanner(d.secrets);
  client = new WorkerClient(d.url, d.secrets.TELEGRAM_WEBHOOK_SECRET, scanner, d.vars.TELEGRAM_API_ROOT ?? "", 16);
  console.log(`reliability (notifications): Worker bundle on ${d.url}, up in ${d.startupMs} ms`);
}, 180_000);

afterAll(async () => {
  try {
    console.log(formatSummary(summary));
  } finally {
    await client?.close().catch(() => undefined);
    await d?.stop();
  }
}, 60_000);

interface Send {
  chat_id: string;
  at: number;
}

/** The most sends in any one-second window. */
function busiestSecond(sends: Send[]): number {
  const times = sends.map((s) => s.at).sort((a, b) => a - b);
  let most = 0;
  for (let start = 0, end = 0; end < times.length; end++) {
    while ((times[end] ?? 0) - (times[start] ?? 0) >= 1000) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

test("notifications: 2,000 chats under flood control, 5 % blocked, Upstash and Neon down, a consumer throwing mid-batch, the id posted 3 times", async () => {
  const row = newRow("notifications");
  const started = Date.now();
  try {
    const chats = Array.from({ length: CHATS }, (_, i) => String(CHAT_BASE + i));
    const blocked = chats.filter((_, i) => i % BLOCKED_EVERY === 0);
    const reachable = chats.filter((_, i) => i % BLOCKED_EVERY !== 0);
    await d.db.query(
      `INSERT INTO telegram_accounts (telegram_user_id, chat_id, first_name, web_user_id, linked_at)
       SELECT $1::bigint + g, $1::bigint + g, 'Reliability', $2::bigint + g, now() FROM generate_series(0, $3 - 1) g`,
      [CHAT_BASE, WEB_USER_BASE, CHATS],
    );
    await d.botApi.call("POST", "/__control/flood", { per_second: RATE, paid_per_second: RATE, blocked });

    const request = {
      id: "reliability:broadcast",
      user_ids: Array.from({ length: CHATS }, (_, i) => WEB_USER_BASE + i),
      text: "<b>MTT Pro</b>: scheduled maintenance tonight",
      parse_mode: "HTML",
    };
    const post = () =>
      client.send({
        path: "/bot/internal/notifications",
        noSecret: true,
        headers: { Authorization: `Bearer ${d.secrets.BOT_INTERNAL_API_TOKEN}` },
        body: JSON.stringify(request),
      });
    const posted = Date.now();
    const faults = (async () => {
      await sleep(UPSTASH_DOWN_AT_MS);
      await d.upstash.call("POST", "/__control/down");
      await sleep(FAULT_MS);
      await d.upstash.call("POST", "/__control/up");
      await sleep(Math.max(0, NEON_DOWN_AT_MS - UPSTASH_DOWN_AT_MS - FAULT_MS));
      await d.neon.call("POST", "/__control/down");
      await sleep(FAULT_MS);
      await d.neon.call("POST", "/__control/up");
    })();
    const answers = await Promise.all([post(), post(), post()]);
    const statuses = answers.map((a) => a.status).sort();

    // Django's side: poll the status until every delivery is done.
    let status: Record<string, unknown> = {};
    await faults;
    for (const until = Date.now() + SETTLE_TIMEOUT_MS; Date.now() < until; await sleep(250)) {
      const answer = await client.send({
        method: "GET",
        path: `/bot/internal/notifications/${request.id}`,
        noSecret: true,
        headers: { Authorization: `Bearer ${d.secrets.BOT_INTERNAL_API_TOKEN}` },
      });
      if (answer.status === 200) status = JSON.parse(answer.body) as Record<string, unknown>;
      if (status.done === true) break;
    }
    const finished = Date.now();

    const flood = await d.botApi.call<{ sends: Send[]; refused: Record<string, number> }>("GET", "/__control/flood");
    const perChat = new Map<string, Send[]>();
    for (const send of flood.sends) perChat.set(send.chat_id, [...(perChat.get(send.chat_id) ?? []), send]);
    const missing = reachable.filter((chat) => (perChat.get(chat)?.length ?? 0) === 0);
    const twice = reachable.filter((chat) => (perChat.get(chat)?.length ?? 0) > 1);
    const toBlocked = blocked.filter((chat) => perChat.has(chat));
    const { rows: marked } = await d.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM telegram_accounts WHERE chat_id = ANY($1::bigint[]) AND is_blocked",
      [blocked],
    );
    const chaos = d.logs.filter((line) => line.includes("reliability chaos: a consumer invocation throws mid-batch"));
    const postgresFailures = d.logs.filter((line) => /notification[^"]* not (claimed|recorded)/.test(line)).length;
    const busiest = busiestSecond(flood.sends);
    const refused429 = flood.refused["429"] ?? 0;

    row.sent = CHATS;
    row.handled = reachable.length - missing.length - twice.length;
    row.lost = missing.length;
    row.duplicated = twice.reduce((n, chat) => n + (perChat.get(chat)?.length ?? 1) - 1, 0);
    row.requests = client.requests;
    row.non2xx = answers.filter((a) => a.status >= 300).length;
    row.notes =
      `posts ${statuses.join("/")}; ${flood.sends.length} messages in ${((finished - posted) / 1000).toFixed(1)} s at ${RATE}/s; ` +
      `busiest second ${busiest}; 429s ${refused429}; 403s ${flood.refused["403"] ?? 0}; ` +
      `${postgresFailures} consumer steps met Postgres down; status ${JSON.stringify(status)}`;

    expect(statuses, "the same id posted 3 times at once: one 202, two 200").toEqual([200, 200, 202]);
    expect(chaos.length, "the consumer invocation that throws mid-batch happened").toBe(1);
    expect(postgresFailures, "the Neon outage met the consumer").toBeGreaterThan(0);
    expect(status).toMatchObject({ recipients: CHATS, sent: reachable.length, blocked: blocked.length, failed: 0, pending: 0, done: true });
    expect(missing.slice(0, 10), `${missing.length} reachable chats got no message`).toEqual([]);
    expect(twice.slice(0, 10), `${twice.length} chats got the message more than once`).toEqual([]);
    expect(toBlocked, "no message reached a chat that blocked the bot").toEqual([]);
    expect(status.sent, "sent as counted equals what the double accepted").toBe(flood.sends.length);
    expect(marked[0]?.n, "every blocked chat's account is marked blocked").toBe(blocked.length);
    expect(busiest, "no one-second window over the global rate").toBeLessThanOrEqual(RATE);
    const tooFast = [...perChat.values()].filter((sends) => busiestSecond(sends) > 1);
    expect(tooFast.length, "no chat over one message per second").toBe(0);
    expect(scanner.hits, "no secret in any answer").toEqual([]);
    row.passed = true;
  } finally {
    row.seconds = (Date.now() - started) / 1000;
    summary.push(row);
  }
}, 200_000);

test("notifications: no secret in the deployment's log lines", async () => {
  await sleep(300);
  for (const [i, line] of d.logs.entries()) scanner.scan(`log line ${i}`, line);
  expect(d.logs.length).toBeGreaterThan(10);
  expect(scanner.hits.slice(0, 10)).toEqual([]);
});
