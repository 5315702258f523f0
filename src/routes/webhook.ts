import { Hono } from "hono/tiny";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { ipRestriction } from "hono/ip-restriction";
import { timingSafeEqual } from "hono/utils/buffer";
import type { Update } from "grammy/types";
import { RETRY_AFTER_SECONDS } from "../lib/errors.js";
import { plainLogger } from "../lib/logger.js";
import type { AppEnv } from "../types.js";
import { processUpdate, updateTypeOf, type Outcome } from "../webhook/process-update.js";
import { withRuntime } from "./with-runtime.js";

/** Telegram's webhook source networks (core.telegram.org/bots/webhooks). */
const TELEGRAM_NETWORKS = ["149.154.160.0/20", "91.108.4.0/22"];
/** Telegram's own cap on a webhook body is far below this; anything larger is not from Telegram. */
const MAX_UPDATE_BYTES = 1024 * 1024;
const SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token";

const telegramNetworksOnly = ipRestriction(
  (c) => c.req.header("CF-Connecting-IP") ?? "",
  { allowList: TELEGRAM_NETWORKS },
  (_remote, c) => c.json({ error: "forbidden" }, 403),
);

/** Optional allow-list of Telegram's networks on `CF-Connecting-IP` (`TELEGRAM_IP_ALLOWLIST=on`). */
const sourceGuard = createMiddleware<AppEnv>(async function sourceGuard(c, next) {
  if (!c.var.runtime.config.ipAllowlist) return next();
  if (!c.req.header("CF-Connecting-IP")) return c.json({ error: "forbidden" }, 403);
  return telegramNetworksOnly(c, next);
});

/** Checks the secret token in constant time before anything else touches the request. */
const secretGuard = createMiddleware<AppEnv>(async function secretGuard(c, next) {
  const presented = c.req.header(SECRET_HEADER);
  const valid = presented !== undefined && (await timingSafeEqual(presented, c.var.runtime.config.webhookSecret));
  if (!valid) return c.json({ error: "unauthorized" }, 401);
  return next();
});

const sizeGuard = bodyLimit({
  maxSize: MAX_UPDATE_BYTES,
  onError: (c) => c.json({ error: "payload_too_large" }, 413),
});

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Parses the body as an update: JSON (strict UTF-8) with a non-negative integer `update_id`. */
async function readUpdate(c: Context<AppEnv>): Promise<Update | undefined> {
  try {
    const body: unknown = JSON.parse(strictUtf8.decode(await c.req.arrayBuffer()));
    if (typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
    const updateId = (body as { update_id?: unknown }).update_id;
    return Number.isSafeInteger(updateId) && (updateId as number) >= 0 ? (body as Update) : undefined;
  } catch {
    return undefined;
  }
}

function respond(c: Context<AppEnv>, outcome: Outcome): Response {
  switch (outcome.kind) {
    case "handled":
    case "failed":
      return outcome.reply === undefined
        ? c.body(null, 200)
        : c.body(outcome.reply, 200, { "Content-Type": "application/json" });
    case "duplicate":
      return c.body(null, 200);
    case "in_progress":
      c.header("Retry-After", RETRY_AFTER_SECONDS);
      return c.json({ error: "update_in_progress" }, 503);
    case "timeout":
      c.header("Retry-After", RETRY_AFTER_SECONDS);
      return c.json({ error: "handler_timeout" }, 503);
    case "retry":
      c.header("Retry-After", RETRY_AFTER_SECONDS);
      return c.json({ error: "dependency_unavailable", dependency: outcome.dependency }, 503);
  }
}

/**
 * One JSON line per webhook request, rejected ones included (a flood of bad secrets shows in the logs):
 * `update_id`, update type and outcome once the body is an update, always status and duration.
 */
const logRequest = createMiddleware<AppEnv>(async function logRequest(c, next) {
  const started = Date.now();
  await next();
  const status = c.res.status;
  const fields = c.get("webhookLog") ?? { outcome: status >= 500 ? "error" : "rejected", method: c.req.method };
  (c.get("runtime")?.logger ?? plainLogger).info("webhook", { ...fields, status, duration_ms: Date.now() - started });
});

/** `POST /webhook/`: Telegram updates into grammY, answered by Telegram's retry rules. */
export const webhook = new Hono<AppEnv>();

webhook.use("/webhook", logRequest);

webhook.post("/webhook", withRuntime, sourceGuard, secretGuard, sizeGuard, async function handleWebhook(c) {
  const update = await readUpdate(c);
  if (update === undefined) return c.json({ error: "invalid_update" }, 400);
  const runtime = c.var.runtime;
  const outcome = await processUpdate(
    {
      bot: runtime.bot,
      replies: runtime.replies,
      sessions: runtime.sessions,
      rateLimiter: runtime.rateLimiter,
      ledger: runtime.ledger,
      logger: runtime.logger,
      botReady: runtime.botReady,
      timeoutMs: runtime.config.handlerTimeoutMs,
      redisTimeoutMs: runtime.config.redis.timeoutMs,
      waitUntil: (work) => c.executionCtx.waitUntil(work),
    },
    update,
  );
  c.set("webhookLog", { update_id: update.update_id, update_type: updateTypeOf(update), outcome: outcome.kind });
  return respond(c, outcome);
});

webhook.all("/webhook", (c) => {
  c.header("Allow", "POST");
  return c.json({ error: "method_not_allowed" }, 405);
});
