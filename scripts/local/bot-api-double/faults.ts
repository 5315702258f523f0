/** Faults a test asks the double for: their shape, their check and the error answers they give. */
import { isJsonObject } from "../json-object.js";
import { ApiError } from "./api-error.js";

/**
 * Trouble the double causes instead of (or before) handling a call, as Telegram does when it is
 * unwell: an error answer, a slow answer, or a slow error.
 */
export interface BotApiFault {
  /** Bot API method (case-insensitive), or `"*"` for any. */
  method: string;
  /** HTTP status and `error_code`, e.g. 500, 429, 403, 400. Required unless `delay_ms` is given. */
  error_code?: number;
  /** Wait this long before answering; without `error_code` the call is then handled normally. */
  delay_ms?: number;
  /** Defaults per code, e.g. "Too Many Requests: retry after 3", "Forbidden: bot was blocked by the user". */
  description?: string;
  /** Sent as `parameters.retry_after`; a 429 without it gets 1. */
  retry_after?: number;
  /** Fail only calls whose `chat_id` is this one. */
  chat_id?: number | string;
  /** Fail only calls whose `callback_query_id` is this one (answerCallbackQuery has no chat). */
  callback_query_id?: string;
  /** How many matching calls fail; unlimited until cleared when absent. */
  times?: number;
}

const DEFAULT_DESCRIPTIONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden: bot was blocked by the user",
  404: "Not Found",
  409: "Conflict",
  500: "Internal Server Error",
  502: "Bad Gateway",
};

/** The error answer a fault with this `error_code` gives, in Telegram's wording unless the fault has its own. */
export function faultError(fault: BotApiFault, errorCode: number): ApiError {
  const retryAfter = errorCode === 429 ? (fault.retry_after ?? 1) : fault.retry_after;
  const description =
    fault.description ??
    (errorCode === 429
      ? `Too Many Requests: retry after ${retryAfter}`
      : (DEFAULT_DESCRIPTIONS[errorCode] ?? (errorCode >= 500 ? "Internal Server Error" : "Bad Request")));
  return new ApiError(errorCode, description, retryAfter);
}

/**
 * A fault given to `addFault` or `POST /__control/faults`, checked.
 * @throws TypeError saying what is wrong with it.
 */
export function checkFault(value: unknown): BotApiFault {
  const problem = (why: string): TypeError => new TypeError(`invalid fault: ${why}`);
  if (!isJsonObject(value)) throw problem("expected an object");
  const { method, error_code, delay_ms, description, retry_after, chat_id, callback_query_id, times } = value;
  if (typeof method !== "string" || method === "") throw problem("method must be a method name or \"*\"");
  if (delay_ms !== undefined && !(Number.isInteger(delay_ms) && (delay_ms as number) >= 0)) {
    throw problem("delay_ms must be a non-negative integer");
  }
  if (error_code === undefined && delay_ms === undefined) throw problem("give error_code, delay_ms or both");
  if (error_code !== undefined && !(Number.isInteger(error_code) && (error_code as number) >= 400 && (error_code as number) <= 599)) {
    throw problem("error_code must be an integer from 400 to 599");
  }
  if (description !== undefined && typeof description !== "string") throw problem("description must be a string");
  if (retry_after !== undefined && !(Number.isInteger(retry_after) && (retry_after as number) >= 0)) {
    throw problem("retry_after must be a non-negative integer");
  }
  if (chat_id !== undefined && typeof chat_id !== "number" && typeof chat_id !== "string") {
    throw problem("chat_id must be a number or a string");
  }
  if (callback_query_id !== undefined && typeof callback_query_id !== "string") throw problem("callback_query_id must be a string");
  if (times !== undefined && !(Number.isInteger(times) && (times as number) >= 1)) throw problem("times must be a positive integer");
  return { ...(value as unknown as BotApiFault) };
}
