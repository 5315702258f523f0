import { Api } from "grammy";
import { readVariable } from "../../src/config.js";

/** A Bot API client for the token and API root in the environment (a trailing `/` on the root is fine). */
export function botApiFromEnv(env: NodeJS.ProcessEnv = process.env): Api {
  const apiRoot = readVariable(env, "TELEGRAM_API_ROOT").replace(/\/+$/, "");
  return new Api(readVariable(env, "TELEGRAM_BOT_TOKEN"), { apiRoot });
}
