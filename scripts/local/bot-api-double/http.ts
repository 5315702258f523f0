/** The double's answers and request bodies, with Telegram's limits and error shape. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody, sendJson } from "../http.js";
import { ApiError } from "./api-error.js";

const MAX_BODY_BYTES = 50 * 1024 * 1024; // Telegram's upload limit

/**
 * The whole request body.
 * @throws ApiError 413 past Telegram's upload limit.
 */
export const readRequestBody = (req: IncomingMessage): Promise<Buffer> =>
  readBody(req, MAX_BODY_BYTES, () => new ApiError(413, "Request Entity Too Large"));

/** Sends Telegram's `{ ok: false, error_code, description, parameters }` answer. */
export function sendError(res: ServerResponse, error: ApiError): void {
  sendJson(res, error.errorCode, {
    ok: false,
    error_code: error.errorCode,
    description: error.message,
    ...(error.retryAfter !== undefined ? { parameters: { retry_after: error.retryAfter } } : {}),
  });
}
