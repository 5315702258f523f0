/**
 * The broadcast row of `npm run bench`: one notification to 3,000 linked chats handed over with
 * `POST /bot/internal/notifications` and sent by the Worker's queue consumer, paced by its Durable
 * Object, while the Bot API double enforces the same global limit (flood control, 429 + retry_after).
 * It measures how close the pacer gets to the allowed rate, the 429s it still provokes, the time until
 * the last message, and the Postgres and Redis round trips per message.
 */
import { join } from "node:path";
import pg from "pg";
import { REPO_ROOT, runWorkerBundle } from "../scripts/lib/worker-bundle.js";
import type { BenchStorage, Services } from "./lib/services.js";

/** What the broadcast is run with. */
export interface BroadcastSettings {
  recipients: number;
  /** TELEGRAM_SEND_RATE of the Worker and the double's global limit (paid broadcasts, above 30/s). */
  rate: number;
}

export const BROADCAST_SETTINGS: BroadcastSettings = { recipients: 3000, rate: 300 };

/** What one broadcast measured. */
export interface BroadcastResult extends BroadcastSettings {
  /** Messages the double accepted. */
  messages: number;
  /** Messages per second between the first and the last accepted one. */
  achievedPerSecond: number;
  /** `achievedPerSecond` ÷ the allowed rate (target ≥ 0.95). */
  achievedShare: number;
  /** 429 answers of the double, and their share of all sends (target ≤ 0.5 %). */
  refused429: number;
  refused429Share: number;
  /** From the hand-over to the last accepted message. */
  timeToLastMessageMs: number;
  /** Round trips of the whole path (hand-over, fan-out, claims, records), per message; status polls left out. */
  postgresRoundTripsPerMessage: number;
  redisRoundTripsPerMessage: number;
}

const CHAT_BASE = 960_000_000;
const WEB_USER_BASE = 9_000_000;
const TIMEOUT_MS = 180_000;
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
const round = (value: number, digits: number) => Number(value.toFixed(digits));

/**
 * Runs the broadcast against the benchmark's services with a Worker of its own (the bundle, with
 * wrangler.toml's queues and Durable Object).
 */
export async function runBroadcast(options: {
  bundlePath: string;
  services: Services;
  bindings: Record<string, string>;
  storage: BenchStorage;
  settings?: BroadcastSettings;
}): Promise<BroadcastResult> {
  const { services, bindings, storage } = options;
  const settings = options.settings ?? BROADCAST_SETTINGS;
  const db = new pg.Client({ connectionString: `${storage.postgresServer}/${storage.database}` });
  await db.connect();
  try {
    await db.query(
      `INSERT INTO telegram_accounts (telegram_user_id, chat_id, first_name, web_user_id, linked_at)
       SELECT $1::bigint + g, $1::bigint + g, 'Broadcast', $2::bigint + g, now() FROM generate_series(0, $3 - 1) g
       ON CONFLICT DO NOTHING`,
      [CHAT_BASE, WEB_USER_BASE, settings.recipients],
    );
  } finally {
    await db.end();
  }
  const worker = await runWorkerBundle({
    name: "bench-broadcast",
    bundlePath: options.bundlePath,
    bindings: { ...bindings, TELEGRAM_SEND_RATE: String(settings.rate) },
    wranglerConfig: join(REPO_ROOT, "wrangler.toml"),
  });
  const botApi = bindings.TELEGRAM_API_ROOT ?? "";
  const auth = { Authorization: `Bearer ${bindings.BOT_INTERNAL_API_TOKEN ?? ""}` };
  try {
    await services.resetCounters();
    const flood = await fetch(`${botApi}/__control/flood`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ per_second: settings.rate, paid_per_second: settings.rate }),
    });
    if (!flood.ok) throw new Error(`the double's flood control answered ${flood.status}`);

    const id = `bench:broadcast:${Date.now()}`;
    const started = Date.now();
    const handOver = await fetch(`${worker.origin}/bot/internal/notifications`, {
      method: "POST",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({
        id,
        user_ids: Array.from({ length: settings.recipients }, (_, i) => WEB_USER_BASE + i),
        text: "<b>MTT Pro</b>: the results of the olympiad are out",
        parse_mode: "HTML",
      }),
    });
    if (handOver.status !== 202) throw new Error(`POST /bot/internal/notifications answered ${handOver.status}: ${await handOver.text()}`);

    let polls = 0;
    for (;;) {
      await sleep(250);
      polls += 1;
      const status = (await (await fetch(`${worker.origin}/bot/internal/notifications/${id}`, { headers: auth })).json()) as { done?: boolean };
      if (status.done === true) break;
      if (Date.now() - started > TIMEOUT_MS) throw new Error(`the broadcast was not done after ${TIMEOUT_MS / 1000} s: ${JSON.stringify(status)}`);
    }
    const counters = await services.counters();
    const report = (await (await fetch(`${botApi}/__control/flood`)).json()) as { sends: { at: number }[]; refused: Record<string, number> };
    const times = report.sends.map((send) => send.at).sort((a, b) => a - b);
    const first = times[0] ?? started;
    const last = times.at(-1) ?? started;
    const messages = times.length;
    const achievedPerSecond = messages > 1 ? ((messages - 1) * 1000) / (last - first) : 0;
    const refused429 = report.refused["429"] ?? 0;
    return {
      ...settings,
      messages,
      achievedPerSecond: round(achievedPerSecond, 1),
      achievedShare: round(achievedPerSecond / settings.rate, 3),
      refused429,
      refused429Share: round(refused429 / Math.max(1, messages + refused429), 4),
      timeToLastMessageMs: last - started,
      // Each status poll is one query; the path's own round trips are the rest.
      postgresRoundTripsPerMessage: round((counters.neonRequests - polls) / Math.max(1, messages), 3),
      redisRoundTripsPerMessage: round(counters.redisRoundTrips / Math.max(1, messages), 3),
    };
  } finally {
    await fetch(`${botApi}/__control/flood`, { method: "DELETE" }).catch(() => undefined);
    await worker.dispose();
  }
}

/** The broadcast's section of bench/results.md. */
export function broadcastMarkdown(result: BroadcastResult): string {
  const percent = (share: number) => `${(share * 100).toFixed(2)} %`;
  return [
    "",
    "## Broadcast through the queue (bench/broadcast.ts)",
    "",
    `One notification to ${result.recipients} linked chats (\`POST /bot/internal/notifications\`), sent by the queue consumer`,
    `paced by the NotificationPacer Durable Object at TELEGRAM_SEND_RATE=${result.rate}, while the Bot API double enforces the same`,
    "global limit (any one-second window) and 1 message per second per chat, answering 429 with `retry_after` as Telegram does.",
    "",
    "| recipients | allowed/s | achieved/s | achieved ÷ allowed (≥ 0.95) | 429s (≤ 0.5 %) | time to last message | Postgres round trips/message | Redis round trips/message |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    `| ${result.recipients} | ${result.rate} | ${result.achievedPerSecond} | ${result.achievedShare.toFixed(3)} | ${result.refused429} (${percent(result.refused429Share)}) | ${(result.timeToLastMessageMs / 1000).toFixed(1)} s | ${result.postgresRoundTripsPerMessage} | ${result.redisRoundTripsPerMessage} |`,
    "",
  ].join("\n");
}
