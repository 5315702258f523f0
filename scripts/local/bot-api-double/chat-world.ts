/**
 * The people and chats of the chat page, and what each chat shows. The page's actions become the
 * updates a Telegram client would cause (a message with its entities, a callback query, a my_chat_member
 * change), queued like any other update; every queued update and every message the bot sends, edits or
 * deletes lands in its chat's log, with the delivery status of the update that caused it.
 */
import { EventEmitter } from "node:events";
import { isJsonObject, type JsonObject } from "../json-object.js";
import type { Entity } from "../../../src/lib/telegram-text.js";
import type { BotState } from "./state.js";
import type { DeliveryReport } from "./webhook-delivery.js";

/** A user the page speaks as: Telegram's `User`. */
export interface PageUser extends JsonObject {
  id: number;
  is_bot: false;
  first_name: string;
  username?: string;
  language_code: string;
}

/** A chat with the bot: Telegram's `Chat`, plus whether its user blocked the bot. */
export interface PageChat extends JsonObject {
  id: number;
  type: "private" | "group" | "supergroup";
  title?: string;
  first_name?: string;
  username?: string;
}

/** What the page shows about the delivery of the update an entry stands for. */
export interface DeliveryView {
  state: "waiting" | "delivering" | "delivered" | "retrying" | "fetched" | "not_sent";
  text: string;
  attempts: number;
  /** One line per attempt, oldest first. */
  history: string[];
}

/** One line of a chat: a message from either side, or something that happened (a button, a block). */
export interface LogEntry {
  id: number;
  side: "user" | "bot" | "event";
  /** The Message as the bot got it or sent it (for `user` and `bot`). */
  message?: JsonObject;
  /** What happened (for `event`). */
  text?: string;
  update_id?: number;
  delivery?: DeliveryView;
}

/** What the page hears about: a chat to redraw, a callback answer, a chat action, or users/chats/mode. */
export type WorldEvent =
  | { type: "chat"; chat_id: number }
  | { type: "toast"; chat_id: number; callback_query_id: string; text: string; show_alert: boolean }
  | { type: "action"; chat_id: number; action: string }
  | { type: "world" };

/** A page request the world refuses, with the reason shown to the developer. */
export class PageError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const LOG_LIMIT = 300;
const FIRST_USER_ID = 100_000_001;
const FIRST_GROUP_ID = -4_000_000_001;
const START_PAYLOAD = /^[A-Za-z0-9_-]{1,64}$/;
const MESSAGE_METHODS = /^(send(Message|Photo|Document|Video|Audio|Voice|Animation|Sticker)|copyMessage)$/;
const EDIT_METHODS = /^editMessage(Text|Caption|ReplyMarkup)$/;

const unixNow = (): number => Math.floor(Date.now() / 1000);
const nameOf = (user: JsonObject | undefined): string => (typeof user?.first_name === "string" ? user.first_name : "someone");

/**
 * The entities a Telegram client marks in what a user types: bot commands, mentions, hashtags and URLs
 * (offsets in UTF-16 code units, as JavaScript strings count).
 */
export function userEntities(text: string): Entity[] {
  const found: Entity[] = [];
  const add = (type: string, pattern: RegExp): void => {
    for (const match of text.matchAll(pattern)) {
      const offset = match.index + (match[1]?.length ?? 0);
      const length = match[0].length - (match[1]?.length ?? 0);
      if (!found.some((entity) => offset < entity.offset + entity.length && entity.offset < offset + length)) {
        found.push({ type, offset, length });
      }
    }
  };
  add("url", /(^|[\s(])https?:\/\/[^\s<>"]+[^\s<>".,;:!?)]/g);
  add("bot_command", /(^|\s)\/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{3,32})?(?![\w@/])/g);
  add("mention", /(^|[^\w@])@[A-Za-z0-9_]{4,32}(?!\w)/g);
  add("hashtag", /(^|[^\w#])#[\p{L}\p{N}_]*\p{L}[\p{L}\p{N}_]*/gu);
  return found.sort((a, b) => a.offset - b.offset);
}

/**
 * A bot message as a Telegram client shows it: the commands, links, mentions and hashtags in its text
 * are marked too, where the bot's own entities leave room.
 */
function withAutoEntities(message: JsonObject): JsonObject {
  const [textKey, entitiesKey] = typeof message.caption === "string" ? ["caption", "caption_entities"] : ["text", "entities"];
  const text = message[textKey];
  if (typeof text !== "string") return message;
  const given = (Array.isArray(message[entitiesKey]) ? message[entitiesKey] : []) as Entity[];
  const found = userEntities(text).filter((auto) => !given.some((e) => auto.offset < e.offset + e.length && e.offset < auto.offset + auto.length));
  if (found.length === 0) return message;
  return { ...message, [entitiesKey]: [...given, ...found].sort((a, b) => a.offset - b.offset || b.length - a.length) };
}

/** The chats, users and logs behind the chat page, over the double's state. */
export class ChatWorld extends EventEmitter<{ change: [WorldEvent] }> {
  private users = new Map<number, PageUser>();
  private chats = new Map<number, PageChat>();
  private logs = new Map<number, LogEntry[]>();
  private byUpdate = new Map<number, { chatId: number; entry: LogEntry }>();
  private callbacks = new Map<string, number>();
  private lastEntryId = 0;
  private lastCallbackId = 0;
  private readonly bot: JsonObject;
  /** The bot gets only commands in groups unless BotFather turned privacy mode off. */
  private readonly privacyMode: boolean;

  constructor(
    private readonly state: BotState,
    botInfo: JsonObject,
  ) {
    super();
    this.bot = Object.fromEntries(["id", "is_bot", "first_name", "username"].map((key) => [key, botInfo[key]]));
    this.privacyMode = botInfo.can_read_all_group_messages !== true;
    state.events.on("queued", (updates) => updates.forEach((update) => this.logUpdate(update)));
    state.events.on("call", (call) => this.logCall(call.method, call.params, call.result));
    state.events.on("reset", () => {
      this.users.clear();
      this.chats.clear();
      this.logs.clear();
      this.byUpdate.clear();
      this.callbacks.clear();
      this.emit("change", { type: "world" });
    });
  }

  /** The bot, the users, the chats (private ones with `blocked`) and how updates leave the double. */
  overview(): JsonObject {
    const webhook = this.state.webhook;
    const lastPoll = this.state.calls.findLast((call) => call.method === "getUpdates");
    const polling = lastPoll !== undefined && Date.now() - lastPoll.at < 60_000;
    return {
      bot: this.bot,
      users: [...this.users.values()],
      chats: [...this.chats.values()].map((chat) => ({ ...chat, blocked: this.state.blockedChats.has(chat.id) })),
      delivery: webhook ? { mode: "webhook", url: webhook.url } : { mode: polling ? "polling" : "none" },
    };
  }

  /** The commands the bot's menu shows in `chatId` to a user with `language` (Telegram's scope order, simplified). */
  commands(chatId: number, language: string): JsonObject[] {
    const scopes = [chatId > 0 ? "all_private_chats" : "all_group_chats", "default"];
    for (const scope of scopes) {
      for (const lang of [language, ""]) {
        const list = this.state.commands.get(JSON.stringify([scope, lang]));
        if (list !== undefined) return list;
      }
    }
    return [];
  }

  log(chatId: number): LogEntry[] {
    return this.logs.get(chatId) ?? [];
  }

  /** Creates a user (the next free id unless one is given) or updates one; its private chat comes with it. */
  saveUser(input: JsonObject): PageUser {
    const id = input.id === undefined || input.id === "" ? this.nextUserId() : Number(input.id);
    if (!Number.isSafeInteger(id) || id <= 0 || id >= 2 ** 52) throw new PageError("user id must be a positive whole number below 2^52");
    const firstName = typeof input.first_name === "string" ? input.first_name.trim() : "";
    if (firstName === "" || firstName.length > 64) throw new PageError("first name must be 1-64 characters");
    const username = typeof input.username === "string" ? input.username.trim().replace(/^@/, "") : "";
    if (username !== "" && !/^[A-Za-z][A-Za-z0-9_]{4,31}$/.test(username)) {
      throw new PageError("username must be 5-32 characters of A-Z a-z 0-9 _, starting with a letter");
    }
    const language = typeof input.language_code === "string" ? input.language_code : "";
    if (!/^[a-z]{2}$/.test(language)) throw new PageError("language must be a two-letter code such as uz, ru or en");
    if (id === this.bot.id) throw new PageError("that id is the bot's own");
    const user: PageUser = {
      id,
      is_bot: false,
      first_name: firstName,
      ...(username === "" ? {} : { username }),
      language_code: language,
    };
    this.users.set(id, user);
    this.chats.set(id, { id, type: "private", first_name: firstName, ...(username === "" ? {} : { username }) });
    this.emit("change", { type: "world" });
    return user;
  }

  /** A group with the bot in it: Telegram tells the bot it was added (`my_chat_member`, left → member). */
  createGroup(userId: unknown, title: unknown): PageChat {
    const user = this.user(userId);
    const name = typeof title === "string" ? title.trim() : "";
    if (name === "" || name.length > 128) throw new PageError("group title must be 1-128 characters");
    let id = FIRST_GROUP_ID;
    while (this.chats.has(id)) id -= 1;
    const chat: PageChat = { id, type: "group", title: name };
    this.chats.set(id, chat);
    this.emit("change", { type: "world" });
    this.queue({ my_chat_member: this.memberChange(chat, user, { status: "left" }, { status: "member" }) });
    return chat;
  }

  /** A message typed by `userId` into `chatId`, with the entities a client marks in it. */
  sendText(userId: unknown, chatId: unknown, text: unknown): LogEntry {
    const user = this.user(userId);
    const chat = this.chat(chatId);
    const body = typeof text === "string" ? text.trim() : "";
    if (body === "") throw new PageError("message text is empty");
    if (body.length > 4096) throw new PageError("message is too long (4096 characters at most)");
    if (chat.type === "private" && chat.id !== user.id) throw new PageError("a private chat belongs to its own user");
    if (this.state.blockedChats.has(chat.id)) throw new PageError("you blocked the bot: unblock it to write to it", 409);
    const entities = userEntities(body);
    const message: JsonObject = {
      message_id: ++this.state.lastMessageId,
      from: user,
      chat,
      date: unixNow(),
      text: body,
      ...(entities.length > 0 ? { entities } : {}),
    };
    // Privacy mode (can_read_all_group_messages false): in groups the bot gets commands, not chatter.
    if (chat.type !== "private" && this.privacyMode && !entities.some((entity) => entity.type === "bot_command")) {
      return this.append(chat.id, {
        side: "user",
        message,
        delivery: { state: "not_sent", text: "not sent to the bot: in groups it gets commands only (privacy mode)", attempts: 0, history: [] },
      });
    }
    return this.queue({ message });
  }

  /**
   * Follows a `t.me/<bot>?start=<payload>` link (or `tg://resolve?domain=<bot>&start=<payload>`, or a bare
   * payload) as a Telegram client does: it sends `/start <payload>` in the private chat with the bot.
   */
  followDeepLink(userId: unknown, link: unknown): LogEntry {
    const user = this.user(userId);
    const raw = typeof link === "string" ? link.trim() : "";
    let payload = raw;
    if (/^(https?:\/\/|tg:|t\.me\/)/i.test(raw)) {
      let url: URL;
      try {
        url = new URL(/^t\.me\//i.test(raw) ? `https://${raw}` : raw);
      } catch {
        throw new PageError("not a valid link");
      }
      const bot = url.protocol === "tg:" ? url.searchParams.get("domain") : /^\/([^/]+)/.exec(url.pathname)?.[1];
      if (url.protocol !== "tg:" && !/^(www\.)?(t|telegram)\.me$/i.test(url.hostname)) throw new PageError("not a t.me link");
      if (bot?.toLowerCase() !== String(this.bot.username).toLowerCase()) {
        throw new PageError(`that link is for @${bot ?? "?"}, not for @${String(this.bot.username)}`);
      }
      payload = url.searchParams.get("start") ?? "";
    }
    if (!START_PAYLOAD.test(payload)) throw new PageError("a start payload is 1-64 characters of A-Z a-z 0-9 _ -");
    return this.sendText(user.id, user.id, `/start ${payload}`);
  }

  /** A press on an inline button of a bot message: a `callback_query` with the message as it is now. */
  press(userId: unknown, chatId: unknown, messageId: unknown, data: unknown): LogEntry {
    const user = this.user(userId);
    const chat = this.chat(chatId);
    const entry = this.log(chat.id).find((e) => e.side === "bot" && e.message?.message_id === Number(messageId));
    const message = entry?.message;
    if (message === undefined) throw new PageError("no such bot message in this chat");
    const markup = isJsonObject(message.reply_markup) ? message.reply_markup : {};
    const buttons = (Array.isArray(markup.inline_keyboard) ? markup.inline_keyboard.flat() : []) as unknown[];
    if (!buttons.some((button) => isJsonObject(button) && button.callback_data === data)) {
      throw new PageError("that message has no such button (any more)");
    }
    if (this.state.blockedChats.has(chat.id)) throw new PageError("you blocked the bot: unblock it first", 409);
    const id = `${Date.now()}${++this.lastCallbackId}`;
    this.callbacks.set(id, chat.id);
    return this.queue({
      callback_query: { id, from: user, message, chat_instance: String(BigInt(chat.id) * 7919n + 104729n), data },
    });
  }

  /** Blocks or unblocks the bot in the user's private chat: a `my_chat_member` change (member ⇄ kicked). */
  setBlocked(userId: unknown, blocked: unknown): LogEntry {
    const user = this.user(userId);
    const chat = this.chat(user.id);
    if (typeof blocked !== "boolean") throw new PageError("blocked must be true or false");
    if (this.state.blockedChats.has(chat.id) === blocked) throw new PageError(blocked ? "the bot is blocked already" : "the bot is not blocked");
    if (blocked) this.state.blockedChats.add(chat.id);
    else this.state.blockedChats.delete(chat.id);
    const member = { status: "member" };
    const kicked = { status: "kicked", until_date: 0 };
    this.emit("change", { type: "world" });
    return this.queue({ my_chat_member: this.memberChange(chat, user, blocked ? member : kicked, blocked ? kicked : member) });
  }

  /** Reports of webhook deliveries, shown on the entry of the update. */
  showDelivery(report: DeliveryReport): void {
    const found = this.byUpdate.get(report.update_id);
    if (found === undefined) return;
    const view = found.entry.delivery ?? { state: "waiting", text: "", attempts: 0, history: [] };
    const took = report.duration_ms === undefined ? "" : ` in ${report.duration_ms} ms`;
    const reply = report.reply === undefined ? "" : ` · webhook reply ${report.reply.method}${report.reply.ok ? "" : ` failed: ${report.reply.description ?? ""}`}`;
    switch (report.state) {
      case "delivering":
        view.state = "delivering";
        view.text = `delivering (attempt ${report.attempt})…`;
        break;
      case "delivered":
        view.state = "delivered";
        view.text = `delivered: ${report.status ?? ""}${took}${report.attempt > 1 ? ` (attempt ${report.attempt})` : ""}${reply}`;
        break;
      case "retrying":
        view.state = "retrying";
        view.text = `${report.error ?? "failed"}; attempt ${report.attempt + 1} in ${Math.ceil((report.retry_in_ms ?? 0) / 1000)} s`;
        break;
    }
    view.attempts = report.attempt;
    if (report.state !== "delivering") view.history = [...view.history.slice(-9), `#${report.attempt} ${view.text}`];
    found.entry.delivery = view;
    this.emit("change", { type: "chat", chat_id: found.chatId });
  }

  private nextUserId(): number {
    let id = FIRST_USER_ID;
    while (this.users.has(id)) id += 1;
    return id;
  }

  private user(id: unknown): PageUser {
    const user = this.users.get(Number(id));
    if (user === undefined) throw new PageError("no such user: create one first");
    return user;
  }

  private chat(id: unknown): PageChat {
    const chat = this.chats.get(Number(id));
    if (chat === undefined) throw new PageError("no such chat");
    return chat;
  }

  private memberChange(chat: PageChat, user: PageUser, before: JsonObject, after: JsonObject): JsonObject {
    return {
      chat,
      from: user,
      date: unixNow(),
      old_chat_member: { user: this.bot, ...before },
      new_chat_member: { user: this.bot, ...after },
    };
  }

  /** Queues an update; `logUpdate` (on the state's "queued" event) gives it its log entry. */
  private queue(update: JsonObject): LogEntry {
    this.state.queue([update]);
    const id = this.state.lastUpdateId;
    const entry = this.byUpdate.get(id)?.entry;
    if (entry === undefined) throw new Error(`update ${id} was not logged`);
    return entry;
  }

  private append(chatId: number, entry: Omit<LogEntry, "id">): LogEntry {
    const full: LogEntry = { id: ++this.lastEntryId, ...entry };
    const log = this.logs.get(chatId) ?? [];
    log.push(full);
    for (const dropped of log.splice(0, Math.max(0, log.length - LOG_LIMIT))) {
      if (dropped.update_id !== undefined) this.byUpdate.delete(dropped.update_id);
    }
    this.logs.set(chatId, log);
    this.emit("change", { type: "chat", chat_id: chatId });
    return full;
  }

  /** A chat the page has not met (a test queued an update, or the bot wrote to it) is added as it is. */
  private know(chat: JsonObject): number {
    const id = Number(chat.id);
    if (!this.chats.has(id)) {
      const type = chat.type === "group" || chat.type === "supergroup" ? chat.type : "private";
      this.chats.set(id, { ...chat, id, type } as PageChat);
      this.emit("change", { type: "world" });
    }
    return id;
  }

  /** How the update waits to leave the double, before any delivery report. */
  private waitingView(type: string): DeliveryView {
    const subscribed = this.state.allowedUpdates.length === 0 || this.state.allowedUpdates.includes(type);
    if (!subscribed) return { state: "not_sent", text: `not sent: the bot did not ask for ${type} updates (allowed_updates)`, attempts: 0, history: [] };
    const text = this.state.webhook ? "waiting for webhook delivery" : "waiting for getUpdates (npm run polling) or a webhook (npm run dev)";
    return { state: "waiting", text, attempts: 0, history: [] };
  }

  private logUpdate(update: JsonObject): void {
    const updateId = Number(update.update_id);
    const [type, body] = Object.entries(update).find(([key, value]) => key !== "update_id" && isJsonObject(value)) ?? [];
    if (type === undefined || !isJsonObject(body)) return;
    const delivery = this.waitingView(type);
    let logged: { chatId: number; entry: LogEntry } | undefined;
    if ((type === "message" || type === "edited_message") && isJsonObject(body.chat)) {
      const chatId = this.know(body.chat);
      const earlier = type === "edited_message" ? this.log(chatId).find((e) => e.side === "user" && e.message?.message_id === body.message_id) : undefined;
      if (earlier !== undefined) {
        Object.assign(earlier, { message: body, update_id: updateId, delivery });
        this.emit("change", { type: "chat", chat_id: chatId });
        logged = { chatId, entry: earlier };
      } else {
        logged = { chatId, entry: this.append(chatId, { side: "user", message: body, update_id: updateId, delivery }) };
      }
    } else if (type === "callback_query" && isJsonObject(body.message) && isJsonObject(body.message.chat)) {
      const chatId = this.know(body.message.chat);
      const markup = isJsonObject(body.message.reply_markup) ? body.message.reply_markup : {};
      const buttons = (Array.isArray(markup.inline_keyboard) ? markup.inline_keyboard.flat() : []) as JsonObject[];
      const label = buttons.find((button) => button.callback_data === body.data)?.text ?? body.data;
      if (typeof body.id === "string") this.callbacks.set(body.id, chatId);
      const text = `${nameOf(isJsonObject(body.from) ? body.from : undefined)} pressed “${String(label)}”`;
      logged = { chatId, entry: this.append(chatId, { side: "event", text, update_id: updateId, delivery }) };
    } else if ((type === "my_chat_member" || type === "chat_member") && isJsonObject(body.chat)) {
      const chatId = this.know(body.chat);
      const before = isJsonObject(body.old_chat_member) ? body.old_chat_member.status : undefined;
      const after = isJsonObject(body.new_chat_member) ? body.new_chat_member.status : undefined;
      const who = nameOf(isJsonObject(body.from) ? body.from : undefined);
      const text =
        after === "kicked" && body.chat.type === "private"
          ? `${who} blocked the bot`
          : before === "kicked" && body.chat.type === "private"
            ? `${who} unblocked the bot`
            : before === "left" && after === "member"
              ? `${who} added the bot to the group`
              : `${who}: the bot's status ${String(before)} → ${String(after)}`;
      logged = { chatId, entry: this.append(chatId, { side: "event", text, update_id: updateId, delivery }) };
    }
    if (logged !== undefined) this.byUpdate.set(updateId, logged);
  }

  private logCall(method: string, params: JsonObject, result: unknown): void {
    if (MESSAGE_METHODS.test(method) && isJsonObject(result)) {
      const chatId = this.know(isJsonObject(result.chat) ? result.chat : { id: Number(params.chat_id) });
      const message = isJsonObject(result.chat) ? result : { ...result, chat: { id: chatId }, text: "(a copied message)" };
      this.append(chatId, { side: "bot", message: withAutoEntities(message) });
    } else if (EDIT_METHODS.test(method) && isJsonObject(result) && isJsonObject(result.chat)) {
      const chatId = Number(result.chat.id);
      const entry = this.log(chatId).find((e) => e.side === "bot" && e.message?.message_id === result.message_id);
      if (entry === undefined) return;
      entry.message = withAutoEntities(result);
      this.emit("change", { type: "chat", chat_id: chatId });
    } else if (method === "deleteMessage" || method === "deleteMessages") {
      const chatId = Number(params.chat_id);
      const ids = method === "deleteMessage" ? [Number(params.message_id)] : this.idList(params.message_ids);
      const log = this.logs.get(chatId);
      if (log === undefined) return;
      this.logs.set(chatId, log.filter((entry) => !ids.includes(Number(entry.message?.message_id))));
      this.emit("change", { type: "chat", chat_id: chatId });
    } else if (method === "answerCallbackQuery") {
      const id = String(params.callback_query_id);
      const chatId = this.callbacks.get(id);
      if (chatId === undefined) return;
      this.callbacks.delete(id);
      const text = typeof params.text === "string" ? params.text : "";
      const showAlert = params.show_alert === true || params.show_alert === "true";
      this.emit("change", { type: "toast", chat_id: chatId, callback_query_id: id, text, show_alert: showAlert });
    } else if (method === "sendChatAction") {
      this.emit("change", { type: "action", chat_id: Number(params.chat_id), action: String(params.action) });
    } else if (method === "getUpdates" && Array.isArray(result) && result.length > 0) {
      for (const update of result as JsonObject[]) this.fetched(Number(update.update_id));
    } else if (/^(setWebhook|deleteWebhook|setMyCommands|deleteMyCommands)$/.test(method)) {
      this.emit("change", { type: "world" });
    }
  }

  private fetched(updateId: number): void {
    const found = this.byUpdate.get(updateId);
    if (found === undefined || found.entry.delivery?.state === "fetched") return;
    found.entry.delivery = { state: "fetched", text: "fetched by getUpdates", attempts: 1, history: ["fetched by getUpdates"] };
    this.emit("change", { type: "chat", chat_id: found.chatId });
  }

  private idList(raw: unknown): number[] {
    try {
      const list: unknown = typeof raw === "string" ? JSON.parse(raw) : raw;
      return Array.isArray(list) ? list.map(Number) : [];
    } catch {
      return [];
    }
  }
}
