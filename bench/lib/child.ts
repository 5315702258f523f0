/**
 * The benchmark's helper processes (the local services, the Node peers), both sides of one small
 * protocol: the child prints one JSON line on stdout once it is ready, and stops on SIGTERM/SIGINT or
 * when its stdin closes — so a benchmark that dies without cleaning up leaves no process behind.
 * Each runs in a Node process of its own so that it gets its own event loop and its CPU time can be
 * measured apart from the load generator's.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

/** A started child process. */
export interface Child<Ready> {
  pid: number;
  /** The JSON line it printed when it was ready. */
  ready: Ready;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it exited. */
  stop(): Promise<void>;
}

/**
 * Runs a TypeScript file (through tsx) in a new Node process with `env` added to this one's, and
 * resolves with the JSON line it prints when ready. `what` names it in errors.
 */
export async function startChild<Ready>(script: string, env: Record<string, string>, what: string): Promise<Child<Ready>> {
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("error", reject);
    void exited.then(() => reject(new Error(`${what} exited before it was ready`)));
  });
  return {
    pid: child.pid!,
    ready: JSON.parse(line) as Ready,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * The child's side: prints `ready` as one JSON line, then runs `stop` once on SIGTERM, SIGINT or the end
 * of stdin (the benchmark went away), and exits.
 */
export function announceReady(ready: object, stop: () => Promise<void> | void): void {
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  let stopping = false;
  const stopOnce = () => {
    if (stopping) return;
    stopping = true;
    // A stop that hangs (a connection that will not close) must not keep the process alive.
    setTimeout(() => process.exit(0), 2000).unref();
    void Promise.resolve()
      .then(stop)
      .catch(() => undefined)
      .then(() => process.exit(0));
  };
  process.once("SIGTERM", stopOnce);
  process.once("SIGINT", stopOnce);
  process.stdin.on("end", stopOnce);
  process.stdin.on("close", stopOnce);
  process.stdin.resume();
}
