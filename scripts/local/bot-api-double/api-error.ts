/**
 * A Bot API error answer, sent as `{ ok: false, error_code, description, parameters }` with
 * `error_code` as the HTTP status.
 */
export class ApiError extends Error {
  readonly errorCode: number;
  readonly retryAfter: number | undefined;
  constructor(errorCode: number, description: string, retryAfter?: number) {
    super(description);
    this.errorCode = errorCode;
    this.retryAfter = retryAfter;
  }
}

/** 400 in Telegram's wording: `Bad Request: <what>`. */
export const badRequest = (what: string): ApiError => new ApiError(400, `Bad Request: ${what}`);
