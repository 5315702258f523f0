import { GrammyError, HttpError } from "grammy";

/** True for Bot API failures that a later retry can fix: network errors, 5xx and 429. */
export function isRetryableTelegramError(error: unknown): boolean {
  if (error instanceof HttpError) return true;
  return error instanceof GrammyError && (error.error_code >= 500 || error.error_code === 429);
}
