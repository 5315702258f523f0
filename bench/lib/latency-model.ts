/**
 * The latency table: the targets with the production latency model on (`Services.setLatency`), p50/p99
 * per update at 10 connections over interleaved rounds, and a sequential counting pass that attributes
 * every service call to the webhook request that caused it (critical-path.ts).
 */
import { NO_LATENCY, type LatencyModel } from "../../scripts/lib/latency-model.js";
import { sharedClockMs } from "../../scripts/local/request-timing.js";
import { longestChain, shareOf, type ServiceShare, type WebhookWindow } from "./critical-path.js";
import { makeUpdate, runLoad, type ButtonLanguage, type LoadResult, type Scenario } from "./load.js";
import type { Services, Timelines } from "./services.js";
import { percentile, round } from "./stats.js";

/** The targets of the latency table. */
export const LATENCY_TARGETS = ["worker", "no-ledger", "grammy-node", "telegraf-node"] as const;
export type LatencyTargetId = (typeof LATENCY_TARGETS)[number];
export const LATENCY_SCENARIOS: readonly Scenario[] = ["start", "text", "button"];
/** Concurrent connections of the latency runs. */
export const LATENCY_CONNECTIONS = 10;
/** Updates of each target and scenario in the counting pass, one at a time. */
const COUNTED_UPDATES = 8; // even: the language-change presses end on the load's language

type Service = keyof Timelines;
const SERVICES: Service[] = ["redis", "neon", "telegram"];
/** Each service and its figure in the latency model. */
const SERVICES_OF_MODEL: [Service, keyof LatencyModel][] = [
  ["redis", "upstash"],
  ["neon", "neon"],
  ["telegram", "telegram"],
];

/** One row of `latency_model.rows` (the shape the issue asks for). */
export interface LatencyModelRow {
  target: LatencyTargetId;
  scenario: Scenario;
  p50_ms: number;
  p99_ms: number;
  /** Sequential calls per service before the response, mean over the counted updates. */
  critical_path: Record<Service, number>;
}

/** What one target and scenario showed in the counting pass. */
export interface CountedPath {
  target: LatencyTargetId;
  /** `button (language changes)`: presses that alternate ru/en, so every one changes the session. */
  scenario: Scenario | "button (language changes)";
  updates: number;
  /** Per service: sequential steps, calls before the response and calls after it, mean per update. */
  perService: Record<Service, ServiceShare>;
  /** Sequential steps per update, per service, as counted (to show whether they vary). */
  sequentialByUpdate: Record<Service, number[]>;
  /** The longest chain across all services: sequential round trips before the response, mean per update. */
  sequentialTotal: number;
  /** Updates answered with a Bot API call in the webhook response body (Telegram makes it; no round trip). */
  webhookReplies: number;
  non2xx: number;
  /** The last counted update's calls, ms from when it was sent (the answer came at `answeredMs`). */
  lastUpdate: { answeredMs: number; calls: { service: Service; what: string; arrivedMs: number; answeredMs: number }[] };
}

export interface LatencyModelDetail {
  connections: number;
  rounds: { target: LatencyTargetId; scenario: Scenario; round: number; load: LoadResult }[];
  /** All rounds' latencies pooled, per target and scenario. */
  pooled: { target: LatencyTargetId; scenario: Scenario; responses: number; p50_ms: number; p90_ms: number; p99_ms: number }[];
  counted: CountedPath[];
  /** How the latency targets differ from the main comparison's. */
  note: string;
}

/** What the latency table needs from the run. */
export interface LatencySection {
  services: Services;
  /** The targets, started for this table (see `note`). */
  origins: Record<LatencyTargetId, string>;
  secret: string;
  model: LatencyModel;
  rounds: number;
  durationSeconds: number;
  users: number;
  progress(message: string): void;
  /** Reports answers other than 2xx (the run fails on any). */
  check(what: string, answers: Pick<LoadResult, "non2xx" | "errors" | "statusCodes">): void;
}

const NOTE =
  "The Worker, no-ledger and grammY-on-Node instances of this table run with the per-user rate limiter on " +
  "(RATE_LIMIT_PER_MINUTE=100000: its Redis call is made, as in production, and the load never reaches the limit); " +
  "the main comparison turns it off.";

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Runs the latency rounds and the counting pass with `model` on; leaves the services without latency. */
export async function measureLatencyModel(section: LatencySection): Promise<{ rows: LatencyModelRow[]; detail: LatencyModelDetail }> {
  const { services, model } = section;
  const instant = SERVICES_OF_MODEL.filter(([, name]) => model[name] === 0).map(([service]) => service);
  if (instant.length > 0) {
    section.progress(`!! no latency for ${instant.join(", ")}: calls made after the response may be counted on its critical path`);
  }
  await services.setLatency(model);
  try {
    const rounds: LatencyModelDetail["rounds"] = [];
    const latencies = new Map<string, number[]>();
    for (let roundNumber = 1; roundNumber <= section.rounds; roundNumber++) {
      for (const scenario of LATENCY_SCENARIOS) {
        for (const target of LATENCY_TARGETS) {
          await sleep(300); // let the previous run's connections close
          const key = `${target}/${scenario}`;
          if (!latencies.has(key)) latencies.set(key, []);
          const load = await runLoad({
            origin: section.origins[target],
            scenario,
            secret: section.secret,
            connections: LATENCY_CONNECTIONS,
            durationSeconds: section.durationSeconds,
            latencies: latencies.get(key),
          });
          section.check(`latency model ${target} ${scenario}`, load);
          rounds.push({ target, scenario, round: roundNumber, load });
          section.progress(
            `latency model round ${roundNumber} ${target} ${scenario}: p50 ${load.latencyMs.p50} ms, p99 ${load.latencyMs.p99} ms, ${load.updatesPerSecond} updates/s`,
          );
        }
      }
    }
    const pooled = [...latencies].map(([key, values]) => {
      const [target, scenario] = key.split("/") as [LatencyTargetId, Scenario];
      const sorted = Float64Array.from(values).sort();
      return {
        target,
        scenario,
        responses: sorted.length,
        p50_ms: round(percentile(sorted, 50), 2),
        p90_ms: round(percentile(sorted, 90), 2),
        p99_ms: round(percentile(sorted, 99), 2),
      };
    });

    const counted: CountedPath[] = [];
    // Long enough for work after a response (a done mark, a late call) to be answered before the next update.
    const gapMs = Math.max(model.upstash, model.neon, model.telegram) * 2 + 30;
    // Handlers of requests the last round's load gave up on at its end may still be calling out.
    await sleep(1000);
    for (const target of LATENCY_TARGETS) {
      for (const scenario of [...LATENCY_SCENARIOS, ...(target === "worker" ? (["button (language changes)"] as const) : [])]) {
        const path = await countCriticalPath(section, target, scenario, gapMs);
        counted.push(path);
        section.progress(
          `critical path ${target} ${scenario}: ${SERVICES.map((service) => `${service} ${path.perService[service].sequential}`).join(", ")} sequential; ` +
            `${SERVICES.map((service) => `${service} ${path.perService[service].afterResponse}`).join(", ")} after the response`,
        );
      }
    }

    const rows = pooled.map(({ target, scenario, p50_ms, p99_ms }): LatencyModelRow => {
      const path = counted.find((entry) => entry.target === target && entry.scenario === scenario)!;
      return {
        target,
        scenario,
        p50_ms,
        p99_ms,
        critical_path: {
          redis: path.perService.redis.sequential,
          neon: path.perService.neon.sequential,
          telegram: path.perService.telegram.sequential,
        },
      };
    });
    return { rows, detail: { connections: LATENCY_CONNECTIONS, rounds, pooled, counted, note: NOTE } };
  } finally {
    await services.setLatency(NO_LATENCY);
  }
}

/**
 * Sends `COUNTED_UPDATES` updates one at a time (a gap after each answer) while the services record
 * their requests, then attributes each request to the update in whose window it arrived.
 */
async function countCriticalPath(
  section: LatencySection,
  target: LatencyTargetId,
  scenario: CountedPath["scenario"],
  gapMs: number,
): Promise<CountedPath> {
  const { services } = section;
  const windows: Omit<WebhookWindow, "nextSentAt">[] = [];
  let webhookReplies = 0;
  let non2xx = 0;
  const statusCodes: Record<string, number> = {};
  await sleep(gapMs);
  await services.startTimelines();
  for (let index = 0; index < COUNTED_UPDATES; index++) {
    // Language changes: one user alternates ru/en (ending on en, the load's choice), so each press changes the session.
    const changes = scenario === "button (language changes)";
    const language: ButtonLanguage = changes && index % 2 === 0 ? "ru" : "en";
    const body = makeUpdate(changes ? "button" : scenario, changes ? 0 : index % section.users, language);
    const sentAt = sharedClockMs();
    const response = await fetch(`${section.origins[target]}/bot/webhook/`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": section.secret },
      body,
    });
    const answeredAt = sharedClockMs();
    const text = await response.text();
    statusCodes[response.status] = (statusCodes[response.status] ?? 0) + 1;
    if (response.status < 200 || response.status >= 300) non2xx++;
    if (/"method"\s*:/.test(text)) webhookReplies++;
    windows.push({ sentAt, answeredAt });
    await sleep(gapMs);
  }
  const timelines = await services.takeTimelines();
  const sequentialByUpdate = { redis: [] as number[], neon: [] as number[], telegram: [] as number[] };
  const sums = Object.fromEntries(SERVICES.map((service) => [service, { sequential: 0, calls: 0, afterResponse: 0 }])) as Record<
    Service,
    ServiceShare
  >;
  let total = 0;
  windows.forEach((window, index) => {
    const full: WebhookWindow = { ...window, nextSentAt: windows[index + 1]?.sentAt ?? Number.POSITIVE_INFINITY };
    const waitedFor = [];
    for (const service of SERVICES) {
      const share = shareOf(full, timelines[service]);
      sequentialByUpdate[service].push(share.sequential);
      sums[service].sequential += share.sequential;
      sums[service].calls += share.calls;
      sums[service].afterResponse += share.afterResponse;
      waitedFor.push(...timelines[service].filter(([arrivedAt, answeredAt]) => arrivedAt >= full.sentAt && answeredAt <= full.answeredAt));
    }
    total += longestChain(waitedFor);
  });
  const last = windows.at(-1)!;
  const since = (at: number) => round(at - last.sentAt, 1);
  const lastUpdate = {
    answeredMs: since(last.answeredAt),
    calls: SERVICES.flatMap((service) =>
      timelines[service]
        .filter(([arrivedAt]) => arrivedAt >= last.sentAt)
        .map(([arrivedAt, answeredAt, what]) => ({ service, what: what ?? "", arrivedMs: since(arrivedAt), answeredMs: since(answeredAt) })),
    ).sort((a, b) => a.arrivedMs - b.arrivedMs),
  };
  const mean = (value: number) => round(value / windows.length, 2);
  const perService = Object.fromEntries(
    SERVICES.map((service) => [
      service,
      { sequential: mean(sums[service].sequential), calls: mean(sums[service].calls), afterResponse: mean(sums[service].afterResponse) },
    ]),
  ) as Record<Service, ServiceShare>;
  section.check(`critical path ${target} ${scenario}`, { non2xx, errors: 0, statusCodes });
  return { target, scenario, updates: windows.length, perService, sequentialByUpdate, sequentialTotal: mean(total), webhookReplies, non2xx, lastUpdate };
}
