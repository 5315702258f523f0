/** bench/results.md from the results: the tables, then what they rest on. */
import { formatLatencyModel } from "../../scripts/lib/latency-model.js";
import { TARGETS, type Results, type Run } from "./model.js";

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const ms = (value: number) => (value < 10 ? value.toFixed(2) : value.toFixed(1));
const times = (ratio: number) => `${ratio.toFixed(2)}×`;
const SCENARIO_NAMES: Record<string, string> = {
  start: "/start",
  text: "plain text",
  button: "button press",
  "start (first contact)": "/start, first contact",
};
const scenarioName = (scenario: string) => SCENARIO_NAMES[scenario] ?? scenario;

function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

function cpuRow(label: string, run: Run): (string | number)[] {
  const p = run.cpu.percent;
  return [
    label,
    p.loadGenerator ?? 0,
    p.server ?? 0,
    p.upstashGateway ?? 0,
    p.neonGateway ?? 0,
    p.botApiDouble ?? 0,
    p.redis ?? 0,
    p.postgres ?? 0,
    run.cpu.unattributedPercent,
    run.cpu.machinePercent,
  ];
}

/** The markdown of bench/results.md: every table of the run, with the few lines needed to read them. */
export function renderMarkdown(results: Results): string {
  const { settings, meta } = results;
  const machine = meta.machine as { cores: number; model: string };
  const out: string[] = [];
  out.push("# Benchmark results (`npm run bench`)");
  out.push("");
  out.push(
    `${String(meta.date).slice(0, 16).replace("T", " ")} UTC · ${machine.cores} cores (${machine.model}) · Node ${String(meta.node)} · ` +
      `wrangler ${String(meta.wrangler)} · Miniflare ${String(meta.miniflare)} / workerd ${String(meta.workerd)} · grammY ${String(meta.grammy)} · ` +
      `Hono ${String(meta.hono)} · Telegraf ${String(meta.telegraf)} · autocannon ${String(meta.autocannon)}`,
  );
  out.push("");
  out.push(
    "Workers ran in **workerd through Miniflare's API** (`new Miniflare(...)`, workerd listening on 127.0.0.1 itself; " +
      "not `wrangler dev`), built by `wrangler deploy --dry-run --outdir`. Everything — load generator, servers, gateways, " +
      "Redis, PostgreSQL — shares this machine's cores, so the numbers compare the targets with each other; they are not " +
      "production capacity. How to read them: bench/README.md.",
  );
  out.push("");

  out.push("## Targets (issue 13)");
  out.push("");
  out.push(
    table(
      ["target", "measured", "met", "missed by", "why (from the measurements)"],
      results.targets.map((check) => [check.target, check.measured, check.met ? "**yes**" : "no", check.missedBy ?? "", check.why ?? ""]),
    ),
  );
  out.push("");

  out.push(
    `## Throughput and latency — ${settings.connections} connections, best of ${settings.rounds} interleaved rounds × ${settings.durationSeconds} s`,
  );
  out.push("");
  out.push(
    table(
      ["target", "runtime", "scenario", "updates/s", "p50 ms", "p99 ms", "non-2xx", "vs bare", "vs our Worker (same scenario)", "server CPU ms/update (median)", "all rounds (updates/s)"],
      results.throughput.map((run) => [
        TARGETS[run.target].label,
        TARGETS[run.target].runtime,
        run.target === "bare" ? "any (body not read)" : scenarioName(run.scenario),
        run.load.updatesPerSecond,
        ms(run.load.latencyMs.p50),
        ms(run.load.latencyMs.p99),
        run.load.non2xx + run.load.errors,
        times(run.vsBare),
        run.target === "bare" ? "—" : times(run.vsWorker),
        ms(run.medianServerCpuMsPerUpdate),
        run.rounds.join(" / "),
      ]),
    ),
  );
  out.push("");

  out.push("What is and is not the same in the rows:");
  out.push("");
  out.push(
    "- **our Worker**: the production bundle, full path — secret check, body checks, exactly-once ledger in Redis (one script claims the update and reads the " +
      "session before the handler, the done mark follows the answer: 2 round trips), grammY with every feature (the session written only when it changed), " +
      "Neon upsert on /start, the reply on the webhook response (no Bot API request for a single reply), one JSON log line.",
  );
  out.push(
    "- **no ledger, no sessions**: the same handlers, clients, configuration and Bot construction (`botFeatures` with the session storage swapped for one that " +
      "keeps nothing), `bot.handleUpdate` straight from a Hono route, its reply on the webhook response as the Worker's; no ledger, no deadline, no log line. " +
      "Same runtime, same Miniflare setup.",
  );
  out.push("- **bare route**: a Hono route answering 200 without reading the body — the ceiling of workerd + Hono + the HTTP stack here.");
  out.push(
    "- **grammY on Node**: the very same `createBot` (sessions through the Upstash gateway, Neon through the Neon gateway, same Bot API double), served by grammY's " +
      "`webhookCallback(bot, \"http\")` on `http.createServer` in its own Node process (grammY's defaults: every reply a Bot API request). Not there: the ledger, " +
      "the deadline/failure policy, the log line.",
  );
  out.push(
    "- **Telegraf on Node**: equivalent minimal handlers only — /start upserts with the same SQL (Neon HTTP driver, same gateway) and sends the same greeting; text " +
      "gets the same hint. Not there: sessions, group filter, i18n middleware, other commands, ledger, failure policy, logging. `webhookReply` off and a keep-alive " +
      "agent, so its Bot API calls are made like the others'.",
  );
  out.push("");

  out.push(...latencySection(results));

  out.push(`## Cost per update — subrequests counted at the services during ${settings.warmupAmount} updates`);
  out.push("");
  out.push(
    table(
      ["target", "scenario", "updates", "Redis round trips", "Redis commands", "Neon /sql", "Bot API calls", "subrequests", "non-2xx"],
      results.cost.map((cost) => [
        TARGETS[cost.target].label,
        cost.target === "bare" ? "any (body not read)" : scenarioName(cost.scenario),
        cost.updates,
        cost.perUpdate.redisRoundTrips,
        cost.perUpdate.redisCommands,
        cost.perUpdate.neonRequests,
        cost.perUpdate.botApiCalls,
        cost.perUpdate.subrequests,
        cost.non2xx,
      ]),
    ),
  );
  out.push("");
  out.push(
    "Redis round trips = HTTP requests to the Upstash gateway (`GET /__control/stats` → requests); subrequests = Redis + Neon + Bot API. " +
      `"First contact" is each of the ${settings.users} users' first /start (no session, no account yet); the other rows are steady state.`,
  );
  out.push("");

  out.push("## Bundle and startup");
  out.push("");
  out.push(
    table(
      ["bundle (`wrangler deploy --dry-run --outdir`)", "raw", "gzip (Node zlib)", "wrangler says"],
      Object.entries(results.bundles).map(([name, bundle]) => [
        name === "worker" ? "our Worker (src/index.ts)" : `bench/workers/${name}.ts`,
        kib(bundle.rawBytes),
        kib(bundle.gzipBytes),
        bundle.wranglerSays ?? "—",
      ]),
    ),
  );
  out.push("");
  out.push(...bundleParts(results));
  const check = results.startup.checkStartup;
  const cold = results.startup.miniflareColdStart;
  if ("error" in check) {
    out.push(`- \`wrangler check startup\` failed: ${check.error}`);
  } else {
    const top = check.byPackage
      .slice(0, 6)
      .map((entry) => `${entry.name} ${ms(entry.ms)}`)
      .join(", ");
    out.push(
      `- **Startup CPU (\`wrangler check startup\`, offline, workerd's CPU profile of the startup phase):** median **${ms(check.medianActiveMs)} ms** active ` +
        `(of which GC ${ms(check.medianGcMs)} ms) over ${check.runs.length} profiles (${check.runs.map((run) => ms(run.activeMs)).join(" / ")} ms; ` +
        `~1 ms sampling). Profiled bundle identical to the --outdir one: ${check.sameBundleAsOutdir ? "yes" : "no"}. ` +
        `By package (ms, approximate): ${top}.`,
    );
  }
  out.push(
    `- **Miniflare cold start** (new Miniflare → first 200 on /bot/health, includes spawning workerd): median **${ms(cold.medianToHealthMs)} ms** ` +
      `(${cold.toHealthMs.map(ms).join(" / ")}); the first webhook update on the fresh isolate (builds config, clients and bot, opens connections) ` +
      `median **${ms(cold.medianFirstUpdateMs)} ms** (${cold.firstUpdateMs.map(ms).join(" / ")}).`,
  );
  out.push("");

  out.push(`## Scaling — our Worker, /start, one ${settings.durationSeconds} s run per connection count`);
  out.push("");
  out.push(
    table(
      ["connections", "updates/s", "p50 ms", "p99 ms", "non-2xx", "server CPU %"],
      results.scaling.map((run) => [
        run.load.connections,
        run.load.updatesPerSecond,
        ms(run.load.latencyMs.p50),
        ms(run.load.latencyMs.p99),
        run.load.non2xx + run.load.errors,
        run.cpu.percent.server ?? 0,
      ]),
    ),
  );
  out.push("");

  out.push("## Where the CPU went (the rounds shown above; % of one core, machine % of all cores)");
  out.push("");
  out.push(
    table(
      ["run", "load generator", "server", "Upstash gw", "Neon gw", "Bot API double", "Redis", "PostgreSQL", "unattributed", "machine %"],
      results.throughput.map((run) =>
        cpuRow(`${run.target} ${run.target === "bare" ? "" : scenarioName(run.scenario)}`.trim(), run),
      ),
    ),
  );
  out.push("");
  out.push(
    "\"server\" is the workerd process of that Worker or the Node process of that peer; \"unattributed\" is busy time of the " +
      "machine outside the listed processes (kernel networking, anything else running).",
  );
  out.push("");
  const problems = Object.entries(results.workerLogs).filter(([, logs]) => logs.problems.length > 0);
  out.push(
    `Every update answered 2xx: **${results.non2xxTotal === 0 ? "yes" : `no — ${results.non2xxTotal} did not`}**` +
      (problems.length > 0 ? `; warnings/errors logged by ${problems.map(([id]) => id).join(", ")} (see results.json)` : "; no warnings or errors logged by the Workers") +
      ".",
  );
  out.push("");
  return `${out.join("\n")}\n`;
}

/** The latency table and the counting pass behind its critical-path columns. */
function latencySection(results: Results): string[] {
  const { model, rows } = results.latency_model;
  const detail = results.latencyModelDetail;
  const { settings } = results;
  const counted = (target: string, scenario: string) => detail.counted.find((entry) => entry.target === target && entry.scenario === scenario);
  const out: string[] = [];
  out.push(
    `## With a production latency model — ${detail.connections} connections, ${settings.latencyRounds} interleaved rounds × ${settings.latencyDurationSeconds} s, latencies pooled`,
  );
  out.push("");
  out.push(
    `Model: ${formatLatencyModel(model)} ms added before each answer of the Upstash gateway, the Neon gateway and the Bot API double ` +
      "(where the figures come from: bench/README.md). " +
      detail.note,
  );
  out.push("");
  out.push(
    table(
      ["target", "scenario", "p50 ms", "p99 ms", "sequential Redis", "sequential Neon", "sequential Bot API", "after the response (Redis / Neon / Bot API)", "reply on the webhook response", "p50 per round"],
      rows.map((row) => {
        const path = counted(row.target, row.scenario);
        return [
          TARGETS[row.target].label,
          scenarioName(row.scenario),
          ms(row.p50_ms),
          ms(row.p99_ms),
          row.critical_path.redis,
          row.critical_path.neon,
          row.critical_path.telegram,
          path === undefined ? "—" : `${path.perService.redis.afterResponse} / ${path.perService.neon.afterResponse} / ${path.perService.telegram.afterResponse}`,
          path === undefined ? "—" : `${path.webhookReplies} of ${path.updates}`,
          detail.rounds
            .filter((run) => run.target === row.target && run.scenario === row.scenario)
            .map((run) => ms(run.load.latencyMs.p50))
            .join(" / "),
        ];
      }),
    ),
  );
  out.push("");
  const extra = detail.counted.filter((entry) => !rows.some((row) => row.target === entry.target && row.scenario === entry.scenario));
  for (const entry of extra) {
    out.push(
      `- ${TARGETS[entry.target].label}, ${entry.scenario}: sequential Redis ${entry.perService.redis.sequential}, Neon ${entry.perService.neon.sequential}, ` +
        `Bot API ${entry.perService.telegram.sequential} (per update: ${entry.sequentialByUpdate.redis.join(", ")} Redis).`,
    );
  }
  out.push(
    "- *Sequential* = per update, the longest chain of calls to that service each sent after the previous one was answered, before the webhook " +
      "response (calls in flight together count once, a pipeline is one call), mean of a sequential pass of " +
      `${detail.counted[0]?.updates ?? 0} updates per row at 1 connection; *after the response* = calls answered after it (e.g. in \`waitUntil\`), not on the critical path. How: bench/README.md.`,
  );
  out.push("");
  return out;
}

/** What the Worker's bundle is made of, per package. */
function bundleParts(results: Results): string[] {
  const analysis = results.bundleAnalysis;
  if ("error" in analysis) return [`- Bundle analysis failed: ${analysis.error}`, ""];
  return [
    table(
      ["our Worker's bundle, by package (esbuild metafiles)", "minified (as deployed)", "unminified", "gzip it costs, unminified (bundle gzip − gzip without it)"],
      analysis.parts.map((part) => [part.name, kib(part.minifiedRawBytes), kib(part.rawBytes), kib(part.gzipSavedBytes)]),
    ),
    "",
    `- The bundle is minified as deployed (\`minify = true\` in wrangler.toml); unminified it would be ${kib(analysis.unminified.rawBytes)}, gzip ${kib(analysis.unminified.gzipBytes)}.`,
  ];
}
