/**
 * The targets of issue 13, each checked against a run's results: met or not, by how much, and what the
 * measurements say about why.
 */
import type { Results as FullResults } from "./model.js";

/** The results the targets are checked against (everything but the targets). */
type Results = Omit<FullResults, "targets">;
import type { Scenario } from "./load.js";
import { round } from "./stats.js";

/** One target and what the run says about it. */
export interface TargetCheck {
  target: string;
  /** What was measured, in words and numbers. */
  measured: string;
  met: boolean;
  /** When missed: by how much, and why (from the measurements). */
  missedBy?: string;
  why?: string;
}

const KIB = 1024;
const BUNDLE_LIMIT_KIB = 120;
const STARTUP_LIMIT_MS = 15;
const SCENARIO_NAMES: Record<string, string> = { start: "/start", text: "plain text", button: "button press" };
const name = (scenario: string) => SCENARIO_NAMES[scenario] ?? scenario;
const fixed = (value: number) => (Math.abs(value) < 10 ? value.toFixed(2) : value.toFixed(1));

/** Every target of the issue, in its order. */
export function checkTargets(results: Results): TargetCheck[] {
  return [...latencyTargets(results), ...criticalPathTargets(results), ...throughputTargets(results), bundleTarget(results), startupTarget(results)];
}

function latencyTargets(results: Results): TargetCheck[] {
  const { model, rows } = results.latency_model;
  const row = (target: string, scenario: Scenario) => rows.find((entry) => entry.target === target && entry.scenario === scenario);
  /** What the counted critical path alone costs under the model, ms. */
  const modelled = (entry: NonNullable<ReturnType<typeof row>>) =>
    round(entry.critical_path.redis * model.upstash + entry.critical_path.neon * model.neon + entry.critical_path.telegram * model.telegram, 1);
  const path = (entry: NonNullable<ReturnType<typeof row>>) =>
    `${entry.critical_path.redis} Redis + ${entry.critical_path.neon} Neon + ${entry.critical_path.telegram} Bot API sequential calls ≈ ${modelled(entry)} ms of round trips`;
  const checks: TargetCheck[] = [];
  for (const [peer, peerName] of [
    ["grammy-node", "grammY-on-Node"],
    ["telegraf-node", "Telegraf"],
  ] as const) {
    for (const scenario of ["start", "text", "button"] as const) {
      const ours = row("worker", scenario);
      const theirs = row(peer, scenario);
      const target = `latency model on, ${name(scenario)}: our Worker's p50 ≤ 0.5× ${peerName}'s`;
      if (ours === undefined || theirs === undefined) {
        checks.push({ target, measured: "not measured", met: false, missedBy: "—", why: "no latency-model row" });
        continue;
      }
      const ratio = theirs.p50_ms > 0 ? ours.p50_ms / theirs.p50_ms : Number.POSITIVE_INFINITY;
      const check: TargetCheck = {
        target,
        measured: `${fixed(ours.p50_ms)} ms vs ${fixed(theirs.p50_ms)} ms = ${ratio.toFixed(2)}×`,
        met: ratio <= 0.5,
      };
      if (!check.met) {
        check.missedBy = `${(ratio - 0.5).toFixed(2)}× over (p50 ${fixed(ours.p50_ms - theirs.p50_ms / 2)} ms above half of ${peerName}'s)`;
        check.why = `ours: ${path(ours)}; ${peerName}: ${path(theirs)}`;
      }
      checks.push(check);
    }
  }
  return checks;
}

function criticalPathTargets(results: Results): TargetCheck[] {
  const counted = results.latencyModelDetail.counted.filter((entry) => entry.target === "worker");
  const checks: TargetCheck[] = [];
  for (const entry of counted) {
    const changes = entry.scenario === "button (language changes)";
    const limit = changes ? 2 : 1;
    const redis = entry.perService.redis;
    const check: TargetCheck = {
      target: `critical path, ${changes ? "a button press that changes the session" : `steady-state ${name(entry.scenario)}`}: ≤ ${limit} sequential Redis call${limit > 1 ? "s" : ""}`,
      measured: `${redis.sequential} sequential (${redis.calls} calls before the response, ${redis.afterResponse} after it)`,
      met: redis.sequential <= limit,
    };
    if (!check.met) {
      check.missedBy = `${round(redis.sequential - limit, 2)} more`;
      check.why = `each Redis request on the critical path is a round trip of its own: ${redis.sequential} of them one after another before the answer`;
    }
    checks.push(check);
  }
  for (const entry of counted.filter((item) => item.scenario === "start" || item.scenario === "text")) {
    const telegram = entry.perService.telegram;
    const check: TargetCheck = {
      target: `critical path, ${name(entry.scenario)} (a single reply): 0 Bot API calls before the response`,
      measured: `${telegram.sequential} sequential (${telegram.calls} calls); reply on the webhook response in ${entry.webhookReplies} of ${entry.updates} updates`,
      met: telegram.calls === 0,
    };
    if (!check.met) {
      check.missedBy = `${telegram.calls} call(s) per update`;
      check.why = "the reply is a Bot API request of its own before the response, not the webhook response's body";
    }
    checks.push(check);
  }
  return checks;
}

function throughputTargets(results: Results): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const row = (target: string, scenario: Scenario) => results.throughput.find((entry) => entry.target === target && entry.scenario === scenario);
  for (const scenario of ["start", "text"] as const) {
    const ours = row("worker", scenario);
    const theirs = row("grammy-node", scenario);
    if (ours === undefined || theirs === undefined) continue;
    const ratio = theirs.load.updatesPerSecond > 0 ? ours.load.updatesPerSecond / theirs.load.updatesPerSecond : 0;
    const cpu = `server CPU ${fixed(ours.medianServerCpuMsPerUpdate)} vs ${fixed(theirs.medianServerCpuMsPerUpdate)} ms/update`;
    const throughput: TargetCheck = {
      target: `no latency model, ${name(scenario)}: throughput ≥ 1.0× grammY-on-Node`,
      measured: `${ours.load.updatesPerSecond} vs ${theirs.load.updatesPerSecond} updates/s = ${ratio.toFixed(2)}×`,
      met: ratio >= 1,
    };
    if (!throughput.met) {
      throughput.missedBy = `${(1 - ratio).toFixed(2)}× short`;
      throughput.why = `${cpu}: the servers are single-threaded and saturated, so throughput follows CPU per update`;
    }
    const cpuCheck: TargetCheck = {
      target: `no latency model, ${name(scenario)}: server CPU ms/update ≤ grammY-on-Node's`,
      measured: cpu,
      met: ours.medianServerCpuMsPerUpdate <= theirs.medianServerCpuMsPerUpdate,
    };
    if (!cpuCheck.met) {
      const extra = ours.medianServerCpuMsPerUpdate - theirs.medianServerCpuMsPerUpdate;
      const cost = results.cost.find((entry) => entry.target === "worker" && entry.scenario === scenario)?.perUpdate;
      cpuCheck.missedBy = `${fixed(extra)} ms/update more (${theirs.medianServerCpuMsPerUpdate > 0 ? ((extra / theirs.medianServerCpuMsPerUpdate) * 100).toFixed(0) : "?"}%)`;
      cpuCheck.why =
        `our Worker makes ${cost?.subrequests ?? "?"} subrequests per update (${cost?.redisRoundTrips ?? "?"} Redis) and writes a log line; ` +
        "each fetch() from workerd costs CPU that an in-process call does not";
    }
    checks.push(throughput, cpuCheck);
  }
  return checks;
}

function bundleTarget(results: Results): TargetCheck {
  const gzip = (results.bundles.worker?.gzipBytes ?? 0) / KIB;
  const check: TargetCheck = { target: `bundle ≤ ${BUNDLE_LIMIT_KIB} KiB gzip`, measured: `${gzip.toFixed(1)} KiB gzip`, met: gzip <= BUNDLE_LIMIT_KIB };
  if (!check.met) {
    check.missedBy = `${(gzip - BUNDLE_LIMIT_KIB).toFixed(1)} KiB over`;
    const analysis = results.bundleAnalysis;
    check.why =
      "error" in analysis
        ? "no bundle analysis"
        : `largest (gzip each costs): ${analysis.parts
            .slice(0, 5)
            .map((part) => `${part.name} ${(part.gzipSavedBytes / KIB).toFixed(1)} KiB`)
            .join(", ")} (of the unminified build; the deployed one is minified)`;
  }
  return check;
}

function startupTarget(results: Results): TargetCheck {
  const startup = results.startup.checkStartup;
  if ("error" in startup) return { target: `startup CPU ≤ ${STARTUP_LIMIT_MS} ms`, measured: "not measured", met: false, missedBy: "—", why: startup.error };
  const check: TargetCheck = {
    target: `startup CPU (wrangler check startup) ≤ ${STARTUP_LIMIT_MS} ms`,
    measured: `${fixed(startup.medianActiveMs)} ms (median of ${startup.runs.length})`,
    met: startup.medianActiveMs <= STARTUP_LIMIT_MS,
  };
  if (!check.met) {
    check.missedBy = `${fixed(startup.medianActiveMs - STARTUP_LIMIT_MS)} ms over`;
    check.why = `by package: ${startup.byPackage
      .slice(0, 4)
      .map((entry) => `${entry.name} ${fixed(entry.ms)} ms`)
      .join(", ")} ("(runtime)" is mostly compiling the script)`;
  }
  return check;
}
