/**
 * Worker startup: `wrangler check startup` (workerd's CPU profile of the startup phase, offline) and the
 * wall-clock cold start of the bundle in Miniflare (new Miniflare → first 200 on /bot/health).
 */
import { readFileSync } from "node:fs";
import { runWrangler } from "../../scripts/lib/worker-bundle.js";
import { median, round } from "./stats.js";
import { startWorkerd } from "./workerd.js";

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** What one or more startup profiles say. */
export interface StartupProfile {
  /** CPU time (ms) that was not idle during the startup phase: wrangler's "Active". */
  activeMs: number;
  /** …of which garbage collection. */
  gcMs: number;
  /** Length of the profiled window. */
  windowMs: number;
  samples: number;
}

/** Active startup CPU by package (self time, node-internal frames charged to the bundle frame that called them). */
type StartupByPackage = Record<string, number>;

/** Module boundaries of an esbuild bundle: `// node_modules/pkg/...` and `// src/...` comment lines. */
function moduleMap(bundle: string): { line: number; name: string }[] {
  const marks: { line: number; name: string }[] = [];
  bundle.split("\n").forEach((text, index) => {
    const path = /^\/\/ ((?:node_modules|src)\/\S+)$/.exec(text)?.[1];
    if (path === undefined) return;
    const pkg = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
    marks.push({ line: index, name: pkg ?? "src (the bot's own code)" });
  });
  return marks;
}

function analyse(profile: CpuProfile, marks: { line: number; name: string }[], byPackage: StartupByPackage): StartupProfile {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const packageOf = (id: number): string => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame === undefined) break;
      if (frame.url.endsWith(".js") && !frame.url.startsWith("node-internal") && frame.lineNumber >= 0) {
        let name = "(bundle prelude)";
        for (const mark of marks) if (mark.line <= frame.lineNumber) name = mark.name;
        return name;
      }
    }
    return "(runtime)";
  };
  let active = 0;
  let gc = 0;
  profile.samples.forEach((id, index) => {
    const delta = (profile.timeDeltas[index] ?? 0) / 1000;
    const name = byId.get(id)?.callFrame.functionName;
    if (name === "(idle)") return;
    active += delta;
    if (name === "(garbage collector)") {
      gc += delta;
      byPackage["(garbage collector)"] = (byPackage["(garbage collector)"] ?? 0) + delta;
      return;
    }
    const pkg = packageOf(id);
    byPackage[pkg] = (byPackage[pkg] ?? 0) + delta;
  });
  return {
    activeMs: active,
    gcMs: gc,
    windowMs: (profile.endTime - profile.startTime) / 1000,
    samples: profile.samples.length,
  };
}

const round1 = (value: number) => round(value, 1);

/** Result of `wrangler check startup`, repeated. */
export interface CheckStartupResult {
  command: string;
  runs: StartupProfile[];
  medianActiveMs: number;
  medianGcMs: number;
  /** Active ms per package over all runs, divided by the number of runs; largest first. */
  byPackage: { name: string; ms: number }[];
  /** True when the profiled bundle is byte-for-byte the JS of `wrangler deploy --dry-run --outdir`. */
  sameBundleAsOutdir: boolean;
}

/**
 * `wrangler deploy --dry-run --outfile` (the upload form) once, then `wrangler check startup --worker` on
 * it `times` times; each run writes a CPU profile, which is read here. Time per package needs the module
 * marks of an unminified bundle; a minified one (as deployed) gives the total only.
 */
export async function checkStartup(outDir: string, outdirBundlePath: string, times: number): Promise<CheckStartupResult> {
  const uploadForm = `${outDir}/worker.upload-form`;
  await runWrangler(["deploy", "--dry-run", "--outfile", uploadForm]);
  const js = readFileSync(outdirBundlePath);
  const sameBundleAsOutdir = readFileSync(uploadForm).includes(js);
  const marks = moduleMap(js.toString("utf8"));
  const byPackage: StartupByPackage = {};
  const runs: StartupProfile[] = [];
  for (let index = 0; index < times; index++) {
    const profilePath = `${outDir}/startup-${index}.cpuprofile`;
    await runWrangler(["check", "startup", "--worker", uploadForm, "--outfile", profilePath]);
    runs.push(analyse(JSON.parse(readFileSync(profilePath, "utf8")) as CpuProfile, marks, byPackage));
  }
  return {
    command: "wrangler check startup --worker <wrangler deploy --dry-run --outfile>",
    runs: runs.map((run) => ({ ...run, activeMs: round1(run.activeMs), gcMs: round1(run.gcMs), windowMs: round1(run.windowMs) })),
    medianActiveMs: round1(median(runs.map((run) => run.activeMs))),
    medianGcMs: round1(median(runs.map((run) => run.gcMs))),
    byPackage: Object.entries(byPackage)
      .map(([name, ms]) => ({ name, ms: round1(ms / times) }))
      .sort((a, b) => b.ms - a.ms),
    sameBundleAsOutdir,
  };
}

/** Wall-clock cold starts in Miniflare. */
export interface ColdStartResult {
  /** new Miniflare(...) → first 200 on GET /bot/health, ms. */
  toHealthMs: number[];
  /** Then the first webhook update on that fresh isolate (builds the runtime: config, clients, bot), ms. */
  firstUpdateMs: number[];
  medianToHealthMs: number;
  medianFirstUpdateMs: number;
}

/** Starts the bundle `times` times in a fresh Miniflare/workerd and times the first requests. */
export async function coldStarts(
  times: number,
  start: Parameters<typeof startWorkerd>[0],
  firstUpdate: () => { body: string; secret: string },
): Promise<ColdStartResult> {
  const toHealth: number[] = [];
  const first: number[] = [];
  for (let index = 0; index < times; index++) {
    const began = performance.now();
    const instance = await startWorkerd(start);
    try {
      let response = await fetch(`${instance.origin}/bot/health`);
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`cold start: /bot/health answered ${response.status}`);
      toHealth.push(performance.now() - began);
      const { body, secret } = firstUpdate();
      const sent = performance.now();
      response = await fetch(`${instance.origin}/bot/webhook/`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret },
        body,
      });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`cold start: first update answered ${response.status}`);
      first.push(performance.now() - sent);
    } finally {
      await instance.dispose();
    }
  }
  return {
    toHealthMs: toHealth.map(round1),
    firstUpdateMs: first.map(round1),
    medianToHealthMs: round1(median(toHealth)),
    medianFirstUpdateMs: round1(median(first)),
  };
}
