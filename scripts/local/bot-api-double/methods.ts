/** The Bot API methods: what each one checks, does to the state and answers. */
import { isJsonObject, type JsonObject } from "../json-object.js";
import { isLoopbackUrl } from "../loopback.js";
import { ApiError, badRequest } from "./api-error.js";
import { inlineKeyboardOf, textContent } from "./message-content.js";
import { chatOf, clamp, flag, int, jsonParam, messageIdOf, str, type Chat } from "./params.js";
import type { BotState, StoredMessage, Webhook } from "./state.js";

/** A method's successful answer, sent as `{ ok: true, result, description? }`. */
export interface Reply {
  result: unknown;
  description?: string;
}
/** One Bot API method; `signal` aborts when the client goes away (for long polls). */
export type Handler = (params: JsonObject, signal: AbortSignal) => Reply | Promise<Reply>;

const ok = (result: unknown, description?: string): Reply =>
  description === undefined ? { result } : { result, description };
const unixNow = (): number => Math.floor(Date.now() / 1000);
const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

const CHAT_ACTIONS = new Set([
  "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
  "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
]);
const NOT_MODIFIED =
  "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";

/**
 * The Bot API methods the double serves, by canonical name, over one state; `botInfo` is what `getMe`
 * answers and the `from` of every message sent.
 */
export function methodTable(state: BotState, botInfo: JsonObject): Record<string, Handler> {
  const bot = Object.fromEntries(
    ["id", "is_bot", "first_name", "last_name", "username"].filter((k) => k in botInfo).map((k) => [k, botInfo[k]]),
  );

  /** Telegram's answer to a bot writing to (or editing in) a private chat whose user blocked it. */
  const refuseBlocked = (chat: Chat): void => {
    if (state.blockedChats.has(chat.id)) throw new ApiError(403, "Forbidden: bot was blocked by the user");
  };

  const send = (chat: Chat, content: JsonObject): JsonObject => {
    refuseBlocked(chat);
    const messageId = ++state.lastMessageId;
    const stored: StoredMessage = { chat, date: unixNow(), content };
    state.messages.set(`${chat.id}:${messageId}`, stored);
    return { message_id: messageId, from: bot, chat, date: stored.date, ...content };
  };

  /** Edits by chat_id + message_id; a message the double never sent is taken to exist as it is asked to be. */
  const edit = (params: JsonObject, content: (old: JsonObject) => JsonObject): Reply => {
    if (str(params.inline_message_id) !== "") return ok(true);
    const messageId = messageIdOf(params);
    const chat = chatOf(params);
    refuseBlocked(chat);
    const key = `${chat.id}:${messageId}`;
    if (state.deleted.has(key)) throw badRequest("message to edit not found");
    const previous = state.messages.get(key);
    const next = content(previous?.content ?? {});
    if (previous !== undefined && sameJson(next, previous.content)) throw badRequest(NOT_MODIFIED);
    const stored: StoredMessage = { chat: previous?.chat ?? chat, date: previous?.date ?? unixNow(), content: next };
    state.messages.set(key, stored);
    return ok({ message_id: messageId, from: bot, chat: stored.chat, date: stored.date, edit_date: unixNow(), ...next });
  };

  const sendMedia = (field: string) => (params: JsonObject): Reply => {
    if (str(params[field]) === "") throw badRequest(`there is no ${field} in the request`);
    const caption = textContent(params, "caption");
    const chat = chatOf(params);
    const file = { file_id: `${field}-${state.lastMessageId + 1}`, file_unique_id: `u${state.lastMessageId + 1}` };
    const media = field === "photo" ? [{ ...file, width: 320, height: 320 }] : file;
    return ok(send(chat, { [field]: media, ...caption, ...inlineKeyboardOf(params.reply_markup) }));
  };

  const commandsKey = (params: JsonObject): string => {
    const scope = jsonParam(params.scope, "BotCommandScope") ?? { type: "default" };
    if (!isJsonObject(scope) || typeof scope.type !== "string") throw badRequest("can't parse BotCommandScope JSON object");
    const language = str(params.language_code);
    if (language !== "" && !/^[a-z]{2}$/.test(language)) throw badRequest("invalid language code specified");
    switch (scope.type) {
      case "default": case "all_private_chats": case "all_group_chats": case "all_chat_administrators":
        return JSON.stringify([scope.type, language]);
      case "chat": case "chat_administrators":
        return JSON.stringify([scope.type, chatOf(scope).id, language]);
      case "chat_member": {
        const userId = int(scope.user_id);
        if (userId === undefined || userId <= 0) throw badRequest("invalid user_id specified");
        return JSON.stringify([scope.type, chatOf(scope).id, userId, language]);
      }
      default:
        throw badRequest("unsupported bot command scope type");
    }
  };

  const botCommand = (raw: unknown): JsonObject => {
    if (!isJsonObject(raw) || typeof raw.command !== "string" || typeof raw.description !== "string") {
      throw badRequest("can't parse BotCommand: fields \"command\" and \"description\" must be of type String");
    }
    const { command, description } = raw;
    if (command === "") throw badRequest("command must be non-empty");
    if (command.length > 32) throw badRequest("command length must not exceed 32");
    if (!/^[a-z0-9_]+$/.test(command)) throw badRequest("BOT_COMMAND_INVALID");
    if (description.trim() === "") throw badRequest("command description must be non-empty");
    if (description.length > 256) throw badRequest("command description length must not exceed 256");
    return { command, description };
  };

  /** Telegram ignores a malformed allowed_updates and keeps the current subscription. */
  const subscribe = (raw: unknown): void => {
    let list: unknown;
    try {
      list = jsonParam(raw, "allowed_updates");
    } catch {
      return;
    }
    if (Array.isArray(list)) state.allowedUpdates = list.filter((t): t is string => typeof t === "string");
  };

  const removeWebhook = (dropPending: boolean): Reply => {
    if (dropPending) state.updates = [];
    const wasSet = state.webhook !== undefined;
    state.webhook = undefined;
    if (wasSet) state.lastError = undefined;
    return ok(true, wasSet ? "Webhook was deleted" : "Webhook is already deleted");
  };

  const acknowledge = (): Reply => ok(true);

  return {
    getMe: () => ok(botInfo),
    logOut: acknowledge,
    close: acknowledge,

    sendMessage: (params) => {
      const content = textContent(params, "text");
      const chat = chatOf(params);
      return ok(send(chat, { ...content, ...inlineKeyboardOf(params.reply_markup) }));
    },
    sendPhoto: sendMedia("photo"),
    sendDocument: sendMedia("document"),
    sendVideo: sendMedia("video"),
    sendAudio: sendMedia("audio"),
    sendVoice: sendMedia("voice"),
    sendAnimation: sendMedia("animation"),
    sendSticker: sendMedia("sticker"),
    copyMessage: (params) => {
      const chat = chatOf(params);
      messageIdOf(params);
      return ok({ message_id: send(chat, {}).message_id });
    },
    editMessageText: (params) => {
      const content = textContent(params, "text");
      const markup = inlineKeyboardOf(params.reply_markup);
      return edit(params, () => ({ ...content, ...markup }));
    },
    editMessageCaption: (params) => {
      const caption = textContent(params, "caption");
      const markup = inlineKeyboardOf(params.reply_markup);
      return edit(params, (old) => ({
        ...Object.fromEntries(Object.entries(old).filter(([k]) => !["caption", "caption_entities", "reply_markup"].includes(k))),
        ...caption,
        ...markup,
      }));
    },
    editMessageReplyMarkup: (params) => {
      const markup = inlineKeyboardOf(params.reply_markup);
      return edit(params, (old) => ({ ...Object.fromEntries(Object.entries(old).filter(([k]) => k !== "reply_markup")), ...markup }));
    },
    deleteMessage: (params) => {
      const chat = chatOf(params);
      const key = `${chat.id}:${messageIdOf(params)}`;
      if (state.deleted.has(key)) throw badRequest("message to delete not found");
      state.deleted.add(key);
      state.messages.delete(key);
      return ok(true);
    },
    sendChatAction: (params) => {
      refuseBlocked(chatOf(params));
      if (!CHAT_ACTIONS.has(str(params.action))) throw badRequest("wrong parameter action in request");
      return ok(true);
    },
    answerCallbackQuery: (params) => {
      if (str(params.callback_query_id) === "") {
        throw badRequest("query is too old and response timeout expired or query ID is invalid");
      }
      return ok(true);
    },

    setMyCommands: (params) => {
      const commands = jsonParam(params.commands, "commands") ?? [];
      if (!Array.isArray(commands)) throw badRequest("can't parse commands JSON object");
      if (commands.length > 100) throw badRequest("BOT_COMMANDS_TOO_MUCH");
      const list = commands.map(botCommand);
      const key = commandsKey(params);
      if (list.length > 0) state.commands.set(key, list);
      else state.commands.delete(key);
      return ok(true);
    },
    getMyCommands: (params) => ok(state.commands.get(commandsKey(params)) ?? []),
    deleteMyCommands: (params) => {
      state.commands.delete(commandsKey(params));
      return ok(true);
    },

    setWebhook: (params) => {
      const url = str(params.url).trim();
      const dropPending = flag(params.drop_pending_updates);
      // An empty url is how Telegram's own docs say to remove the webhook.
      if (url === "") return removeWebhook(dropPending);
      let parsed: URL;
      try {
        parsed = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `https://${url}`);
      } catch {
        throw badRequest("invalid webhook URL specified");
      }
      // Unlike Telegram, the double also takes a plain-http URL on any port of this machine (the local Worker
      // of `npm run dev` is http://127.0.0.1:8787): Telegram could never reach such an address anyway, and a
      // local Bot API server (`telegram-bot-api --local`) accepts local addresses on any port too.
      const onThisMachine = isLoopbackUrl(parsed) && (parsed.protocol === "http:" || parsed.protocol === "https:");
      if (!onThisMachine && parsed.protocol !== "https:") throw badRequest("bad webhook: An HTTPS URL must be provided for webhook");
      if (!onThisMachine && !["", "80", "88", "443", "8443"].includes(parsed.port)) {
        throw badRequest("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443");
      }
      const secretToken = str(params.secret_token);
      if (secretToken.length > 256) throw badRequest("secret token is too long");
      if (!/^[A-Za-z0-9_-]*$/.test(secretToken)) throw badRequest("secret token contains unallowed characters");
      if (params.allowed_updates !== undefined) subscribe(params.allowed_updates);
      const next: Webhook = { url, secretToken, maxConnections: clamp(int(params.max_connections) ?? 40, 1, 100) };
      const unchanged = sameJson(state.webhook, next) && !dropPending;
      if (dropPending) state.updates = [];
      if (!unchanged) state.lastError = undefined;
      state.webhook = next;
      state.endPoll("terminated by setWebhook request");
      return ok(true, unchanged ? "Webhook is already set" : "Webhook was set");
    },
    deleteWebhook: (params) => removeWebhook(flag(params.drop_pending_updates)),
    getWebhookInfo: () =>
      ok({
        url: state.webhook?.url ?? "",
        has_custom_certificate: false,
        pending_update_count: state.updates.length,
        ...(state.lastError ? { last_error_date: state.lastError.date, last_error_message: state.lastError.message } : {}),
        ...(state.webhook ? { max_connections: state.webhook.maxConnections } : {}),
        ...(state.allowedUpdates.length > 0 ? { allowed_updates: state.allowedUpdates } : {}),
      }),
    getUpdates: async (params, signal) => {
      if (state.webhook !== undefined) {
        throw new ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
      }
      const limit = clamp(int(params.limit) ?? 100, 1, 100);
      const timeout = clamp(int(params.timeout) ?? 0, 0, 50);
      if (params.allowed_updates !== undefined) subscribe(params.allowed_updates);
      state.confirm(int(params.offset) ?? 0);
      state.endPoll("terminated by other getUpdates request; make sure that only one bot instance is running");
      if (timeout > 0 && state.deliverable().length === 0) await state.waitForUpdates(timeout, signal);
      return ok(state.deliverable().slice(0, limit));
    },

    getChat: (params) => ok({ ...chatOf(params), accent_color_id: 0, max_reaction_count: 11 }),
    getChatMenuButton: () => ok({ type: "default" }),
    getMyName: () => ok({ name: str(botInfo.first_name) }),
    getMyDescription: () => ok({ description: "" }),
    getMyShortDescription: () => ok({ short_description: "" }),
    // Accepted and otherwise ignored: the double models no chat membership, menus or profile.
    setChatMenuButton: acknowledge,
    setMyName: acknowledge,
    setMyDescription: acknowledge,
    setMyShortDescription: acknowledge,
    setMyDefaultAdministratorRights: acknowledge,
    setMessageReaction: acknowledge,
    pinChatMessage: acknowledge,
    unpinChatMessage: acknowledge,
    unpinAllChatMessages: acknowledge,
    leaveChat: acknowledge,
    banChatMember: acknowledge,
    unbanChatMember: acknowledge,
    restrictChatMember: acknowledge,
    approveChatJoinRequest: acknowledge,
    declineChatJoinRequest: acknowledge,
    answerInlineQuery: acknowledge,
    deleteMessages: acknowledge,
  };
}
