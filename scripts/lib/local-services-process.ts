/**
 * `npm run local:services -- --json` as a child process, for test set-ups that keep the local services
 * out of their own process (the workerd tests' global setup, the start script's own test).
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The running services: the variables they printed, and how to stop them. */
export interface LocalServicesProcess {
  vars: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Starts `scripts/local/start.ts --json` with `args` and resolves with the variables it prints once
 * everything listens.
 * @throws when the process exits before printing them.
 */
export async function spawnLocalServices(args: string[]): Promise<LocalServicesProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/local/start.ts", "--json", ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const firstLine = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    void exited.then((code) => reject(new Error(`local services exited with ${code} before starting`)));
  });
  return {
    vars: JSON.parse(firstLine) as Record<string, string>,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}
