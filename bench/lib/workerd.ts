/**
 * A bench Worker in workerd (`runWorkerBundle`: Miniflare's API, workerd listening itself), with its
 * process id for CPU accounting and its log lines counted.
 */
import { runWorkerBundle } from "../../scripts/lib/worker-bundle.js";
import { childPidsNamed } from "./cpu.js";

/** A Worker running in workerd. */
export interface WorkerdInstance {
  /** e.g. "http://127.0.0.1:PORT" */
  origin: string;
  /** workerd's process id (for CPU accounting), when found. */
  pid: number | undefined;
  /** Log lines the Worker wrote (console.*), counted; warnings and errors kept (at most 20). */
  logs: { lines: number; problems: string[] };
  dispose(): Promise<void>;
}

/** What a Worker is started with. */
export interface WorkerdOptions {
  name: string;
  /** The bundle `wrangler deploy --dry-run --outdir` wrote (an ES module). */
  bundlePath: string;
  /** Text bindings (vars and secrets alike). */
  bindings: Record<string, string>;
}

/** Starts the Worker and resolves once workerd listens. */
export async function startWorkerd(options: WorkerdOptions): Promise<WorkerdInstance> {
  const logs = { lines: 0, problems: [] as string[] };
  const before = new Set(childPidsNamed("workerd"));
  const worker = await runWorkerBundle({
    ...options,
    onLog: (message, level) => {
      logs.lines++;
      const problem = level === "warn" || level === "error" || /"level":"(warn|error)"/.test(message);
      if (problem && logs.problems.length < 20) logs.problems.push(message.slice(0, 600));
    },
  });
  const pid = childPidsNamed("workerd").find((candidate) => !before.has(candidate));
  return { origin: worker.origin, pid, logs, dispose: () => worker.dispose() };
}
