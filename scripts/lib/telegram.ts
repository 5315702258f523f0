import { Api, HttpError, type Transformer } from "grammy";
import { readVariable } from "../../src/config.js";
import { CliError } from "./cli.js";

/** The longest `retry_after` (seconds) the scripts wait out before calling again. */
export const MAX_RETRY_AFTER_SECONDS = 5;

type CallSignal = Parameters<Transformer>[3];

/**
 * Resolves after `ms`, or as soon as `signal` aborts (polling stops). Not `timers/promises`: on Node,
 * grammY's signals come from the abort-controller package, which Node's timers refuse.
 */
function pause(ms: number, signal: CallSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/**
 * A Bot API transformer for Telegram's flood control: a 429 whose `retry_after` is at most
 * `MAX_RETRY_AFTER_SECONDS` is waited out and the call made once more. A longer wait, or a second 429,
 * is handed back as Telegram's error: a one-shot script then fails with one line ("… retry after N")
 * instead of sleeping for minutes looking hung, and grammY's polling loop waits it out by itself.
 */
export const retryAfterOnce: Transformer = async (prev, method, payload, signal) => {
  const first = await prev(method, payload, signal);
  const wait = !first.ok && first.error_code === 429 ? first.parameters?.retry_after : undefined;
  if (wait === undefined || wait > MAX_RETRY_AFTER_SECONDS) return first;
  await pause(wait * 1000, signal);
  if (signal?.aborted) return first;
  const second = await prev(method, payload, signal);
  if (second.ok || second.error_code !== 429) return second;
  return { ...second, description: `${second.description} (again after waiting ${wait} s)` };
};

/**
 * Why a request could not reach its server: the system's error code ("ECONNREFUSED", "ENOTFOUND"), from
 * node-fetch's error or undici's cause. Never the error's message: it holds the URL, token and all.
 */
function networkReason(error: HttpError): string {
  const failure = error.error as { code?: string; name?: string; cause?: { code?: string } } | undefined;
  return failure?.code ?? failure?.cause?.code ?? (failure?.name === "AbortError" ? "timed out" : "no answer");
}

/**
 * A Bot API client for the token and API root in the environment (a trailing `/` on the root is fine),
 * waiting out a short 429 once (`retryAfterOnce`). A Bot API it cannot reach is a one-line CliError that
 * names the root (never the token in the path).
 */
export function botApiFromEnv(env: NodeJS.ProcessEnv = process.env): Api {
  const apiRoot = readVariable(env, "TELEGRAM_API_ROOT").replace(/\/+$/, "");
  const api = new Api(readVariable(env, "TELEGRAM_BOT_TOKEN"), { apiRoot });
  api.config.use(retryAfterOnce, async (prev, method, payload, signal) => {
    try {
      return await prev(method, payload, signal);
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      throw new CliError(`cannot reach the Bot API at ${apiRoot} (TELEGRAM_API_ROOT) for ${method}: ${networkReason(error)}`);
    }
  });
  return api;
}
