import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { timingSafeEqual } from "hono/utils/buffer";
import * as v from "valibot";
import type { ParseMode } from "../lib/telegram-text.js";
import { textProblem } from "../notifications/content.js";
import { NOTIFICATION_ID } from "../notifications/messages.js";
import type { AppEnv } from "../types.js";

/** valibot reports a missing field with the message of the object schema. */
export const MISSING = "is required";

/** Django's notification id (its idempotency key), with the words of a 400. */
export const notificationIdField = v.pipe(v.string("must be a string"), v.regex(NOTIFICATION_ID, "must be 1-64 characters of A-Z a-z 0-9 _ . : -"));

/** The answer to an id reused with another body. */
export function idConflict(c: Context<AppEnv>): Response {
  return c.json({ error: "conflict", detail: "this id belongs to a notification with another body" }, 409);
}

/** A web account id as Django sends it. */
export const userId = v.pipe(
  v.number("must be a number"),
  v.safeInteger("must be an integer"),
  v.minValue(1, "must be positive"),
);

/** Django calls the internal API with `Authorization: Bearer <BOT_INTERNAL_API_TOKEN>`, compared in constant time. */
export const internalAuth = createMiddleware<AppEnv>(async function internalAuth(c, next) {
  const presented = /^Bearer (.+)$/.exec(c.req.header("Authorization") ?? "")?.[1];
  const valid = presented !== undefined && (await timingSafeEqual(presented, c.var.runtime.config.internalApiToken));
  if (!valid) return c.json({ error: "unauthorized" }, 401);
  return next();
});

/** 413 past `maxSize` bytes, without buffering more. */
export function sizeGuard(maxSize: number) {
  return bodyLimit({ maxSize, onError: (c) => c.json({ error: "payload_too_large" }, 413) });
}

/** The JSON body checked by `schema`, or the 400 answer naming each field's problems. */
export async function parseBody<S extends v.GenericSchema>(
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

/** Markup may make the text longer than Telegram's 4096 characters; this much is plenty for any. */
const MAX_RAW_TEXT = 32 * 1024;

/** A message text before its parse mode is applied. */
export const messageText = v.pipe(
  v.string("must be a string"),
  v.minLength(1, "must not be empty"),
  v.maxLength(MAX_RAW_TEXT, `must be at most ${MAX_RAW_TEXT} characters of markup`),
);

/** The object's `text` as Telegram reads it with its `parse_mode`: well-formed markup, 1–4096 characters after it. */
export function textFitsTelegram<T extends { text: string; parse_mode?: ParseMode | undefined }>() {
  return v.rawCheck<T>(({ dataset, addIssue }) => {
    // Only a text that passed its own checks (and so says one thing at a time).
    if (!dataset.typed || dataset.issues !== undefined) return;
    const problem = textProblem(dataset.value.text, dataset.value.parse_mode);
    if (problem === undefined) return;
    addIssue({ message: problem, path: [{ type: "object", origin: "value", input: dataset.value, key: "text", value: dataset.value.text }] });
  });
}
