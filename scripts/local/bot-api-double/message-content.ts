/** What a sent or edited message contains: its formatted text or caption and its inline keyboard. */
import { isJsonObject, type JsonObject } from "../json-object.js";
import { badRequest } from "./api-error.js";
import { formatText as formatTelegramText, TelegramTextError, type Entity, type FormattedText } from "../../../src/lib/telegram-text.js";
import { jsonParam, str } from "./params.js";

/** Text as Telegram stores it (src/lib/telegram-text.ts), with Telegram's error answer for bad markup. */
function formatText(raw: unknown, parseMode: unknown, entities: unknown): FormattedText {
  const mode = str(parseMode);
  const given = mode === "" ? jsonParam(entities, "entities") : undefined;
  try {
    return formatTelegramText(str(raw), mode, Array.isArray(given) ? (given.filter(isJsonObject) as unknown as Entity[]) : []);
  } catch (error) {
    if (error instanceof TelegramTextError) throw badRequest(error.message);
    throw error;
  }
}

/** The `text` or `caption` of a message to send, checked as Telegram checks it; `{}` for no caption. */
export function textContent(params: JsonObject, field: "text" | "caption"): JsonObject {
  const body = formatText(params[field], params.parse_mode, params[field === "text" ? "entities" : "caption_entities"]);
  if (field === "text" && body.text === "") throw badRequest("message text is empty");
  if (field === "text" && body.text.length > 4096) throw badRequest("message is too long");
  if (field === "caption" && body.text.length > 1024) throw badRequest("message caption is too long");
  if (body.text === "") return {};
  const entitiesKey = field === "text" ? "entities" : "caption_entities";
  return { [field]: body.text, ...(body.entities.length > 0 ? { [entitiesKey]: body.entities } : {}) };
}

const BUTTON_ACTIONS = [
  "url", "callback_data", "web_app", "login_url", "switch_inline_query", "switch_inline_query_current_chat",
  "switch_inline_query_chosen_chat", "copy_text", "callback_game", "pay",
];

/** Validates reply_markup; only an inline keyboard is part of the sent Message, as on Telegram. */
export function inlineKeyboardOf(raw: unknown): JsonObject {
  const markup = jsonParam(raw, "reply keyboard markup");
  if (markup === undefined) return {};
  if (!isJsonObject(markup)) throw badRequest("can't parse reply keyboard markup JSON object");
  const rows = markup.inline_keyboard;
  if (rows === undefined) return {};
  if (!Array.isArray(rows) || !rows.every(Array.isArray)) {
    throw badRequest("can't parse inline keyboard: field \"inline_keyboard\" must be an Array of Arrays");
  }
  for (const button of rows.flat() as unknown[]) {
    if (!isJsonObject(button) || typeof button.text !== "string") {
      throw badRequest("can't parse inline keyboard button: Field \"text\" must be of type String");
    }
    if (!BUTTON_ACTIONS.some((action) => action in button)) {
      throw badRequest("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard");
    }
    if (typeof button.callback_data === "string" && Buffer.byteLength(button.callback_data) > 64) {
      throw badRequest("BUTTON_DATA_INVALID");
    }
  }
  return rows.some((row: unknown[]) => row.length > 0) ? { reply_markup: { inline_keyboard: rows } } : {};
}
