/**
 * The Worker as it is deployed, run locally: `wrangler deploy --dry-run --outdir` builds the bundle
 * `npm run deploy` would upload, and Miniflare's API runs it in workerd listening on 127.0.0.1 itself
 * (no `wrangler dev` proxy in the request path). Used by the reliability suite and the benchmark.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { Miniflare, NoOpLog, type Log, type WorkerOptions } from "miniflare";
import { unstable_readConfig } from "wrangler";

/** The repository root. */
export const REPO_ROOT = resolve(import.meta.dirname, "../..");
const WRANGLER = join(REPO_ROOT, "node_modules/wrangler/bin/wrangler.js");

/** Runs wrangler from the repository root; rejects with the end of its output on failure. */
export async function runWrangler(args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [WRANGLER, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: "1", WRANGLER_SEND_METRICS: "false", CI: "1" },
      maxBuffer: 16 * 1024 * 1024,
      timeout: 120_000,
    });
    return `${stdout}\n${stderr}`;
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; message: string };
    const output = `${failure.stdout ?? ""}\n${failure.stderr ?? ""}`.trim().split("\n").slice(-15).join("\n");
    throw new Error(`wrangler ${args.join(" ")} failed:\n${output || failure.message}`);
  }
}

/** The `compatibility_date` of the bot's wrangler.toml. */
export function compatibilityDate(): string {
  const toml = readFileSync(join(REPO_ROOT, "wrangler.toml"), "utf8");
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
  if (date === undefined) throw new Error("no compatibility_date in wrangler.toml");
  return date;
}

/** A built bundle. */
export interface WorkerBundle {
  /** The ES module to run. */
  path: string;
  rawBytes: number;
  gzipBytes: number;
  /** What wrangler itself printed ("Total Upload: … / gzip: …"). */
  wranglerSays: string | undefined;
}

/** How else a bundle may be built than exactly as deployed. */
export interface BundleOptions {
  /** `--minify=false`: the bundle unminified (wrangler.toml minifies), to see its modules. */
  unminified?: boolean;
  /** Also write esbuild's metafile (inputs, outputs, bytes per module) to this path (`--metafile`). */
  metafile?: string;
  /** Build from this entry module instead of the config's `main`. */
  entry?: string;
}

/**
 * `wrangler deploy --dry-run --outdir <outDir>` for a wrangler config (default: the bot's own, built
 * exactly as deployed; another config is built with the bot's compatibility date).
 */
export async function buildWorkerBundle(outDir: string, config?: string, options: BundleOptions = {}): Promise<WorkerBundle> {
  const args = ["deploy", "--dry-run", "--outdir", outDir];
  if (config !== undefined) args.push("--config", config, "--compatibility-date", compatibilityDate());
  if (options.unminified) args.push("--minify=false");
  if (options.metafile !== undefined) args.push("--metafile", options.metafile);
  if (options.entry !== undefined) args.push(options.entry);
  const output = await runWrangler(args);
  const file = readdirSync(outDir).find((name) => name.endsWith(".js"));
  if (file === undefined) throw new Error(`no .js bundle in ${outDir}`);
  const path = join(outDir, file);
  const bytes = readFileSync(path);
  return {
    path,
    rawBytes: bytes.length,
    gzipBytes: gzipSync(bytes).length,
    wranglerSays: /Total Upload: ([^\n]+)/.exec(output)?.[1]?.trim(),
  };
}

/** A Worker running in workerd. */
export interface RunningWorker {
  /** e.g. "http://127.0.0.1:PORT" */
  origin: string;
  dispose(): Promise<void>;
}

/** What a bundle is run with. */
export interface RunWorkerOptions {
  name: string;
  /** The bundle `buildWorkerBundle` wrote. */
  bundlePath: string;
  /** Text bindings (vars and secrets alike). */
  bindings: Record<string, string>;
  /** Every line the Worker logs (console.*), with its level. */
  onLog?: (message: string, level: string) => void;
  /** Miniflare's own log (startup, warnings, request lines with `logRequests`); silent by default. */
  log?: Log;
  logRequests?: boolean;
  /** Also give the Worker the queues and Durable Objects this wrangler config declares (the bot's wrangler.toml). */
  wranglerConfig?: string;
}

type WorkerConfig = WorkerOptions["config"];

/**
 * The queues (producers and consumers, with their batch, retry and dead-letter settings) and Durable
 * Objects of a wrangler config, as Miniflare runs them under `wrangler dev`.
 */
function platformOf(configPath: string, workerName: string): Pick<WorkerConfig, "env" | "triggers" | "exports"> {
  const config = unstable_readConfig({ config: configPath }, { hideWarnings: true }) as unknown as {
    queues: {
      producers?: { binding: string; queue: string }[];
      consumers?: { queue: string; max_batch_size?: number; max_batch_timeout?: number; max_retries?: number; dead_letter_queue?: string }[];
    };
    durable_objects: { bindings: { name: string; class_name: string }[] };
    migrations: { new_sqlite_classes?: string[] }[];
  };
  const env: NonNullable<WorkerConfig["env"]> = {};
  for (const producer of config.queues.producers ?? []) env[producer.binding] = { type: "queue", name: producer.queue };
  for (const binding of config.durable_objects.bindings) {
    env[binding.name] = { type: "durable-object", worker: workerName, exportName: binding.class_name };
  }
  const triggers: NonNullable<WorkerConfig["triggers"]> = (config.queues.consumers ?? []).map((consumer) => ({
    type: "queue" as const,
    name: consumer.queue,
    ...(consumer.max_batch_size === undefined ? {} : { maxBatchSize: consumer.max_batch_size }),
    ...(consumer.max_batch_timeout === undefined ? {} : { maxBatchTimeout: consumer.max_batch_timeout }),
    ...(consumer.max_retries === undefined ? {} : { maxRetries: consumer.max_retries }),
    ...(consumer.dead_letter_queue === undefined ? {} : { deadLetterQueue: consumer.dead_letter_queue }),
  }));
  const sqlite = new Set(config.migrations.flatMap((migration) => migration.new_sqlite_classes ?? []));
  const exports: NonNullable<WorkerConfig["exports"]> = Object.fromEntries(
    config.durable_objects.bindings.map((binding) => [
      binding.class_name,
      { type: "durable-object" as const, storage: sqlite.has(binding.class_name) ? ("sqlite" as const) : ("legacy-kv" as const) },
    ]),
  );
  return { env, triggers, exports };
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * Runs `create` and takes back the signal handlers it added: Miniflare's own exit on a signal would end
 * the process before its owner stops the other processes and cleans its data. (Miniflare still kills
 * workerd when the process exits.)
 */
function withoutNewSignalHandlers<T>(create: () => T): T {
  const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  try {
    return create();
  } finally {
    for (const signal of SIGNALS) {
      for (const listener of process.listeners(signal)) {
        if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener as () => void);
      }
    }
  }
}

/** Starts the bundle in workerd and resolves once it listens on 127.0.0.1 (a free port). */
export async function runWorkerBundle(options: RunWorkerOptions): Promise<RunningWorker> {
  const bundlePath = resolve(options.bundlePath);
  const mainModule = basename(bundlePath);
  const modules: Record<string, { type: "esm" | "sourcemap"; contents: string }> = {
    [mainModule]: { type: "esm", contents: await readFile(bundlePath, "utf8") },
  };
  if (existsSync(`${bundlePath}.map`)) {
    modules[`${mainModule}.map`] = { type: "sourcemap", contents: await readFile(`${bundlePath}.map`, "utf8") };
  }
  const platform = options.wranglerConfig === undefined ? {} : platformOf(options.wranglerConfig, options.name);
  const mf = withoutNewSignalHandlers(
    () =>
      new Miniflare({
        host: "127.0.0.1",
        port: 0,
        cf: false,
        log: options.log ?? new NoOpLog(),
        logRequests: options.logRequests ?? false,
        enableDevRegistry: false,
        telemetry: { enabled: false },
        handleStructuredLogs: ({ level, message }) => options.onLog?.(message, level),
        workers: [
          {
            config: {
              name: options.name,
              compatibilityDate: compatibilityDate(),
              manifest: { mainModule, modules },
              ...platform,
              env: {
                ...platform.env,
                ...Object.fromEntries(Object.entries(options.bindings).map(([name, value]) => [name, { type: "text" as const, value }])),
              },
            },
          },
        ],
      }),
  );
  try {
    const url = await mf.ready;
    return { origin: url.origin, dispose: () => mf.dispose() };
  } catch (error) {
    await mf.dispose().catch(() => undefined);
    throw error;
  }
}
