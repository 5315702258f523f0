/**
 * How a running `npm run dev` tells the other scripts where its local stand-ins are: `.dev-session.json`
 * in the working directory (beside `.dev.vars`), written once its Worker answers and removed when it
 * stops. It holds addresses and the made-up credentials of the stand-ins it started, never a value from
 * `.dev.vars` or a connection string. `npm run set-webhook`, `webhook:*` and `failed` fill in from it
 * what the environment and `.dev.vars` leave unset, so they work against the local Worker as they are.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";

/** Read from and written to the working directory, like `.dev.vars`. */
const SESSION_FILE = ".dev-session.json";

/** What a running `npm run dev` publishes. */
export interface DevSession {
  pid: number;
  /** The local Worker, e.g. http://127.0.0.1:8787. */
  worker: string;
  /** Variables for the other scripts: those of the stand-ins it started (and TELEGRAM_WEBHOOK_URL with the double). */
  vars: Record<string, string>;
}

/** Names of the variables a session may hand out. */
export const SESSION_VARIABLES = [
  "TELEGRAM_BOT_TOKEN",
  "TELEGRAM_API_ROOT",
  "TELEGRAM_BOT_INFO",
  "TELEGRAM_WEBHOOK_SECRET",
  "UPSTASH_REDIS_REST_URL",
  "UPSTASH_REDIS_REST_TOKEN",
] as const;

export function publishDevSession(session: DevSession): void {
  writeFileSync(resolve(SESSION_FILE), `${JSON.stringify(session, null, 2)}\n`, { mode: 0o600 });
}

/** Removes the file if it is this process's own. */
export function removeDevSession(): void {
  if (runningDevSession()?.pid === process.pid) rmSync(resolve(SESSION_FILE), { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The session of an `npm run dev` still running from this directory, if any (a stale file is ignored). */
export function runningDevSession(): DevSession | undefined {
  let session: DevSession;
  try {
    session = JSON.parse(readFileSync(resolve(SESSION_FILE), "utf8")) as DevSession;
  } catch {
    return undefined;
  }
  return Number.isInteger(session.pid) && isAlive(session.pid) ? session : undefined;
}

/**
 * Fills in what `env` leaves unset from a running `npm run dev`.
 * @returns the session used, if there is one.
 */
export function useDevSession(env: NodeJS.ProcessEnv = process.env): DevSession | undefined {
  const session = runningDevSession();
  if (session === undefined) return undefined;
  for (const [name, value] of Object.entries(session.vars)) if (!env[name]) env[name] = value;
  return session;
}
