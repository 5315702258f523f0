/** From raw measurements to the figures of the report: the row of each target, ratios, cost per update. */
import type { Cost, Results, Run } from "./model.js";
import type { Counters } from "./services.js";
import { median, ratio, round } from "./stats.js";

/**
 * One row per target and scenario, in the order the runs were made. The row is the round with the most
 * updates/s: rounds are interleaved, so every target had the same chances, and on a shared machine the
 * best round is the least disturbed one. CPU per update is the median of all rounds (it hardly depends on
 * disturbance). Ratios are to the bare route and to our Worker in the same scenario.
 */
export function summariseRounds(runs: Run[]): Results["throughput"] {
  const rows = new Map<string, Run & { rounds: number[]; medianServerCpuMsPerUpdate: number }>();
  for (const run of runs) {
    const key = `${run.target}/${run.scenario}`;
    if (rows.has(key)) continue;
    const same = runs.filter((other) => other.target === run.target && other.scenario === run.scenario);
    const best = same.reduce((a, b) => (b.load.updatesPerSecond > a.load.updatesPerSecond ? b : a));
    rows.set(key, {
      ...best,
      rounds: same.map((other) => other.load.updatesPerSecond),
      medianServerCpuMsPerUpdate: round(median(same.map((other) => other.serverCpuMsPerUpdate)), 2),
    });
  }
  const updatesPerSecond = (key: string) => rows.get(key)?.load.updatesPerSecond ?? 0;
  const bare = updatesPerSecond("bare/start");
  return [...rows.values()].map((row) => ({
    ...row,
    vsBare: ratio(row.load.updatesPerSecond, bare),
    vsWorker: ratio(row.load.updatesPerSecond, updatesPerSecond(`worker/${row.scenario}`)),
  }));
}

/** The services' counts divided by the updates that caused them, two decimals. */
export function perUpdate(counters: Counters, updates: number): Cost["perUpdate"] {
  const per = (value: number) => (updates > 0 ? round(value / updates, 2) : 0);
  return {
    redisRoundTrips: per(counters.redisRoundTrips),
    redisCommands: per(counters.redisCommands),
    neonRequests: per(counters.neonRequests),
    botApiCalls: per(counters.botApiCalls),
    subrequests: per(counters.redisRoundTrips + counters.neonRequests + counters.botApiCalls),
  };
}
