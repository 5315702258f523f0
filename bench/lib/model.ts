/** The shapes of the benchmark's results, shared by bench/run.ts and the report. */
import type { LatencyModel } from "../../scripts/lib/latency-model.js";
import type { BundleAnalysis } from "./bundle.js";
import type { CpuReport } from "./cpu.js";
import type { LatencyModelDetail, LatencyModelRow } from "./latency-model.js";
import type { LoadResult, Scenario } from "./load.js";
import type { RequestCounts } from "./services.js";
import type { CheckStartupResult, ColdStartResult } from "./startup.js";
import type { TargetCheck } from "./targets.js";

/** What a run of `npm run bench` does. */
export interface Settings {
  /** Seconds per measured run. */
  durationSeconds: number;
  /** Measured runs per target and scenario (interleaved); the table shows the best one. */
  rounds: number;
  /** Concurrent connections of the main comparison. */
  connections: number;
  /** Connection counts of the scaling sweep. */
  scaling: number[];
  /** Requests of the warm-up of each target and scenario; their subrequests are the cost per update. */
  warmupAmount: number;
  coldStarts: number;
  startupProfiles: number;
  users: number;
  /** The latency model of the latency table, its interleaved rounds and seconds per run. */
  latencyModel: LatencyModel;
  latencyRounds: number;
  latencyDurationSeconds: number;
}

/** Who answers the webhook. */
export type TargetId = "worker" | "no-ledger" | "bare" | "grammy-node" | "telegraf-node";

/** The scenarios of the throughput rounds; every scenario of a target is warmed up and costed. */
export const THROUGHPUT_SCENARIOS: readonly Scenario[] = ["start", "text"];

/** Each target: its label, its runtime and the scenarios it answers. */
export const TARGETS: Record<TargetId, { label: string; runtime: string; scenarios: Scenario[] }> = {
  worker: { label: "our Worker (src/index.ts): ledger + sessions", runtime: "workerd (Miniflare API)", scenarios: ["start", "text", "button"] },
  "no-ledger": {
    label: "our handlers, no ledger, no sessions (bench/workers/no-ledger.ts)",
    runtime: "workerd (Miniflare API)",
    scenarios: ["start", "text", "button"],
  },
  bare: { label: "bare Hono route → 200 (bench/workers/bare.ts)", runtime: "workerd (Miniflare API)", scenarios: ["start"] },
  "grammy-node": {
    label: "grammY webhookCallback(bot, \"http\"), same createBot",
    runtime: "Node http",
    scenarios: ["start", "text", "button"],
  },
  "telegraf-node": { label: "Telegraf webhookCallback, minimal handlers", runtime: "Node http", scenarios: ["start", "text", "button"] },
};

/** One measured run. */
export interface Run {
  target: TargetId;
  scenario: Scenario;
  round: number;
  load: LoadResult;
  cpu: CpuReport;
  /** CPU ms the server process spent per response. */
  serverCpuMsPerUpdate: number;
}

/** Subrequests per update seen by the local services during a fixed number of updates. */
export interface Cost {
  target: TargetId;
  scenario: Scenario | "start (first contact)";
  updates: number;
  non2xx: number;
  /** Each count divided by the updates; `subrequests` = Redis round trips + Neon requests + Bot API calls. */
  perUpdate: RequestCounts & { subrequests: number };
  botApiMethods: Record<string, number>;
  /** Distinct reply texts sent (sendMessage `text`), with how often: shows the targets answer alike. */
  replies: Record<string, number>;
}

export interface Results {
  meta: Record<string, unknown>;
  settings: Settings;
  /** Per target and scenario: the best round, all rounds' updates/s, the median CPU per update, ratios. */
  throughput: (Run & { rounds: number[]; medianServerCpuMsPerUpdate: number; vsBare: number; vsWorker: number })[];
  cost: Cost[];
  bundles: Record<string, { rawBytes: number; gzipBytes: number; wranglerSays: string | undefined }>;
  /** What the Worker's bundle is made of (esbuild's metafiles of the deployed build and of it unminified). */
  bundleAnalysis: BundleAnalysis | { error: string };
  startup: { checkStartup: CheckStartupResult | { error: string }; miniflareColdStart: ColdStartResult };
  scaling: Run[];
  allRuns: Run[];
  workerLogs: Record<string, { lines: number; problems: string[] }>;
  non2xxTotal: number;
  /** The latency table: p50/p99 with the model on and the critical path of each target and scenario. */
  latency_model: { model: LatencyModel; rows: LatencyModelRow[] };
  /** What the latency table rests on: every round, every counted update, calls after the response. */
  latencyModelDetail: LatencyModelDetail;
  /** The targets, checked against this run. */
  targets: TargetCheck[];
}

