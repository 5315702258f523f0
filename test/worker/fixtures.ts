import type { Update } from "grammy/types";
import callbackQuery from "../fixtures/telegram/callback_query.json";
import editedMessage from "../fixtures/telegram/edited_message.json";
import groupCommand from "../fixtures/telegram/group_command.json";
import messageHelp from "../fixtures/telegram/message_help.json";
import messagePhoto from "../fixtures/telegram/message_photo.json";
import messageStart from "../fixtures/telegram/message_start.json";
import messageStartDeeplink from "../fixtures/telegram/message_start_deeplink.json";
import messageText from "../fixtures/telegram/message_text.json";
import myChatMemberKicked from "../fixtures/telegram/my_chat_member_kicked.json";

/** The sample updates of test/fixtures/telegram, as Telegram sends them. */
export const samples = {
  callbackQuery,
  editedMessage,
  groupCommand,
  messageHelp,
  messagePhoto,
  messageStart,
  messageStartDeeplink,
  messageText,
  myChatMemberKicked,
} as unknown as Record<
  | "callbackQuery"
  | "editedMessage"
  | "groupCommand"
  | "messageHelp"
  | "messagePhoto"
  | "messageStart"
  | "messageStartDeeplink"
  | "messageText"
  | "myChatMemberKicked",
  Update
>;

let nextUpdateId = 100_000_000 + Math.floor(Math.random() * 1_000_000) * 100;
let nextChatId = 500_000_000 + Math.floor(Math.random() * 1_000_000) * 100;

/** A fresh update_id, so tests never collide in the shared Redis. */
export function freshUpdateId(): number {
  return nextUpdateId++;
}

/** A fresh private-chat user id (user id = chat id, as in Telegram's private chats). */
export function freshUserId(): number {
  return nextChatId++;
}

/** A copy of a sample update with a fresh update_id, moved to another user's private chat if given. */
export function sample(name: keyof typeof samples, userId?: number): Update {
  const copy = structuredClone(samples[name]) as Update & Record<string, unknown>;
  copy.update_id = freshUpdateId();
  if (userId === undefined) return copy;
  const body = Object.values(copy).find((value) => typeof value === "object" && value !== null) as Record<string, any>;
  if (body.from) body.from.id = userId;
  if (body.chat?.type === "private") body.chat.id = userId;
  if (body.message?.chat?.type === "private") body.message.chat.id = userId;
  return copy;
}

/** A private text message from `userId`. */
export function textMessage(userId: number, text: string, extra: Record<string, unknown> = {}): Update {
  const update = sample("messageText", userId) as Update & { message: Record<string, unknown> };
  update.message.text = text;
  const command = /^\/\w+(@\w+)?/.exec(text)?.[0];
  update.message.entities = command ? [{ offset: 0, length: command.length, type: "bot_command" }] : undefined;
  Object.assign(update.message, extra);
  return update;
}

/** A press of an inline button with `data` in `userId`'s private chat (sample callback_query.json). */
export function buttonPress(userId: number, data: string): Update & { callback_query: Record<string, any> } {
  const update = sample("callbackQuery", userId) as Update & { callback_query: Record<string, any> };
  update.callback_query.data = data;
  update.callback_query.id = `cb-${update.update_id}`;
  return update;
}
