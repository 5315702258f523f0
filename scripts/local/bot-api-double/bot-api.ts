/**
 * Serves `/bot<token>/<method>`: records the call, applies faults, runs the method, answers like Telegram;
 * and runs a webhook reply (a method in a webhook's answer) as Telegram does.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { sendJson } from "../http.js";
import type { JsonObject } from "../json-object.js";
import { ApiError } from "./api-error.js";
import { faultError } from "./faults.js";
import { sendError } from "./http.js";
import { methodTable } from "./methods.js";
import { readParams } from "./request-params.js";
import type { BotState } from "./state.js";

/** Resolves after `ms`, or at once when the client goes away. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
    if (signal.aborted) done();
  });
}

/** The Bot API of the double: its HTTP endpoint, and what Telegram does with a webhook's answer. */
export interface BotApiEndpoint {
  /** Serves one `/bot<token>/<method>` request. It rejects with anything but an `ApiError`: that is a bug in the double. */
  serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>;
  /**
   * Runs the method a webhook answered with (`{ method, ...params }`), recorded like any call. Faults do
   * not apply: they stand for the bot's own requests failing, and this one is Telegram's.
   * @returns Telegram's answer to it, which the bot never sees.
   */
  runWebhookReply(reply: JsonObject): Promise<{ ok: boolean; description?: string }>;
}

/** The Bot API endpoint over `state`, for the bot `botInfo` under any of `tokens`. */
export function botApiEndpoint(state: BotState, tokens: ReadonlySet<string>, botInfo: JsonObject): BotApiEndpoint {
  const handlers = new Map(
    Object.entries(methodTable(state, botInfo)).map(([name, handler]) => [name.toLowerCase(), { name, handler }]),
  );

  async function runWebhookReply(reply: JsonObject): Promise<{ ok: boolean; description?: string }> {
    const { method: requested, ...params } = reply;
    const entry = handlers.get(String(requested).toLowerCase());
    const method = entry?.name ?? String(requested);
    state.calls.push({ method, token: [...tokens][0] ?? "", params, at: Date.now() });
    if (entry === undefined) return { ok: false, description: "Not Found" };
    try {
      const answer = await entry.handler(params, new AbortController().signal);
      state.events.emit("call", { method, params, result: answer.result });
      return { ok: true };
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      return { ok: false, description: error.message };
    }
  }

  async function serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    // Lets a long poll or a delay stop waiting when its client goes away.
    const abandoned = new AbortController();
    res.once("close", () => abandoned.abort());
    const route = /^\/bot([^/]+)\/([^/]*)$/.exec(url.pathname);
    let token = "";
    try {
      token = decodeURIComponent(route?.[1] ?? "");
    } catch {
      token = route?.[1] ?? "";
    }
    const entry = handlers.get((route?.[2] ?? "").toLowerCase());
    let params: JsonObject = {};
    let unreadable: ApiError | undefined;
    try {
      params = await readParams(req, url);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      unreadable = error;
    }
    const method = entry?.name ?? route?.[2] ?? url.pathname;
    state.calls.push({ method, token, params, at: Date.now() });

    if (route === null) return sendError(res, new ApiError(404, "Not Found"));
    if (!tokens.has(token)) return sendError(res, new ApiError(401, "Unauthorized"));
    if (unreadable !== undefined) return sendError(res, unreadable);
    const fault = state.takeFault(method, params);
    if (fault?.delay_ms !== undefined) await pause(fault.delay_ms, abandoned.signal);
    if (fault?.error_code !== undefined) return sendError(res, faultError(fault, fault.error_code));
    if (entry === undefined) return sendError(res, new ApiError(404, "Not Found"));
    const refusal = state.flood.admit(method, params);
    if (refusal !== undefined) return sendError(res, refusal);
    try {
      const reply = await entry.handler(params, abandoned.signal);
      state.events.emit("call", { method, params, result: reply.result });
      if (!res.destroyed) sendJson(res, 200, { ok: true, ...reply });
    } catch (error) {
      state.flood.withdraw(method, params);
      if (!(error instanceof ApiError)) throw error;
      if (!res.destroyed) sendError(res, error);
    }
  }

  return { serve, runWebhookReply };
}
