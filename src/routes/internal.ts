import { Hono } from "hono/tiny";
import * as v from "valibot";
import { notifyChats, notifyOnce } from "../notifications/direct.js";
import type { AppEnv } from "../types.js";
import { idConflict, internalAuth, messageText, MISSING, notificationIdField, parseBody, sizeGuard, textFitsTelegram, userId } from "./internal-request.js";
import { withRuntime } from "./with-runtime.js";

/** A notification is at most 4096 characters; anything far larger is not a request from Django. */
const MAX_REQUEST_BYTES = 64 * 1024;

const linkTokenRequest = v.object({ user_id: userId }, MISSING);
const notifyRequest = v.pipe(
  v.object(
    {
      id: v.optional(notificationIdField),
      user_id: userId,
      text: messageText,
      parse_mode: v.optional(v.picklist(["HTML", "MarkdownV2", "Markdown"], "must be HTML, MarkdownV2 or Markdown")),
    },
    MISSING,
  ),
  textFitsTelegram(),
);

/** Internal API for the Django backend: link tokens and one-user notifications (queued ones: ./notifications.ts). */
export const internal = new Hono<AppEnv>();

internal.post("/link-tokens", withRuntime, internalAuth, sizeGuard(MAX_REQUEST_BYTES), async function issueLinkToken(c) {
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

/**
 * One user, now: every linked, unblocked chat of the web account, paced with everything else the
 * bot sends. With an `id`, a repeat of the request sends nothing again.
 */
internal.post("/notify", withRuntime, internalAuth, sizeGuard(MAX_REQUEST_BYTES), async function notify(c) {
  const parsed = await parseBody(c, notifyRequest);
  if ("response" in parsed) return parsed.response;
  const { id, user_id, text, parse_mode } = parsed.data;
  const deps = c.var.runtime.notifications.forRequest();
  const content = { text, parseMode: parse_mode, disableNotification: false, buttons: undefined };
  const results =
    id === undefined
      ? await notifyChats(await deps.accounts.notifiableChats(user_id), content, deps)
      : await notifyOnce({ id, userId: user_id, content }, deps);
  if (results === undefined) return idConflict(c);
  return c.json({ user_id, delivered: results.filter((r) => r.status === "sent").length, results });
});
