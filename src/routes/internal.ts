import { Hono } from "hono/tiny";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { timingSafeEqual } from "hono/utils/buffer";
import * as v from "valibot";
import { GrammyError } from "grammy";
import type { AppEnv } from "../types.js";
import { withRuntime } from "./with-runtime.js";

/** Longest wait for Telegram's `retry_after` within one notify request; longer ones are reported. */
const MAX_RETRY_AFTER_SECONDS = 5;
/** A notification is at most 4096 characters; anything far larger is not a request from Django. */
const MAX_REQUEST_BYTES = 64 * 1024;
/** valibot reports a missing field with the message of the object schema. */
const MISSING = "is required";

const userId = v.pipe(
  v.number("must be a number"),
  v.safeInteger("must be an integer"),
  v.minValue(1, "must be positive"),
);
const linkTokenRequest = v.object({ user_id: userId }, MISSING);
const notifyRequest = v.object(
  {
    user_id: userId,
    text: v.pipe(v.string("must be a string"), v.minLength(1, "must not be empty"), v.maxLength(4096, "must be at most 4096 characters")),
    parse_mode: v.optional(v.picklist(["HTML", "MarkdownV2", "Markdown"], "must be HTML, MarkdownV2 or Markdown")),
  },
  MISSING,
);

/** Django calls these with `Authorization: Bearer <BOT_INTERNAL_API_TOKEN>`, compared in constant time. */
const internalAuth = createMiddleware<AppEnv>(async function internalAuth(c, next) {
  const presented = /^Bearer (.+)$/.exec(c.req.header("Authorization") ?? "")?.[1];
  const valid = presented !== undefined && (await timingSafeEqual(presented, c.var.runtime.config.internalApiToken));
  if (!valid) return c.json({ error: "unauthorized" }, 401);
  return next();
});

async function parseBody<S extends v.GenericSchema>(
  c: Context<AppEnv>,
  schema: S,
): Promise<{ data: v.InferOutput<S> } | { response: Response }> {
  const invalid = (fields: Readonly<Record<string, readonly string[] | undefined>>) => ({
    response: c.json({ error: "invalid_request", fields }, 400),
  });
  const body: unknown = await c.req.json().catch(() => undefined);
  if (typeof body !== "object" || body === null || Array.isArray(body)) return invalid({ body: ["must be a JSON object"] });
  const result = v.safeParse(schema, body);
  if (result.success) return { data: result.output };
  return invalid(v.flatten(result.issues).nested ?? {});
}

/** Per-chat outcome of a notification. */
export type DeliveryResult =
  | { chat_id: string; status: "sent"; message_id: number }
  | { chat_id: string; status: "blocked" }
  | { chat_id: string; status: "rate_limited"; retry_after: number }
  | { chat_id: string; status: "failed"; error: string };

/** Internal API for the Django backend: link tokens and notifications. */
export const internal = new Hono<AppEnv>();

const sizeGuard = bodyLimit({
  maxSize: MAX_REQUEST_BYTES,
  onError: (c) => c.json({ error: "payload_too_large" }, 413),
});

internal.post("/link-tokens", withRuntime, internalAuth, sizeGuard, async function issueLinkToken(c) {
  const parsed = await parseBody(c, linkTokenRequest);
  if ("response" in parsed) return parsed.response;
  const { services, bot, botReady } = c.var.runtime;
  await botReady();
  const issued = await services.linkTokens.issue(parsed.data.user_id);
  return c.json(
    {
      token: issued.token,
      url: `https://t.me/${bot.botInfo.username}?start=link_${issued.token}`,
      expires_at: issued.expiresAt.toISOString(),
    },
    201,
  );
});

internal.post("/notify", withRuntime, internalAuth, sizeGuard, async function notify(c) {
  const parsed = await parseBody(c, notifyRequest);
  if ("response" in parsed) return parsed.response;
  const { services, bot } = c.var.runtime;
  const { user_id, text, parse_mode } = parsed.data;
  const { accounts } = services;
  const options = parse_mode === undefined ? {} : { parse_mode };

  const send = async (chatId: string, retried = false): Promise<DeliveryResult> => {
    try {
      const message = await bot.api.sendMessage(chatId, text, options);
      return { chat_id: chatId, status: "sent", message_id: message.message_id };
    } catch (error) {
      if (!(error instanceof GrammyError)) return { chat_id: chatId, status: "failed", error: "telegram_unreachable" };
      if (error.error_code === 403) {
        await accounts.setBlockedByChat(Number(chatId), true);
        return { chat_id: chatId, status: "blocked" };
      }
      const retryAfter = error.parameters.retry_after;
      if (error.error_code === 429 && retryAfter !== undefined) {
        if (retried || retryAfter > MAX_RETRY_AFTER_SECONDS) return { chat_id: chatId, status: "rate_limited", retry_after: retryAfter };
        await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
        return send(chatId, true);
      }
      return { chat_id: chatId, status: "failed", error: error.description };
    }
  };

  const results: DeliveryResult[] = [];
  for (const chatId of await accounts.notifiableChats(user_id)) results.push(await send(chatId));
  return c.json({ user_id, delivered: results.filter((r) => r.status === "sent").length, results });
});
