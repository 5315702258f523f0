/**
 * `npm run bench`: throughput, latency and cost per update of the bot's Worker in workerd, against a
 * bare route, the same handlers without the ledger/sessions, and two Node peers (grammY's own webhook
 * server with the same bot, and Telegraf), all in one run on this machine. Writes bench/results.json and
 * bench/results.md and prints the table. See bench/README.md for what each row means.
 *
 * Needs Redis on 127.0.0.1:6379 (database 13 is flushed) and PostgreSQL on 127.0.0.1:5432 (database
 * mtt_bot_bench is dropped and recreated). Everything else is started here, on loopback, and stopped at
 * the end. Settings: --duration, --rounds, --connections, --latency, --latency-rounds, or BENCH_DURATION,
 * BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_LATENCY, BENCH_LATENCY_ROUNDS (`npm run bench -- --help`).
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { Option } from "commander";
import { createProgram, parseArguments, positiveNumber, wholeNumber } from "../scripts/lib/cli.js";
import { formatLatencyModel, parseLatencyModel, PRODUCTION_LATENCY_MODEL, type LatencyModel } from "../scripts/lib/latency-model.js";
import { dropDatabase, flushRedisDatabase, recreateDatabase } from "../scripts/lib/local-storage.js";
import { buildWorkerBundle, compatibilityDate, REPO_ROOT, type WorkerBundle } from "../scripts/lib/worker-bundle.js";
import { analyseWorkerBundle } from "./lib/bundle.js";
import { measureCpu, pidsNamed, type CpuGroup } from "./lib/cpu.js";
import { LATENCY_CONNECTIONS, LATENCY_SCENARIOS, LATENCY_TARGETS, measureLatencyModel, type LatencyTargetId } from "./lib/latency-model.js";
import { makeUpdate, runLoad, USERS, type LoadOptions, type LoadResult, type Scenario } from "./lib/load.js";
import { describeRun } from "./lib/meta.js";
import { TARGETS, THROUGHPUT_SCENARIOS, type Cost, type Results, type Run, type Settings, type TargetId } from "./lib/model.js";
import { startPeer } from "./lib/peers.js";
import { renderMarkdown } from "./lib/report.js";
import { startServices, type BenchStorage, type Services } from "./lib/services.js";
import { checkStartup, coldStarts, type CheckStartupResult } from "./lib/startup.js";
import { round } from "./lib/stats.js";
import { perUpdate, summariseRounds } from "./lib/summary.js";
import { checkTargets } from "./lib/targets.js";
import { startWorkerd } from "./lib/workerd.js";
import { broadcastMarkdown, runBroadcast } from "./broadcast.js";

const OUT = join(REPO_ROOT, "bench/out");
const WORKER_METAFILE = join(OUT, "worker-meta.json");

const program = createProgram(
  "bench",
  "Benchmark the bot's Worker in workerd against a bare route, the handlers without ledger and sessions, grammY and Telegraf on Node, also with a production latency model (about 5½ minutes with the defaults); writes bench/results.json and bench/results.md.",
)
  .addOption(new Option("--duration <seconds>", "seconds per measured run").env("BENCH_DURATION").argParser(positiveNumber).default(4))
  .addOption(new Option("--rounds <n>", "measured rounds").env("BENCH_ROUNDS").argParser(wholeNumber(1)).default(4))
  .addOption(new Option("--connections <n>", "connections for the main comparison").env("BENCH_CONNECTIONS").argParser(wholeNumber(1)).default(50))
  .addOption(
    new Option("--latency <model>", 'the latency model of the latency table, ms per request: "upstash=5,neon=20,telegram=50" (a service left out gets 0)')
      .env("BENCH_LATENCY")
      .argParser(parseLatencyModel)
      .default(PRODUCTION_LATENCY_MODEL, formatLatencyModel(PRODUCTION_LATENCY_MODEL)),
  )
  .addOption(new Option("--latency-rounds <n>", "interleaved rounds of the latency table").env("BENCH_LATENCY_ROUNDS").argParser(wholeNumber(1)).default(2));
parseArguments(program);
const options = program.opts<{ duration: number; rounds: number; connections: number; latency: LatencyModel; latencyRounds: number }>();

const SETTINGS: Settings = {
  durationSeconds: options.duration,
  rounds: options.rounds,
  connections: options.connections,
  scaling: [1, 10, 50, 100],
  warmupAmount: 1000,
  coldStarts: 5,
  startupProfiles: 3,
  users: USERS,
  latencyModel: options.latency,
  latencyRounds: options.latencyRounds,
  latencyDurationSeconds: Math.min(options.duration, 3),
};

const STORAGE: BenchStorage = {
  postgresServer: "postgres://postgres@127.0.0.1:5432",
  database: "mtt_bot_bench",
  redisUrl: "redis://127.0.0.1:6379/13",
  upstashToken: "bench-upstash-token",
  botToken: "123456:bench-bot-token",
};
const WEBHOOK_SECRET = "bench_webhook_secret_0123456789";

const began = performance.now();
function progress(message: string): void {
  const seconds = ((performance.now() - began) / 1000).toFixed(1).padStart(5);
  console.log(`[bench ${seconds}s] ${message}`);
}

const cleanups: (() => Promise<void>)[] = [];
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) {
    const cleanup = cleanups.pop()!;
    await cleanup().catch((error: unknown) => console.error(`[bench] cleanup: ${String(error)}`));
  }
}

async function main(): Promise<number> {
  progress(
    `settings: ${SETTINGS.rounds} rounds × ${SETTINGS.durationSeconds}s at ${SETTINGS.connections} connections; latency model ${formatLatencyModel(SETTINGS.latencyModel)} (ms), ` +
      `${SETTINGS.latencyRounds} rounds × ${SETTINGS.latencyDurationSeconds}s at ${LATENCY_CONNECTIONS} connections; ${cpus().length} cores`,
  );
  mkdirSync(OUT, { recursive: true });
  const idle = measureCpu([]);
  await sleep(1000);
  const busyBefore = idle().machinePercent;
  progress(`machine busy before start: ${busyBefore}% of all cores${busyBefore > 15 ? " — something else is running; results will be noisy" : ""}`);

  // 1. Bundles, as a deploy builds them.
  const bundles: Record<string, WorkerBundle> = {};
  for (const [name, config] of [
    ["worker", undefined],
    ["no-ledger", "bench/workers/wrangler.no-ledger.toml"],
    ["bare", "bench/workers/wrangler.bare.toml"],
  ] as const) {
    const dir = join(OUT, name);
    rmSync(dir, { recursive: true, force: true });
    const bundle = await buildWorkerBundle(dir, config, name === "worker" ? { metafile: WORKER_METAFILE } : {});
    bundles[name] = bundle;
    progress(`built ${name}: ${(bundle.rawBytes / 1024).toFixed(1)} KiB, gzip ${(bundle.gzipBytes / 1024).toFixed(1)} KiB`);
  }
  const workerBundle = bundles.worker!;

  // 2. Startup profile (offline) of the bundle as deployed, and what the bundle is made of.
  let checkStartupResult: CheckStartupResult | { error: string };
  try {
    checkStartupResult = await checkStartup(OUT, workerBundle.path, SETTINGS.startupProfiles);
    progress(`wrangler check startup: median ${checkStartupResult.medianActiveMs} ms active CPU (${SETTINGS.startupProfiles} profiles)`);
  } catch (error) {
    checkStartupResult = { error: String(error).split("\n").slice(0, 4).join(" ") };
    progress(`wrangler check startup failed: ${checkStartupResult.error}`);
  }
  const bundleAnalysis = await analyseWorkerBundle(WORKER_METAFILE, OUT).catch((error: unknown) => ({
    error: String(error).split("\n").slice(0, 4).join(" "),
  }));
  if ("error" in bundleAnalysis) progress(`bundle analysis failed: ${bundleAnalysis.error}`);
  else {
    const top = bundleAnalysis.parts.slice(0, 4).map((part) => `${part.name} ${(part.gzipSavedBytes / 1024).toFixed(1)}`);
    progress(
      `bundle by package (KiB of gzip each one costs, unminified): ${top.join(", ")}; unminified: gzip ${(bundleAnalysis.unminified.gzipBytes / 1024).toFixed(1)} KiB`,
    );
  }

  // 3. Fresh data and the local services.
  await recreateDatabase(STORAGE.postgresServer, STORAGE.database).catch((error: unknown) => {
    throw new Error(`PostgreSQL at ${STORAGE.postgresServer} (user postgres) is needed: ${String(error)}`);
  });
  await flushRedisDatabase(STORAGE.redisUrl).catch((error: unknown) => {
    throw new Error(`Redis at ${STORAGE.redisUrl} is needed: ${String(error)}`);
  });
  // Leave nothing behind: the ledger keys and sessions, and the database.
  cleanups.push(async () => {
    await flushRedisDatabase(STORAGE.redisUrl);
    await dropDatabase(STORAGE.postgresServer, STORAGE.database);
  });
  const services: Services = await startServices(STORAGE);
  cleanups.push(() => services.close());
  progress(`services up: Upstash gateway ${services.vars.UPSTASH_REDIS_REST_URL}, Neon gateway ${services.vars.NEON_HTTP_ENDPOINT}, Bot API double ${services.vars.TELEGRAM_API_ROOT}`);

  const bindings: Record<string, string> = {
    ...services.vars,
    TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
    BOT_INTERNAL_API_TOKEN: "bench-internal-api-token-0123456789",
    TELEGRAM_IP_ALLOWLIST: "off",
    // The per-user limiter would silence 200 users sending thousands of updates a minute.
    RATE_LIMIT_PER_MINUTE: "0",
  };

  // 4. Cold starts in Miniflare.
  // Users past the load's own, so the load's first contact below stays a first contact.
  let coldUser = USERS;
  const coldStart = await coldStarts(
    SETTINGS.coldStarts,
    { name: "mtt-pro-bot", bundlePath: workerBundle.path, bindings },
    () => ({ body: makeUpdate("start", coldUser++), secret: WEBHOOK_SECRET }),
  );
  progress(`Miniflare cold start: median ${coldStart.medianToHealthMs} ms to the first /bot/health, first update ${coldStart.medianFirstUpdateMs} ms`);

  // 5. Every target up at once (idle ones cost nothing), so rounds can interleave.
  const workerLogs: Results["workerLogs"] = {};
  const peerFiles: Partial<Record<TargetId, string>> = { "grammy-node": "grammy-node.ts", "telegraf-node": "telegraf-node.ts" };
  /** Starts each target with `targetBindings`; `tag` tells apart its log record and workerd name. */
  const startTargets = async <Id extends TargetId>(ids: readonly Id[], targetBindings: Record<string, string>, tag = "") => {
    const started = { origins: {} as Record<Id, string>, pids: {} as Record<Id, number[]> };
    for (const id of ids) {
      const peerFile = peerFiles[id];
      if (peerFile !== undefined) {
        const peer = await startPeer(peerFile, targetBindings);
        cleanups.push(() => peer.close());
        started.origins[id] = peer.origin;
        started.pids[id] = [peer.pid];
      } else {
        const instance = await startWorkerd({ name: `bench-${id}${tag}`, bundlePath: bundles[id]!.path, bindings: targetBindings });
        cleanups.push(() => instance.dispose());
        started.origins[id] = instance.origin;
        started.pids[id] = instance.pid === undefined ? [] : [instance.pid];
        workerLogs[`${id}${tag}`] = instance.logs;
      }
      const response = await fetch(`${started.origins[id]}/bot/health`);
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`${id}: /bot/health answered ${response.status}`);
    }
    return started;
  };
  const { origins, pids: serverPids } = await startTargets(Object.keys(TARGETS) as TargetId[], bindings);
  progress(`targets up: ${Object.entries(origins).map(([id, origin]) => `${id} ${origin}`).join(", ")}`);

  let non2xxTotal = 0;
  const check = (what: string, load: Pick<LoadResult, "non2xx" | "errors" | "statusCodes">) => {
    const failed = load.non2xx + load.errors;
    non2xxTotal += failed;
    // After Ctrl-C the targets are being stopped under the load: those failures are ours, not theirs.
    if (failed > 0 && !interrupted) {
      progress(`!! ${what}: ${load.non2xx} non-2xx, ${load.errors} errors, status codes ${JSON.stringify(load.statusCodes)}`);
    }
  };

  const cost: Cost[] = [];
  /** A load of `amount` updates, and what the services counted while it ran: the cost per update. */
  const countedLoad = async (id: TargetId, scenario: Cost["scenario"], options: Omit<LoadOptions, "origin" | "secret">) => {
    await services.resetCounters();
    const load = await runLoad({ ...options, origin: origins[id], secret: WEBHOOK_SECRET });
    check(`${id} ${scenario}`, load);
    const counters = await services.counters();
    cost.push({
      target: id,
      scenario,
      updates: load.responses,
      non2xx: load.non2xx,
      perUpdate: perUpdate(counters, load.responses),
      botApiMethods: counters.botApiMethods,
      replies: counters.replies,
    });
    return { load, perUpdate: cost.at(-1)!.perUpdate };
  };

  // 6. First contact: each of the users sends /start once to the Worker (creates sessions and accounts).
  const first = await countedLoad("worker", "start (first contact)", { scenario: "start", connections: 10, amount: USERS });
  progress(`first contact: ${USERS} users sent /start once (${first.perUpdate.subrequests} subrequests per update)`);

  // 7. Warm-up of each target and scenario, counting the subrequests it causes.
  for (const id of Object.keys(TARGETS) as TargetId[]) {
    for (const scenario of TARGETS[id].scenarios) {
      const warm = await countedLoad(id, scenario, { scenario, connections: SETTINGS.connections, amount: SETTINGS.warmupAmount });
      progress(
        `warm-up ${id} ${scenario}: ${warm.load.responses} updates at ${warm.load.updatesPerSecond}/s, ${warm.perUpdate.subrequests} subrequests per update`,
      );
    }
  }

  const cpuGroups = (id: TargetId): CpuGroup[] => [
    { name: "loadGenerator", pids: [], self: true },
    { name: "server", pids: serverPids[id] },
    { name: "upstashGateway", pids: [services.pids.redisGateway] },
    { name: "neonGateway", pids: [services.pids.neonGateway] },
    { name: "botApiDouble", pids: [services.pids.botApiDouble] },
    { name: "redis", pids: () => pidsNamed("redis-server") },
    // Only the backends serving the benchmark's database: other databases on the server are not ours.
    { name: "postgres", pids: () => pidsNamed("postgres", ` ${STORAGE.database} `) },
  ];
  const measure = async (id: TargetId, scenario: Scenario, connections: number, roundNumber: number): Promise<Run> => {
    await sleep(300); // let the previous run's connections close
    const stop = measureCpu(cpuGroups(id));
    const load = await runLoad({
      origin: origins[id],
      scenario,
      secret: WEBHOOK_SECRET,
      connections,
      durationSeconds: SETTINGS.durationSeconds,
    });
    const cpu = stop();
    check(`${id} ${scenario} c=${connections}`, load);
    const serverSeconds = cpu.seconds.server ?? 0;
    return {
      target: id,
      scenario,
      round: roundNumber,
      load,
      cpu,
      serverCpuMsPerUpdate: load.responses > 0 ? round((serverSeconds * 1000) / load.responses, 2) : 0,
    };
  };

  // 8. Measured rounds, interleaved so that a disturbance on the machine hits every target alike.
  const allRuns: Run[] = [];
  for (let roundNumber = 1; roundNumber <= SETTINGS.rounds; roundNumber++) {
    for (const scenario of THROUGHPUT_SCENARIOS) {
      for (const id of Object.keys(TARGETS) as TargetId[]) {
        if (!TARGETS[id].scenarios.includes(scenario)) continue;
        const run = await measure(id, scenario, SETTINGS.connections, roundNumber);
        allRuns.push(run);
        progress(
          `round ${roundNumber} ${id} ${scenario}: ${run.load.updatesPerSecond} updates/s, p50 ${run.load.latencyMs.p50} ms, p99 ${run.load.latencyMs.p99} ms, non-2xx ${run.load.non2xx}, server CPU ${run.cpu.percent.server}%`,
        );
      }
    }
  }

  // 9. Scaling of the Worker with concurrent connections.
  const scaling: Run[] = [];
  for (const connections of SETTINGS.scaling) {
    const run = await measure("worker", "start", connections, 1);
    scaling.push(run);
    progress(`scaling worker start c=${connections}: ${run.load.updatesPerSecond} updates/s, p99 ${run.load.latencyMs.p99} ms`);
  }

  // 10. The latency model: its own instances, with the per-user rate limiter on (its Redis call is on the
  // critical path in production) and a limit the load never reaches; warmed up before the model is on.
  const latencyTargets = await startTargets(LATENCY_TARGETS, { ...bindings, RATE_LIMIT_PER_MINUTE: "100000" }, " (latency model)");
  for (const id of LATENCY_TARGETS) {
    for (const scenario of LATENCY_SCENARIOS) {
      const warm = await runLoad({ origin: latencyTargets.origins[id], scenario, secret: WEBHOOK_SECRET, connections: LATENCY_CONNECTIONS, amount: USERS });
      check(`latency model warm-up ${id} ${scenario}`, warm);
    }
  }
  const latency = await measureLatencyModel({
    services,
    origins: latencyTargets.origins as Record<LatencyTargetId, string>,
    secret: WEBHOOK_SECRET,
    model: SETTINGS.latencyModel,
    rounds: SETTINGS.latencyRounds,
    durationSeconds: SETTINGS.latencyDurationSeconds,
    users: USERS,
    progress,
    check,
  });

  // 11. A broadcast through the queue (bench/broadcast.ts).
  const broadcast = await runBroadcast({ bundlePath: workerBundle.path, services, bindings, storage: STORAGE });
  progress(`broadcast: ${broadcast.messages} messages at ${broadcast.achievedPerSecond}/s (${broadcast.achievedShare} of ${broadcast.rate}/s), ${broadcast.refused429} 429s`);

  // 12. The report.
  const measured: Omit<Results, "targets"> = {
    meta: {
      ...describeRun(busyBefore),
      workerRuntime:
        "workerd through Miniflare's API (new Miniflare, workerd listening on 127.0.0.1 itself) — not wrangler dev, whose Node proxy caps throughput",
      compatibilityDate: compatibilityDate(),
      loadGenerator: "autocannon (programmatic, in the benchmark's own Node process), HTTP/1.1 keep-alive, no pipelining",
      services: `Upstash gateway, Neon gateway, Bot API double (scripts/local) in three Node processes over ${STORAGE.redisUrl} and PostgreSQL database ${STORAGE.database}`,
    },
    settings: SETTINGS,
    throughput: summariseRounds(allRuns),
    cost,
    bundles: Object.fromEntries(
      Object.entries(bundles).map(([name, bundle]) => [
        name,
        { rawBytes: bundle.rawBytes, gzipBytes: bundle.gzipBytes, wranglerSays: bundle.wranglerSays },
      ]),
    ),
    bundleAnalysis,
    startup: { checkStartup: checkStartupResult, miniflareColdStart: coldStart },
    scaling,
    allRuns,
    workerLogs,
    non2xxTotal,
    latency_model: { model: SETTINGS.latencyModel, rows: latency.rows },
    latencyModelDetail: latency.detail,
  };
  const results: Results & { broadcast: typeof broadcast } = { ...measured, targets: checkTargets(measured), broadcast };
  writeFileSync(join(REPO_ROOT, "bench/results.json"), `${JSON.stringify(results, null, 2)}\n`);
  const markdown = renderMarkdown(results) + broadcastMarkdown(broadcast);
  writeFileSync(join(REPO_ROOT, "bench/results.md"), markdown);
  console.log(`\n${markdown}`);
  progress(`wrote bench/results.json and bench/results.md`);
  for (const [id, logs] of Object.entries(workerLogs)) {
    if (logs.problems.length > 0) progress(`${id} logged ${logs.problems.length} warnings/errors, e.g. ${logs.problems[0]}`);
  }
  if (non2xxTotal > 0) {
    progress(`!! ${non2xxTotal} updates did not get a 2xx answer (see results.json, statusCodes)`);
    return 1;
  }
  return 0;
}

let exitCode = 1;
let interrupted = false;
let cleaning: Promise<void> | undefined;
/** Stops everything once, whoever asks first (the end of the run, an error, or a signal). */
const cleanUpOnce = () => (cleaning ??= cleanUp());
// `on`, not `once`: npm and tsx pass a Ctrl-C on again, and a second signal must not find us without a
// handler (tsx would then end the process before the cleanup is done).
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    progress(`${signal}: stopping everything`);
    void cleanUpOnce().then(() => process.exit(130));
  });
}
try {
  exitCode = await main();
} catch (error) {
  if (!interrupted) console.error(`[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  exitCode = 1;
} finally {
  if (!interrupted) progress("stopping everything");
  await cleanUpOnce();
}
progress(`done in ${((performance.now() - began) / 1000).toFixed(0)} s`);
process.exit(interrupted ? 130 : exitCode);
