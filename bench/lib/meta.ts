/** What a run ran on: machine, Node, and the versions of everything measured. */
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../../scripts/lib/worker-bundle.js";

function versionOf(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(REPO_ROOT, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

function cpuModel(): string | undefined {
  try {
    return /model name\s*:\s*(.+)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpus()[0]?.model;
  } catch {
    return cpus()[0]?.model;
  }
}

/**
 * When and on what the run ran: date, machine, Node and the versions of the packages measured;
 * `busyBefore` is how busy the machine was just before (% of all cores).
 */
export function describeRun(busyBefore: number): Record<string, unknown> {
  return {
    date: new Date().toISOString(),
    machine: { cores: cpus().length, model: cpuModel() },
    node: process.version,
    ...Object.fromEntries(
      ["wrangler", "miniflare", "workerd", "grammy", "hono", "telegraf", "autocannon"].map((pkg) => [pkg, versionOf(pkg)]),
    ),
    machineBusyBeforeStartPercent: busyBefore,
  };
}
