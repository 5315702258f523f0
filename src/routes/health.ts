import { Hono } from "hono/tiny";
import { DeadlineExceededError, withDeadline } from "../lib/deadline.js";
import type { Runtime } from "../runtime.js";
import type { AppEnv } from "../types.js";
import { withRuntime } from "./with-runtime.js";

/** How long /bot/ready waits for each dependency. */
const READY_CHECK_DEADLINE_MS = 1500;
/**
 * How long an isolate reuses a readiness result: /bot/ready is public, and each probe costs an Upstash
 * command and a Neon query (and keeps Neon awake), so a flood of calls costs one probe per window.
 */
const READY_REUSE_MS = 5000;
/** A failing result is reused for less, so a recovery shows soon. */
const NOT_READY_REUSE_MS = 1000;

/**
 * Why a check failed, in words that leak no hostname, token or driver message: the service refused or
 * dropped the connection, did not answer in time, could not be resolved, failed the TLS handshake,
 * refused the credentials, answered 5xx, or answered with an error of its own; `unreachable` when the
 * runtime says no more than that the request failed.
 */
export type FailureReason = "refused" | "timeout" | "dns" | "tls" | "auth" | "http_5xx" | "error" | "unreachable";

/** The result of one readiness check. */
export type CheckResult = { status: "ok"; latency_ms: number } | { status: "fail"; reason: FailureReason; latency_ms: number };

/** What /bot/ready answers, and when its checks ran. */
interface Readiness {
  ready: boolean;
  checkedAt: string;
  checks: { redis: CheckResult; postgres: CheckResult };
}

const AUTH_MESSAGE = /unauthori[sz]ed|wrongpass|noauth|invalid .*token|password authentication/i;

/** A probe's HTTP answer that was not a success. */
class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}`);
  }
}

/**
 * A failed HTTP answer. Cloudflare's edge answers a Worker's subrequest it could not deliver with a
 * status and `error code: N` in the body: 1016 DNS, 525/526 TLS, 521/523 refused, 522/524 timed out.
 */
function reasonOfHttp(status: number, body: string): FailureReason {
  if (status === 401 || status === 403 || AUTH_MESSAGE.test(body)) return "auth";
  const edgeCode = Number(/error code: (\d+)/.exec(body)?.[1] ?? status);
  if (edgeCode === 1016) return "dns";
  if (edgeCode === 525 || edgeCode === 526) return "tls";
  if (edgeCode === 521 || edgeCode === 523) return "refused";
  if (edgeCode === 522 || edgeCode === 524) return "timeout";
  return status >= 500 ? "http_5xx" : "error";
}

/** A request that got no answer at all, by the runtime's words for it. */
function reasonOfNetwork(message: string): FailureReason {
  if (/ENOTFOUND|EAI_AGAIN|getaddrinfo|dns/i.test(message)) return "dns";
  if (/certificate|ssl|tls|handshake/i.test(message)) return "tls";
  if (/refused|reset|connection lost|socket hang up|closed/i.test(message)) return "refused";
  return "unreachable";
}

function isTimeout(error: unknown): boolean {
  return error instanceof DeadlineExceededError || (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError"));
}

/** Pings Upstash's REST API itself: its client hides the HTTP status a reason is read from. */
async function probeRedis(runtime: Runtime): Promise<void> {
  const { url, token } = runtime.config.redis;
  const response = await fetch(`${url.replace(/\/+$/, "")}/ping`, {
    headers: { Authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(READY_CHECK_DEADLINE_MS),
  });
  const body = await response.text();
  if (!response.ok) throw new HttpFailure(response.status, body);
}

function redisReason(error: unknown): FailureReason {
  if (isTimeout(error)) return "timeout";
  if (error instanceof HttpFailure) return reasonOfHttp(error.status, error.body);
  return reasonOfNetwork(error instanceof Error ? error.message : String(error));
}

/** Read by shape, so the Neon driver need not be loaded to classify its errors. */
interface NeonFailure {
  name?: string;
  code?: string;
  message?: string;
  sourceError?: { message?: string };
}

function postgresReason(error: unknown): FailureReason {
  if (isTimeout(error)) return "timeout";
  const failure = ((error instanceof Error && error.cause !== undefined ? error.cause : error) ?? {}) as NeonFailure;
  if (typeof failure.code === "string" && failure.code !== "") return failure.code.startsWith("28") ? "auth" : "error";
  const message = failure.message ?? "";
  const http = /HTTP status (\d+)\)?:?\s*([\s\S]*)$/.exec(message);
  if (http) return reasonOfHttp(Number(http[1]), http[2] ?? "");
  return reasonOfNetwork(failure.sourceError?.message ?? message);
}

async function check(probe: () => Promise<unknown>, reasonOf: (error: unknown) => FailureReason): Promise<CheckResult> {
  const started = Date.now();
  try {
    await withDeadline(probe(), READY_CHECK_DEADLINE_MS);
    return { status: "ok", latency_ms: Date.now() - started };
  } catch (error) {
    return { status: "fail", reason: reasonOf(error), latency_ms: Date.now() - started };
  }
}

async function probe(runtime: Runtime): Promise<Readiness> {
  const [redis, postgres] = await Promise.all([
    check(() => probeRedis(runtime), redisReason),
    check(() => runtime.db.query("SELECT 1"), postgresReason),
  ]);
  return { ready: redis.status === "ok" && postgres.status === "ok", checkedAt: new Date().toISOString(), checks: { redis, postgres } };
}

/**
 * A probe in flight is shared until it settles, or for at most this long: one whose request was cancelled
 * may never settle, and must not hold every later call.
 */
const IN_FLIGHT_REUSE_MS = 2 * READY_CHECK_DEADLINE_MS;

/** Per isolate: the latest probe (in flight or done), and until when it is reused. */
const latest = new WeakMap<Runtime, { readiness: Promise<Readiness>; reuseUntil: number }>();

/** The isolate's readiness: concurrent and repeated calls within the reuse window share one probe. */
function readinessOf(runtime: Runtime): Promise<Readiness> {
  const cached = latest.get(runtime);
  if (cached !== undefined && Date.now() < cached.reuseUntil) return cached.readiness;
  const entry = { readiness: probe(runtime), reuseUntil: Date.now() + IN_FLIGHT_REUSE_MS };
  latest.set(runtime, entry);
  void entry.readiness.then((readiness) => {
    entry.reuseUntil = Date.now() + (readiness.ready ? READY_REUSE_MS : NOT_READY_REUSE_MS);
  });
  return entry.readiness;
}

/** `GET /health` (liveness, no dependencies) and `GET /ready` (Redis and Postgres answer in time). */
export const health = new Hono<AppEnv>();

health.get("/health", (c) => c.json({ status: "ok" }));

health.get("/ready", withRuntime, async function ready(c) {
  const { ready, checkedAt, checks } = await readinessOf(c.var.runtime);
  return c.json({ status: ready ? "ready" : "not_ready", checked_at: checkedAt, checks }, ready ? 200 : 503);
});
