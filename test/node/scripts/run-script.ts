// Runs the project's scripts as real child processes, the way `npm run …` does, for the script tests.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, expect } from "vitest";
import { dropDatabase as dropScratchDatabase, flushRedisDatabase, recreateDatabase } from "../../../scripts/lib/local-storage.js";

/** The repository root (scripts are run by absolute path, from any working directory). */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** tsx's loader by absolute URL: `--import tsx` would resolve it from the working directory. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
/** tsx's command line, which `npm run` uses: it runs the script in a child and relays signals to it. */
const TSX_CLI = createRequire(import.meta.url).resolve("tsx/cli");

/** A bot token for the script tests; it must never show up in a script's output. */
export const TOKEN = "7000000001:AAtest-token";
/** Telegram samples (`test/fixtures/telegram`). */
export const SAMPLES = new URL("../../fixtures/telegram/", import.meta.url);
const POSTGRES = "postgres://postgres@127.0.0.1:5432";

export interface ScriptResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** The child's whole environment besides PATH (undefined values left out): nothing of this process's leaks in. */
  env?: Record<string, string | undefined>;
  /** Default: a fresh empty directory, so a developer's `.dev.vars` in the repository cannot leak in. */
  cwd?: string;
  /** Run as `npm run` does, through tsx's command line (a parent process that relays signals). */
  viaTsxCli?: boolean;
}

/** A script running in the background. */
export interface RunningScript {
  child: ChildProcess;
  /** Output so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves when the process has exited, with everything it printed. */
  exited: Promise<ScriptResult>;
}

const children = new Set<ChildProcess>();
const dirs: string[] = [];

/** A fresh empty directory, removed by `cleanUp`. */
export async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "mtt-bot-script-test-"));
  dirs.push(dir);
  return dir;
}

/** Starts `scripts/<script>` with `node --import tsx` (or tsx's command line), like the npm scripts. */
export async function startScript(script: string, args: string[] = [], options: RunOptions = {}): Promise<RunningScript> {
  const cwd = options.cwd ?? (await scratchDir());
  const runner = options.viaTsxCli ? [TSX_CLI] : ["--import", TSX_LOADER];
  const child = spawn(process.execPath, [...runner, join(REPO_ROOT, "scripts", script), ...args], {
    cwd,
    env: Object.fromEntries(
      Object.entries({ PATH: process.env.PATH, ...options.env }).filter((entry): entry is [string, string] => entry[1] !== undefined),
    ),
    stdio: ["ignore", "pipe", "pipe"],
    // A process group of its own, so that `cleanUp` also ends what the script started (wrangler, workerd).
    detached: true,
  });
  children.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<ScriptResult>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
  };
}

/** Runs `scripts/<script>` to the end. */
export async function runScript(script: string, args: string[] = [], options: RunOptions = {}): Promise<ScriptResult> {
  return (await startScript(script, args, options)).exited;
}

/** Kills the scripts still running (a failed test), with everything they started, and removes the scratch directories. */
export async function cleanUp(): Promise<void> {
  for (const { pid } of children) {
    if (pid === undefined) continue;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Waits until `check` holds. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Asserts what every expected failure looks like: exit 1, one `error:` line on stderr, no stack trace. */
export function expectOneLineFailure(result: ScriptResult, pattern: RegExp): void {
  expect(result.code, result.stderr).toBe(1);
  expect(result.stderr).toMatch(/^error: [^\n]+\n$/);
  expect(result.stderr).toMatch(pattern);
  expectNoLeak(result);
}

/** Asserts that nothing printed contains the token or a stack trace. */
export function expectNoLeak(result: Pick<ScriptResult, "stdout" | "stderr">, secrets: string[] = [TOKEN]): void {
  const output = result.stdout + result.stderr;
  for (const secret of secrets) expect(output).not.toContain(secret);
  expect(output).not.toMatch(/^\s+at .+[:(]/m);
}

/** Creates an empty database and returns its URL. */
export async function createDatabase(name: string): Promise<string> {
  await recreateDatabase(POSTGRES, name);
  return `${POSTGRES}/${name}`;
}

/** Drops a database made by `createDatabase`. */
export async function dropDatabase(name: string): Promise<void> {
  await dropScratchDatabase(POSTGRES, name);
}

/** Runs one query against a database. */
export async function query<Row extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Row>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/**
 * A database and a Redis database of the test file's own, created before its tests and dropped (and
 * flushed) after them, the scripts it started killed first. Returns the database's URL once created.
 */
export function scratchStorage(database: string, redisUrl: string): () => string {
  let url = "";
  beforeAll(async () => {
    url = await createDatabase(database);
    await flushRedisDatabase(redisUrl);
  });
  afterAll(async () => {
    await cleanUp();
    await flushRedisDatabase(redisUrl);
    await dropDatabase(database);
  });
  return () => url;
}
