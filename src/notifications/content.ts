import type { InlineKeyboardMarkup } from "grammy/types";
import { formatText, TelegramTextError, type ParseMode } from "../lib/telegram-text.js";

/** Telegram's limit on a message's text, counted after entity parsing. */
export const MAX_TEXT_LENGTH = 4096;

/** A link button under a notification. */
export interface Button {
  text: string;
  url: string;
}

/** What a notification says, the same to every chat. */
export interface NotificationContent {
  text: string;
  parseMode: ParseMode | undefined;
  disableNotification: boolean;
  buttons: Button[] | undefined;
}

/**
 * Why Telegram would refuse this text, or undefined when it would send it: markup it cannot parse,
 * nothing left to send, or more than 4096 characters once the markup is applied.
 */
export function textProblem(text: string, parseMode: ParseMode | undefined): string | undefined {
  let length: number;
  try {
    length = formatText(text, parseMode).text.length;
  } catch (error) {
    if (error instanceof TelegramTextError) return error.message;
    throw error;
  }
  if (length === 0) return "must not be empty";
  if (length > MAX_TEXT_LENGTH) return `must be at most ${MAX_TEXT_LENGTH} characters as Telegram counts them (after entity parsing), not ${length}`;
  return undefined;
}

/** The inline keyboard of the buttons, one per row. */
export function replyMarkupOf(buttons: Button[] | undefined): InlineKeyboardMarkup | undefined {
  if (buttons === undefined || buttons.length === 0) return undefined;
  return { inline_keyboard: buttons.map((button) => [{ text: button.text, url: button.url }]) };
}

/** SHA-256 (hex) of a value's JSON: the same request always gives the same fingerprint. */
export async function fingerprintOf(value: unknown): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(value)));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
