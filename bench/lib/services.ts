/**
 * The storage and Telegram stand-ins the benchmark runs against — the three local services of
 * scripts/lib/local-services.ts (Upstash gateway, Neon gateway, Bot API double), each in a Node process
 * of its own — and their counters, which say how many subrequests the targets made.
 */
import { fileURLToPath } from "node:url";
import type { LatencyModel } from "../../scripts/lib/latency-model.js";
import type { TimedRequest } from "../../scripts/local/request-timing.js";
import { startChild, type Child } from "./child.js";
import type { ServiceChildOptions } from "./services-child.js";

const CHILD = fileURLToPath(new URL("./services-child.ts", import.meta.url));

/** Where the benchmark's data lives, and the made-up credentials the stand-ins accept. */
export interface BenchStorage {
  /** Server URL without a database, e.g. postgres://postgres@127.0.0.1:5432 */
  postgresServer: string;
  database: string;
  redisUrl: string;
  upstashToken: string;
  botToken: string;
}

/** Running services: the variables that point at them, their processes, and their counters. */
export interface Services {
  vars: Record<string, string>;
  pids: { redisGateway: number; neonGateway: number; botApiDouble: number };
  /** Zeroes every counter (gateway stats, recorded Bot API calls and remembered messages). */
  resetCounters(): Promise<void>;
  /** Reads every counter. */
  counters(): Promise<Counters>;
  /** Sets the added latency of each service (`RequestTiming`), from the next request on. */
  setLatency(model: LatencyModel): Promise<void>;
  /** Starts recording each request's arrival and answer afresh, at every service. */
  startTimelines(): Promise<void>;
  /** What was recorded since `startTimelines`, per service; recording stops. */
  takeTimelines(): Promise<Timelines>;
  close(): Promise<void>;
}

/** Each service's requests (arrival, answer) on the machine's shared clock. */
export interface Timelines {
  redis: TimedRequest[];
  neon: TimedRequest[];
  telegram: TimedRequest[];
}

/** Requests the services received, by kind. */
export interface RequestCounts {
  /** HTTP requests to the Upstash gateway (one per Redis round trip: a command or a pipeline). */
  redisRoundTrips: number;
  /** Redis commands inside those requests. */
  redisCommands: number;
  /** `/sql` requests to the Neon gateway. */
  neonRequests: number;
  /** Bot API calls recorded by the double. */
  botApiCalls: number;
}

/** What the services saw since the last reset. */
export interface Counters extends RequestCounts {
  /** Bot API calls by method. */
  botApiMethods: Record<string, number>;
  /** Distinct `text` of the messages sent, with counts (at most 10 texts). */
  replies: Record<string, number>;
}

/** A service process; it announces the variables that point at it. */
type ServiceChild = Child<Record<string, string>>;

function startService(options: ServiceChildOptions): Promise<ServiceChild> {
  return startChild(CHILD, { BENCH_SERVICE: JSON.stringify(options) }, `local service "${options.only}"`);
}

async function getJson<T>(url: string, token?: string): Promise<T> {
  const response = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (!response.ok) throw new Error(`GET ${new URL(url).pathname} answered ${response.status}`);
  return (await response.json()) as T;
}

async function send(method: string, url: string, token?: string): Promise<void> {
  const response = await fetch(url, { method, headers: token ? { Authorization: `Bearer ${token}` } : {} });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`${method} ${new URL(url).pathname} answered ${response.status}`);
}

/** Starts the Upstash gateway, the Neon gateway (migrating the database) and the Bot API double. */
export async function startServices(storage: BenchStorage): Promise<Services> {
  const base = {
    redisUrl: storage.redisUrl,
    postgresUrl: `${storage.postgresServer}/${storage.database}`,
    upstashToken: storage.upstashToken,
    botToken: storage.botToken,
  };
  const started: ServiceChild[] = [];
  try {
    for (const only of ["redis", "neon", "botApi"] as const) started.push(await startService({ ...base, only }));
  } catch (error) {
    await Promise.all(started.map((child) => child.stop()));
    throw error;
  }
  const [redis, neon, botApi] = started as [ServiceChild, ServiceChild, ServiceChild];
  const vars = { ...redis.ready, ...neon.ready, ...botApi.ready };
  const redisUrl = vars.UPSTASH_REDIS_REST_URL!;
  const neonOrigin = new URL(vars.NEON_HTTP_ENDPOINT!).origin;
  const botApiUrl = vars.TELEGRAM_API_ROOT!;
  // Each service and the token its controls want.
  const controls = [
    [redisUrl, storage.upstashToken],
    [neonOrigin, undefined],
    [botApiUrl, undefined],
  ] as const;
  return {
    vars,
    pids: { redisGateway: redis.pid, neonGateway: neon.pid, botApiDouble: botApi.pid },
    async resetCounters() {
      await Promise.all([
        send("POST", `${redisUrl}/__control/stats/reset`, storage.upstashToken),
        send("POST", `${neonOrigin}/__control/stats/reset`),
        // reset, not just DELETE /calls: it also forgets the messages the double remembers for edits.
        send("POST", `${botApiUrl}/__control/reset`),
      ]);
    },
    async counters() {
      const [redisStats, neonStats, calls] = await Promise.all([
        getJson<{ requests: number; commands: number }>(`${redisUrl}/__control/stats`, storage.upstashToken),
        getJson<{ requests: number }>(`${neonOrigin}/__control/stats`),
        getJson<{ method: string; params: { text?: unknown } }[]>(`${botApiUrl}/__control/calls`),
      ]);
      const botApiMethods: Record<string, number> = {};
      const replies: Record<string, number> = {};
      for (const call of calls) {
        botApiMethods[call.method] = (botApiMethods[call.method] ?? 0) + 1;
        const text = typeof call.params.text === "string" ? call.params.text : undefined;
        if (text !== undefined && (text in replies || Object.keys(replies).length < 10)) replies[text] = (replies[text] ?? 0) + 1;
      }
      return {
        redisRoundTrips: redisStats.requests,
        redisCommands: redisStats.commands,
        neonRequests: neonStats.requests,
        botApiCalls: calls.length,
        botApiMethods,
        replies,
      };
    },
    async setLatency(model) {
      const ms = [model.upstash, model.neon, model.telegram];
      await Promise.all(controls.map(([origin, token], index) => send("POST", `${origin}/__control/latency?ms=${ms[index]}`, token)));
    },
    async startTimelines() {
      await Promise.all(controls.map(([origin, token]) => send("POST", `${origin}/__control/timeline`, token)));
    },
    async takeTimelines() {
      const [redis, neon, telegram] = await Promise.all(
        controls.map(async ([origin, token]) => {
          const { requests } = await getJson<{ requests: TimedRequest[] }>(`${origin}/__control/timeline`, token);
          await send("DELETE", `${origin}/__control/timeline`, token);
          return requests;
        }),
      );
      return { redis: redis!, neon: neon!, telegram: telegram! };
    },
    close: async () => {
      await Promise.all(started.map((child) => child.stop()));
    },
  };
}
