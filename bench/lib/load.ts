/**
 * The load: Telegram-shaped webhook calls with a distinct `update_id` each, from autocannon's
 * programmatic API, and what came back (updates/s, latency percentiles, status codes).
 */
import { readFileSync } from "node:fs";
import autocannon from "autocannon";
import { percentile, round } from "./stats.js";

/**
 * What an update is: "/start" (a bot_command entity), a plain text message, or a button press (a
 * callback_query with `lang:<language>` on a message the bot sent, answered with answerCallbackQuery and
 * editMessageText).
 */
export type Scenario = "start" | "text" | "button";

/** The language a button press chooses; the load always presses English. */
export type ButtonLanguage = "uz" | "ru" | "en";

/** How many different users (private chats) the updates come from. */
export const USERS = 200;
const FIRST_USER_ID = 700_000_000;
const LANGUAGES = ["uz", "ru", "en"] as const;

type Message = Record<string, unknown> & { from: object; chat: object };
type MessageSample = { update_id: number; message: Message };
type CallbackSample = { update_id: number; callback_query: Record<string, unknown> & { from: object; message: Message } };

const sample = <T>(name: string) =>
  JSON.parse(readFileSync(new URL(`../../test/fixtures/telegram/${name}.json`, import.meta.url), "utf8")) as T;
const fixtures = {
  start: sample<MessageSample>("message_start"),
  text: sample<MessageSample>("message_text"),
  button: sample<CallbackSample>("callback_query"),
};

/** Every update of the whole benchmark gets its own id, so the ledger never sees a duplicate. */
let nextUpdateId = 100_000_000;
let nextMessageId = 1;

/** The `index`-th user (0 ≤ index < USERS). */
function userOf(index: number) {
  const id = FIRST_USER_ID + index;
  return {
    id,
    first_name: `Bench${index}`,
    last_name: "User",
    username: `bench_user_${index}`,
    language_code: LANGUAGES[index % LANGUAGES.length],
  };
}

/**
 * A webhook body: the sample update of the scenario (test/fixtures/telegram) with a new update_id and
 * message_id (and callback query id), from user `userIndex` in their private chat. The load uses users
 * 0 … USERS-1; an index past them is a user the load never sends as. A button press is on a message of
 * its own (so its edit always changes something) and chooses `language`.
 */
export function makeUpdate(scenario: Scenario, userIndex: number, language: ButtonLanguage = "en"): string {
  const user = userOf(userIndex);
  const updateId = nextUpdateId++;
  const chat = { id: user.id, first_name: user.first_name, last_name: user.last_name, username: user.username, type: "private" };
  const date = Math.floor(Date.now() / 1000);
  if (scenario === "button") {
    const query = fixtures.button.callback_query;
    return JSON.stringify({
      update_id: updateId,
      callback_query: {
        ...query,
        id: `bench-${updateId}`,
        from: { ...query.from, ...user, is_bot: false },
        message: { ...query.message, message_id: nextMessageId++, chat: { ...query.message.chat, ...chat }, date },
        data: `lang:${language}`,
      },
    });
  }
  const message = fixtures[scenario].message;
  return JSON.stringify({
    update_id: updateId,
    message: {
      ...message,
      message_id: nextMessageId++,
      from: { ...message.from, ...user, is_bot: false },
      chat: { ...message.chat, ...chat },
      date,
    },
  });
}

/** One load run. */
export interface LoadOptions {
  /** e.g. "http://127.0.0.1:PORT" */
  origin: string;
  scenario: Scenario;
  secret: string;
  connections: number;
  /** Seconds to run; or `amount` requests, whichever is given (amount wins). */
  durationSeconds?: number;
  amount?: number;
  /** When given, every response's latency (ms) is also pushed here, e.g. to pool several runs. */
  latencies?: number[];
}

/** What one load run measured. */
export interface LoadResult {
  connections: number;
  /** From the start of the run to its last response. */
  durationSeconds: number;
  /** Responses received. */
  responses: number;
  /** 2xx responses per second of `durationSeconds`. */
  updatesPerSecond: number;
  /** Latency of every response, milliseconds (measured per request, not rounded to 1 ms). */
  latencyMs: { p50: number; p90: number; p99: number; mean: number; max: number };
  non2xx: number;
  /** Connection errors and timeouts (no response at all). */
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
}

const round2 = (value: number) => round(value, 2);

/** Sends webhook updates to `POST /bot/webhook/` with the secret header; each request a fresh update. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  let userCursor = 0;
  const latencies: number[] = [];
  const started = performance.now();
  let lastResponseAt = started;
  let finish!: (result: autocannon.Result) => void;
  let fail!: (error: unknown) => void;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const instance = autocannon(
    {
      url: `${options.origin}/bot/webhook/`,
      connections: options.connections,
      ...(options.amount !== undefined ? { amount: options.amount } : { duration: options.durationSeconds ?? 5 }),
      timeout: 30,
      // autocannon notices the end of a run only at its next sample tick (1 s by default): a short tick
      // keeps an `amount` run from idling up to a second after its last response.
      sampleInt: 100,
      requests: [
        {
          method: "POST",
          path: "/bot/webhook/",
          headers: {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": options.secret,
          },
          setupRequest: (request) => ({ ...request, body: makeUpdate(options.scenario, userCursor++ % USERS) }),
        },
      ],
    },
    (error, result) => (error ? fail(error) : finish(result)),
  );
  instance.on("response", (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
    latencies.push(responseTime);
    options.latencies?.push(responseTime);
    lastResponseAt = performance.now();
  });
  const result = await done;
  // Own clock, first request to last response: autocannon's `duration` includes the wait for its tick.
  const seconds = (lastResponseAt - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  const statusCodes: Record<string, number> = {};
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stats.count ?? 0;
  const mean = latencies.length === 0 ? 0 : latencies.reduce((sum, value) => sum + value, 0) / latencies.length;
  return {
    connections: options.connections,
    durationSeconds: round2(seconds),
    responses: latencies.length,
    updatesPerSecond: seconds > 0 ? Math.round(result["2xx"] / seconds) : 0,
    latencyMs: {
      p50: round2(percentile(sorted, 50)),
      p90: round2(percentile(sorted, 90)),
      p99: round2(percentile(sorted, 99)),
      mean: round2(mean),
      max: round2(sorted.at(-1) ?? 0),
    },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
  };
}
