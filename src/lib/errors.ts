/** `Retry-After` of a 503: when a redelivery may find the dependency back, or the update done. */
export const RETRY_AFTER_SECONDS = "5";

/** Which outside service failed. */
export type Dependency = "redis" | "postgres" | "telegram" | "queue";

/**
 * A failure of a dependency that a later retry can fix (network, timeout, 5xx, rate limit).
 * The webhook answers 503 for it so that Telegram redelivers the update.
 */
export class DependencyError extends Error {
  override readonly name = "DependencyError";
  constructor(
    readonly dependency: Dependency,
    options: { cause: unknown; message?: string },
  ) {
    super(options.message ?? `${dependency} is unavailable`, { cause: options.cause });
  }
}
