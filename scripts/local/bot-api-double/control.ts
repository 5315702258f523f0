/** The test controls of the double: as methods for tests in Node, as `/__control/*` endpoints for the rest. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { sendJson } from "../http.js";
import { isJsonObject, type JsonObject } from "../json-object.js";
import type { BotApiEndpoint } from "./bot-api.js";
import { checkFault, type BotApiFault } from "./faults.js";
import { floodControlRoute } from "./flood-control.js";
import { readRequestBody } from "./http.js";
import type { BotState, RecordedCall } from "./state.js";

/** What a test can do to the double. */
export interface BotApiDoubleControls {
  /** Calls recorded so far, optionally only those of one method (case-insensitive). */
  calls(method?: string): RecordedCall[];
  /** Clears calls, faults, queued updates, webhook, commands and remembered messages. */
  reset(): void;
  addFault(fault: BotApiFault): void;
  clearFaults(): void;
  /**
   * Queues updates (plain objects, or grammY's `Update`) for `getUpdates` and
   * `pending_update_count`; a missing `update_id` is assigned.
   */
  queueUpdates(updates: readonly object[]): void;
}

function checkUpdates(value: unknown): JsonObject[] {
  if (!Array.isArray(value) || !value.every(isJsonObject)) throw new TypeError("updates must be an array of objects");
  if (value.some((u) => u.update_id !== undefined && !Number.isInteger(u.update_id))) {
    throw new TypeError("update_id must be an integer");
  }
  return value;
}

/** The controls over `state`. */
export function controlsOf(state: BotState): BotApiDoubleControls {
  return {
    calls: (method?: string): RecordedCall[] =>
      state.calls.filter((call) => method === undefined || call.method.toLowerCase() === method.toLowerCase()),
    reset: () => state.reset(),
    addFault: (fault: BotApiFault) => void state.faults.push(checkFault(fault)),
    clearFaults: () => {
      state.faults = [];
    },
    queueUpdates: (updates: readonly object[]) => state.queue(checkUpdates(updates)),
  };
}

/**
 * Serves `/__control/*`: `GET|DELETE calls`, `POST reset`, `POST|DELETE faults`, `POST updates`,
 * `POST webhook-error` (what `getWebhookInfo` reports as the last delivery error), `POST
 * webhook-reply` (a webhook's answer `{ method, ...params }`, run as Telegram runs it) and
 * `POST|GET|DELETE flood` (./flood-control.ts).
 */
export function controlEndpoint(
  state: BotState,
  controls: BotApiDoubleControls,
  botApi: Pick<BotApiEndpoint, "runWebhookReply">,
): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> {
  return async (req, res, url) => {
    const body = req.method === "POST" ? await readRequestBody(req) : Buffer.alloc(0);
    const json = (): unknown => JSON.parse(body.toString("utf8") || "null");
    const done = (extra: JsonObject = {}): void => sendJson(res, 200, { ok: true, ...extra });
    try {
      const route = `${req.method ?? "GET"} ${url.pathname.replace(/\/+$/, "")}`;
      const flood = floodControlRoute(state, route, json);
      if (flood !== undefined) return sendJson(res, 200, flood);
      switch (route) {
        case "GET /__control/calls":
          return sendJson(res, 200, controls.calls(url.searchParams.get("method") || undefined));
        case "DELETE /__control/calls":
          state.calls = [];
          return done();
        case "POST /__control/reset":
          controls.reset();
          return done();
        case "POST /__control/faults":
          controls.addFault(json() as BotApiFault);
          return done();
        case "DELETE /__control/faults":
          controls.clearFaults();
          return done();
        case "POST /__control/updates": {
          const updates = checkUpdates(json());
          controls.queueUpdates(updates);
          return done({ queued: updates.length });
        }
        case "POST /__control/webhook-reply": {
          const reply = json();
          if (!isJsonObject(reply) || typeof reply.method !== "string") throw new TypeError("expected { method: string, ...params }");
          return done({ result: await botApi.runWebhookReply(reply) });
        }
        case "POST /__control/webhook-error": {
          const error = json();
          if (!isJsonObject(error) || !Number.isInteger(error.last_error_date) || typeof error.last_error_message !== "string") {
            throw new TypeError("expected { last_error_date: integer, last_error_message: string }");
          }
          state.lastError = { date: error.last_error_date as number, message: error.last_error_message };
          return done();
        }
        default:
          return sendJson(res, 404, { ok: false, error: `no control endpoint ${req.method ?? ""} ${url.pathname}` });
      }
    } catch (error) {
      sendJson(res, 400, { ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  };
}
