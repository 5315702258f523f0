/** A JSON object, as requests carry them. */
export type JsonObject = Record<string, unknown>;

/** True for a JSON object, not an array or null. */
export const isJsonObject = (value: unknown): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);
