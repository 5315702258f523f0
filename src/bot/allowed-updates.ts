/**
 * The update types the handlers use. set-webhook and polling both request exactly these, so a
 * handler for a type missing here would never run: add the type here with the handler.
 */
export const ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"] as const;
