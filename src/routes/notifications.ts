import { Hono } from "hono/tiny";
import * as v from "valibot";
import { acceptNotification } from "../notifications/producer.js";
import type { AppEnv } from "../types.js";
import { idConflict, internalAuth, messageText, MISSING, notificationIdField, parseBody, sizeGuard, textFitsTelegram, userId } from "./internal-request.js";
import { withRuntime } from "./with-runtime.js";

/** 10,000 user ids and a 4096-character text with its markup fit well within this. */
const MAX_REQUEST_BYTES = 512 * 1024;
const MAX_USER_IDS = 10_000;
const MAX_BUTTONS = 10;
/** Per-chat results per page of `?results=1`. */
const RESULTS_PAGE = 1000;

const button = v.object(
  {
    text: v.pipe(v.string("must be a string"), v.minLength(1, "must not be empty"), v.maxLength(64, "must be at most 64 characters")),
    url: v.pipe(v.string("must be a string"), v.maxLength(2048, "must be at most 2048 characters"), v.regex(/^https:\/\/[^\s/?#]+\.[^\s]*$/, "must be an https:// URL")),
  },
  MISSING,
);

const notificationRequest = v.pipe(
  v.object(
    {
      id: notificationIdField,
      user_ids: v.optional(
        v.pipe(
          v.array(userId, "must be an array of user ids"),
          v.minLength(1, `must have 1-${MAX_USER_IDS} entries`),
          v.maxLength(MAX_USER_IDS, `must have 1-${MAX_USER_IDS} entries`),
        ),
      ),
      audience: v.optional(v.literal("all_linked", 'must be "all_linked"')),
      text: messageText,
      parse_mode: v.optional(v.picklist(["HTML", "MarkdownV2"], "must be HTML or MarkdownV2")),
      disable_notification: v.optional(v.boolean("must be true or false")),
      buttons: v.optional(v.pipe(v.array(button, "must be an array of buttons"), v.maxLength(MAX_BUTTONS, `must have at most ${MAX_BUTTONS} buttons`))),
    },
    MISSING,
  ),
  v.forward(
    v.check((request) => (request.user_ids === undefined) !== (request.audience === undefined), 'give user_ids or "audience": "all_linked", not both'),
    ["user_ids"],
  ),
  textFitsTelegram(),
);

const resultsQuery = v.object({
  results: v.optional(v.picklist(["1", "0"], "must be 1 or 0")),
  cursor: v.optional(v.pipe(v.string(), v.regex(/^-?\d{1,19}$/, "must be a next_cursor from an earlier page"))),
});

/** Notifications handed over by Django and sent through the queue: `POST /notifications`, `GET /notifications/<id>`. */
export const notifications = new Hono<AppEnv>();

notifications.post("/notifications", withRuntime, internalAuth, sizeGuard(MAX_REQUEST_BYTES), async function handOver(c) {
  const parsed = await parseBody(c, notificationRequest);
  if ("response" in parsed) return parsed.response;
  const { id, user_ids, text, parse_mode, disable_notification, buttons } = parsed.data;
  const acceptance = await acceptNotification(
    {
      id,
      audience: user_ids === undefined ? "all_linked" : { userIds: user_ids },
      text,
      parseMode: parse_mode,
      disableNotification: disable_notification ?? false,
      buttons,
    },
    c.var.runtime.notifications.forRequest(),
  );
  if (acceptance.outcome === "conflict") {
    return idConflict(c);
  }
  const body = { id, recipients: acceptance.row.recipients, status_url: `/bot/internal/notifications/${id}` };
  return c.json(body, acceptance.outcome === "enqueued" ? 202 : 200);
});

notifications.get("/notifications/:id", withRuntime, internalAuth, async function status(c) {
  const id = c.req.param("id");
  if (!v.is(notificationIdField, id)) return c.json({ error: "not_found" }, 404);
  const query = v.safeParse(resultsQuery, c.req.query());
  if (!query.success) return c.json({ error: "invalid_request", fields: v.flatten(query.issues).nested ?? {} }, 400);
  const { store } = c.var.runtime.notifications.forRequest();
  const found = await store.status(id);
  if (found === undefined) return c.json({ error: "not_found" }, 404);
  if (query.output.results !== "1") return c.json(found);
  const results = (await store.deliveries(id, query.output.cursor, RESULTS_PAGE)).map(({ chat_id, status, message_id, error, attempts }) => ({
    chat_id,
    // A claim in progress is still pending to the caller.
    status: status === "sending" ? "pending" : status,
    ...(status === "sent" ? { message_id } : {}),
    ...(error !== null && status !== "sent" ? { error } : {}),
    attempts,
  }));
  return c.json({ ...found, results, next_cursor: results.length === RESULTS_PAGE ? (results.at(-1)?.chat_id ?? null) : null });
});
