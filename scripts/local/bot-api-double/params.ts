/**
 * Reading Bot API parameters. Telegram reads every parameter from text, whatever the encoding;
 * these read it the same way.
 */
import type { JsonObject } from "../json-object.js";
import { badRequest } from "./api-error.js";

/** A parameter as Telegram's text: absent is "", objects are their JSON. */
export function str(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** An integer parameter, or undefined when it is not one. */
export function int(value: unknown): number | undefined {
  const text = str(value).trim();
  return /^[-+]?\d+$/.test(text) ? Number(text) : undefined;
}

/** A boolean parameter: true, "true" or "1". */
export const flag = (value: unknown): boolean => value === true || /^(true|1)$/i.test(str(value).trim());
/** `n` limited to `low..high`. */
export const clamp = (n: number, low: number, high: number): number => Math.min(high, Math.max(low, n));

/** A parameter that carries JSON: form encodings send it as text, JSON bodies as a value. */
export function jsonParam(value: unknown, what: string): unknown {
  if (typeof value !== "string") return value ?? undefined;
  if (value === "") return undefined;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw badRequest(`can't parse ${what} JSON object`);
  }
}

/** A chat as the double knows it: its type follows from the sign and size of its id. */
export interface Chat {
  id: number;
  type: "private" | "group" | "supergroup";
}

/** The chat named by `chat_id`. */
export function chatOf(params: JsonObject): Chat {
  if (str(params.chat_id) === "") throw badRequest("chat_id is empty");
  const id = int(params.chat_id);
  // The double knows no @usernames, so those are as unknown as a malformed id.
  if (id === undefined || id === 0) throw badRequest("chat not found");
  return { id, type: id > 0 ? "private" : id <= -1_000_000_000_000 ? "supergroup" : "group" };
}

/** The positive `message_id`. */
export function messageIdOf(params: JsonObject): number {
  const id = int(params.message_id);
  if (id === undefined || id <= 0) throw badRequest("message identifier is not specified");
  return id;
}
