/**
 * CPU time per process from /proc (Linux), so each run can say where the two cores went: the load
 * generator, the server under test, the gateways, Redis and PostgreSQL. Read-only; nothing is signalled.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux). */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  /** utime + stime, in seconds. */
  cpuSeconds: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm is in parentheses and may contain spaces: split after the last ")".
    const close = text.lastIndexOf(")");
    const comm = text.slice(text.indexOf("(") + 1, close);
    const fields = text.slice(close + 2).split(" ");
    // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    const ppid = Number(fields[1]);
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { pid, comm, ppid, cpuSeconds: ticks / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

function allStats(): ProcStat[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const stats: ProcStat[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat !== undefined) stats.push(stat);
  }
  return stats;
}

/** Process ids named `comm` that descend from this process. */
export function childPidsNamed(comm: string): number[] {
  const stats = allStats();
  const parents = new Map(stats.map((stat) => [stat.pid, stat.ppid]));
  const descends = (pid: number): boolean => {
    for (let at = parents.get(pid), hops = 0; at !== undefined && hops < 20; at = parents.get(at), hops++) {
      if (at === process.pid) return true;
    }
    return false;
  };
  return stats.filter((stat) => stat.comm === comm && descends(stat.pid)).map((stat) => stat.pid);
}

/**
 * Process ids named `comm` anywhere on the machine (Redis, PostgreSQL), optionally only those whose command
 * line contains `cmdlineIncludes` (a PostgreSQL backend shows its database there).
 */
export function pidsNamed(comm: string, cmdlineIncludes?: string): number[] {
  return allStats()
    .filter((stat) => stat.comm === comm)
    .filter((stat) => {
      if (cmdlineIncludes === undefined) return true;
      try {
        return readFileSync(`/proc/${stat.pid}/cmdline`, "utf8").replaceAll("\0", " ").includes(cmdlineIncludes);
      } catch {
        return false;
      }
    })
    .map((stat) => stat.pid);
}

/** A named group of processes whose CPU time is summed. */
export interface CpuGroup {
  name: string;
  /** Process ids, or a function that finds them at each reading (PostgreSQL backends come and go). */
  pids: number[] | (() => number[]);
  /** This very process: measured with process.cpuUsage() instead of /proc. */
  self?: boolean;
}

function machineBusySeconds(): { busy: number; total: number } {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    const values = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    const total = values.reduce((sum, value) => sum + value, 0);
    return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** CPU use of each group over a stretch of time. */
export interface CpuReport {
  /** CPU seconds per group. */
  seconds: Record<string, number>;
  /** % of one core per group (100 = one core busy all the time). */
  percent: Record<string, number>;
  /** Busy share of the whole machine, % of all cores (anything running, ours or not). */
  machinePercent: number;
  /** Machine busy time not explained by the groups (kernel networking, other processes), % of one core. */
  unattributedPercent: number;
}

/** Starts measuring; call the returned function at the end of the stretch. */
export function measureCpu(groups: CpuGroup[]): () => CpuReport {
  const read = (group: CpuGroup): number => {
    if (group.self) {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1e6;
    }
    const pids = typeof group.pids === "function" ? group.pids() : group.pids;
    return pids.reduce((sum, pid) => sum + (readStat(pid)?.cpuSeconds ?? 0), 0);
  };
  const started = process.hrtime.bigint();
  const startMachine = machineBusySeconds();
  const start = groups.map(read);
  return () => {
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    const seconds: Record<string, number> = {};
    const percent: Record<string, number> = {};
    let ours = 0;
    groups.forEach((group, index) => {
      const used = Math.max(0, read(group) - (start[index] ?? 0));
      ours += used;
      seconds[group.name] = Math.round(used * 1000) / 1000;
      percent[group.name] = Math.round((100 * used) / elapsed);
    });
    const endMachine = machineBusySeconds();
    const total = endMachine.total - startMachine.total;
    const busy = endMachine.busy - startMachine.busy;
    return {
      seconds,
      percent,
      machinePercent: total > 0 ? Math.round((100 * busy) / total) : 0,
      unattributedPercent: Math.max(0, Math.round((100 * (busy - ours)) / elapsed)),
    };
  };
}
