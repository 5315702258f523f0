/** HTTP plumbing of the double: request bodies in, JSON and Bot API error answers out. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { ApiError } from "./api-error.js";

const MAX_BODY_BYTES = 50 * 1024 * 1024; // Telegram's upload limit

/**
 * The whole request body.
 * @throws ApiError 413 past Telegram's upload limit.
 */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, "Request Entity Too Large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Sends `body` as JSON. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
  res.end(payload);
}

/** Sends Telegram's `{ ok: false, error_code, description, parameters }` answer. */
export function sendError(res: ServerResponse, error: ApiError): void {
  sendJson(res, error.errorCode, {
    ok: false,
    error_code: error.errorCode,
    description: error.message,
    ...(error.retryAfter !== undefined ? { parameters: { retry_after: error.retryAfter } } : {}),
  });
}
