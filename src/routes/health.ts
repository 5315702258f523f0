import { Hono } from "hono";
import { NeonDbError } from "@neondatabase/serverless";
import { errors } from "@upstash/redis/cloudflare";
import { DeadlineExceededError, withDeadline } from "../lib/deadline.js";
import type { AppEnv } from "../types.js";
import { withRuntime } from "./with-runtime.js";

/** How long /bot/ready waits for each dependency. */
const READY_CHECK_DEADLINE_MS = 1500;

/** Why a check failed, in words that leak no hostname, token or driver message. */
export type FailureReason = "timeout" | "unreachable" | "auth" | "error";

/** The result of one readiness check. */
export type CheckResult = { status: "ok"; latency_ms: number } | { status: "fail"; reason: FailureReason; latency_ms: number };

const AUTH_MESSAGE = /unauthori[sz]ed|wrongpass|noauth|invalid .*token|password authentication/i;

function reasonOf(error: unknown): FailureReason {
  if (error instanceof DeadlineExceededError) return "timeout";
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
  if (cause instanceof NeonDbError) {
    if (cause.code?.startsWith("28")) return "auth";
    return cause.code === undefined ? "unreachable" : "error";
  }
  if (cause instanceof errors.UpstashError) return AUTH_MESSAGE.test(cause.message) ? "auth" : "error";
  return "unreachable";
}

async function check(probe: () => Promise<unknown>): Promise<CheckResult> {
  const started = Date.now();
  try {
    await withDeadline(probe(), READY_CHECK_DEADLINE_MS);
    return { status: "ok", latency_ms: Date.now() - started };
  } catch (error) {
    return { status: "fail", reason: reasonOf(error), latency_ms: Date.now() - started };
  }
}

/** `GET /health` (liveness, no dependencies) and `GET /ready` (Redis and Postgres answer in time). */
export const health = new Hono<AppEnv>();

health.get("/health", (c) => c.json({ status: "ok" }));

health.get("/ready", withRuntime, async function ready(c) {
  const { redis, db } = c.var.runtime;
  const [redisCheck, postgresCheck] = await Promise.all([
    check(() => redis.ping()),
    check(() => db.query("SELECT 1")),
  ]);
  const ok = redisCheck.status === "ok" && postgresCheck.status === "ok";
  return c.json({ status: ok ? "ready" : "not_ready", checks: { redis: redisCheck, postgres: postgresCheck } }, ok ? 200 : 503);
});
