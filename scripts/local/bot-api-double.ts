/**
 * A local Telegram Bot API double for tests and development: Telegram cannot be reached from here.
 *
 * It answers like api.telegram.org — the same routes (`/bot<token>/<method>`, method names
 * case-insensitive), the same parameter encodings (JSON, form-urlencoded, multipart, query string),
 * the same `{ ok, result }` / `{ ok: false, error_code, description, parameters }` envelopes and
 * HTTP statuses, and Telegram's own wording for the errors a bot is most likely to provoke.
 * Every token it accepts is the same bot, sharing one state.
 *
 * `npm run local:services` starts it. Tests that cannot call the exported API (the Worker runs
 * inside workerd) steer it through the `/__control/...` HTTP endpoints. Bot API calls can be given an
 * added latency, and their arrival and answer times recorded (request-timing.ts).
 */
import { createServer } from "node:http";
import { ApiError } from "./bot-api-double/api-error.js";
import { botApiEndpoint } from "./bot-api-double/bot-api.js";
import { controlEndpoint, controlsOf, type BotApiDoubleControls } from "./bot-api-double/control.js";
import { sendError } from "./bot-api-double/http.js";
import { sendJson } from "./http.js";
import { BotState } from "./bot-api-double/state.js";
import { listen, type ListenOptions } from "./listen.js";
import { RequestTiming } from "./request-timing.js";

export type { BotApiDoubleControls } from "./bot-api-double/control.js";
export type { BotApiFault } from "./bot-api-double/faults.js";
export type { RecordedCall } from "./bot-api-double/state.js";

/** Where the double listens and which bot it plays. */
export interface BotApiDoubleOptions extends ListenOptions {
  /** Tokens the double accepts; any other token gets 401 Unauthorized. */
  tokens: string[];
  /** What `getMe` returns; the `from` of sent messages is derived from it. */
  botInfo: Record<string, unknown>;
  /** Added before each Bot API call is answered, as a round trip to Telegram would be; default 0. */
  latencyMs?: number;
}

/** A running double: its address, its test controls and `close`. */
export interface BotApiDouble extends BotApiDoubleControls {
  /** `http://HOST:PORT`, what `TELEGRAM_API_ROOT` (grammY's `apiRoot`) should be. */
  url: string;
  port: number;
  /** Ends any pending long poll and closes every connection. */
  close(): Promise<void>;
}

/**
 * Starts the double. Resolves once it listens.
 * @throws when the port is taken.
 */
export async function startBotApiDouble(options: BotApiDoubleOptions): Promise<BotApiDouble> {
  const state = new BotState();
  const controls = controlsOf(state);
  const botApi = botApiEndpoint(state, new Set(options.tokens), options.botInfo);
  const control = controlEndpoint(state, controls, botApi);
  const timing = new RequestTiming(options.latencyMs);

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://bot-api-double.local");
    const handle = (handled: Promise<void>) =>
      handled.catch((error: unknown) => {
        // A bug in the double, not a Telegram answer: say so loudly.
        console.error(JSON.stringify({ msg: "bot api double failed", path: url.pathname, error: String(error) }));
        if (!res.headersSent) sendError(res, new ApiError(500, "Internal Server Error"));
      });
    // Recorded by method only: the path holds the token.
    const method = url.pathname.slice(url.pathname.lastIndexOf("/") + 1);
    if (!url.pathname.startsWith("/__control/")) return timing.serve(res, method, () => void handle(botApi.serve(req, res, url)));
    const timingAnswer = timing.control(`${req.method ?? "GET"} ${url.pathname.replace(/\/+$/, "")}`, url);
    if (timingAnswer !== undefined) return sendJson(res, timingAnswer.status, timingAnswer.body);
    void handle(control(req, res, url));
  });

  const { port, origin } = await listen(server, options);

  return {
    ...controls,
    url: origin,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) return resolve();
        state.endPoll();
        server.close((error) => (error ? reject(error) : resolve()));
        // Answered long polls flush first; keep-alive sockets would otherwise hold close() open.
        setImmediate(() => server.closeAllConnections());
      }),
  };
}
