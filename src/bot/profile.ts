import type { Chat, User } from "grammy/types";
import type { TelegramProfile } from "../data/accounts.js";

/** The account facts of a user in a private chat. */
export function profileOf(user: User, chat: Pick<Chat, "id">): TelegramProfile {
  return {
    userId: user.id,
    chatId: chat.id,
    username: user.username,
    firstName: user.first_name,
    lastName: user.last_name,
    languageCode: user.language_code,
  };
}
