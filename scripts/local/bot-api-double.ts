/**
 * A local Telegram Bot API double for tests and development: Telegram cannot be reached from here.
 *
 * It answers like api.telegram.org — the same routes (`/bot<token>/<method>`, method names
 * case-insensitive), the same parameter encodings (JSON, form-urlencoded, multipart, query string),
 * the same `{ ok, result }` / `{ ok: false, error_code, description, parameters }` envelopes and
 * HTTP statuses, and Telegram's own wording for the errors a bot is most likely to provoke.
 * Every token it accepts is the same bot, sharing one state.
 *
 * `npm run local:services` starts it. Tests that cannot call the exported API (the Worker runs
 * inside workerd) steer it through the `/__control/...` HTTP endpoints.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { listen } from "./listen.js";

/** One request that reached the double under a Bot API path (control endpoints are not recorded). */
export interface RecordedCall {
  /** Canonical method name (`sendMessage` even if called as `SENDMESSAGE`), else the path as sent. */
  method: string;
  token: string;
  /** Parameters as received: JSON values from JSON bodies, strings from forms and query strings. */
  params: Record<string, unknown>;
  /** `Date.now()` when the request arrived. */
  at: number;
}

/**
 * Trouble the double causes instead of (or before) handling a call, as Telegram does when it is
 * unwell: an error answer, a slow answer, or a slow error.
 */
export interface BotApiFault {
  /** Bot API method (case-insensitive), or `"*"` for any. */
  method: string;
  /** HTTP status and `error_code`, e.g. 500, 429, 403, 400. Required unless `delay_ms` is given. */
  error_code?: number;
  /** Wait this long before answering; without `error_code` the call is then handled normally. */
  delay_ms?: number;
  /** Defaults per code, e.g. "Too Many Requests: retry after 3", "Forbidden: bot was blocked by the user". */
  description?: string;
  /** Sent as `parameters.retry_after`; a 429 without it gets 1. */
  retry_after?: number;
  /** Fail only calls whose `chat_id` is this one. */
  chat_id?: number | string;
  /** How many matching calls fail; unlimited until cleared when absent. */
  times?: number;
}

export interface BotApiDoubleOptions {
  /** Tokens the double accepts; any other token gets 401 Unauthorized. */
  tokens: string[];
  /** What `getMe` returns; the `from` of sent messages is derived from it. */
  botInfo: Record<string, unknown>;
  /** Default 0 (any free port). */
  port?: number;
  /** Default "127.0.0.1". */
  host?: string;
}

export interface BotApiDouble {
  /** `http://HOST:PORT`, what `TELEGRAM_API_ROOT` (grammY's `apiRoot`) should be. */
  url: string;
  port: number;
  /** Calls recorded so far, optionally only those of one method (case-insensitive). */
  calls(method?: string): RecordedCall[];
  /** Clears calls, faults, queued updates, webhook, commands and remembered messages. */
  reset(): void;
  addFault(fault: BotApiFault): void;
  clearFaults(): void;
  /**
   * Queues updates (plain objects, or grammY's `Update`) for `getUpdates` and
   * `pending_update_count`; a missing `update_id` is assigned.
   */
  queueUpdates(updates: readonly object[]): void;
  /** Ends any pending long poll and closes every connection. */
  close(): Promise<void>;
}

type JsonObject = Record<string, unknown>;
interface Reply {
  result: unknown;
  description?: string;
}
type Handler = (params: JsonObject, signal: AbortSignal) => Reply | Promise<Reply>;

class ApiError extends Error {
  readonly errorCode: number;
  readonly retryAfter: number | undefined;
  constructor(errorCode: number, description: string, retryAfter?: number) {
    super(description);
    this.errorCode = errorCode;
    this.retryAfter = retryAfter;
  }
}

const badRequest = (what: string): ApiError => new ApiError(400, `Bad Request: ${what}`);
const ok = (result: unknown, description?: string): Reply =>
  description === undefined ? { result } : { result, description };

// ---------------------------------------------------------------- parameter reading
// Telegram reads every parameter from text, whatever the encoding; these read it the same way.

function str(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function int(value: unknown): number | undefined {
  const text = str(value).trim();
  return /^[-+]?\d+$/.test(text) ? Number(text) : undefined;
}

const flag = (value: unknown): boolean => value === true || /^(true|1)$/i.test(str(value).trim());
const clamp = (n: number, low: number, high: number): number => Math.min(high, Math.max(low, n));
const isObject = (value: unknown): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const unixNow = (): number => Math.floor(Date.now() / 1000);
const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** A parameter that carries JSON: form encodings send it as text, JSON bodies as a value. */
function jsonParam(value: unknown, what: string): unknown {
  if (typeof value !== "string") return value ?? undefined;
  if (value === "") return undefined;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw badRequest(`can't parse ${what} JSON object`);
  }
}

interface Chat {
  id: number;
  type: "private" | "group" | "supergroup";
}

function chatOf(params: JsonObject): Chat {
  if (str(params.chat_id) === "") throw badRequest("chat_id is empty");
  const id = int(params.chat_id);
  // The double knows no @usernames, so those are as unknown as a malformed id.
  if (id === undefined || id === 0) throw badRequest("chat not found");
  return { id, type: id > 0 ? "private" : id <= -1_000_000_000_000 ? "supergroup" : "group" };
}

function messageIdOf(params: JsonObject): number {
  const id = int(params.message_id);
  if (id === undefined || id <= 0) throw badRequest("message identifier is not specified");
  return id;
}

// ---------------------------------------------------------------- formatted text

interface Entity extends JsonObject {
  type: string;
  offset: number;
  length: number;
}
interface FormattedText {
  text: string;
  entities: Entity[];
}

const HTML_TAGS: Record<string, string> = {
  b: "bold", strong: "bold", i: "italic", em: "italic", u: "underline", ins: "underline",
  s: "strikethrough", strike: "strikethrough", del: "strikethrough", "tg-spoiler": "spoiler",
  span: "spoiler", a: "text_link", code: "code", pre: "pre", blockquote: "blockquote",
  "tg-emoji": "custom_emoji",
};
const NAMED_CHARACTERS: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"' };

function decodeHtml(text: string): string {
  return text.replace(
    /&(?:(lt|gt|amp|quot)|#(\d{1,7})|#x([0-9a-f]{1,6}));/gi,
    (whole, named?: string, decimal?: string, hex?: string) => {
      if (named !== undefined) return NAMED_CHARACTERS[named.toLowerCase()] ?? whole;
      const codePoint = decimal !== undefined ? Number(decimal) : parseInt(hex ?? "", 16);
      return codePoint <= 0x10ffff ? String.fromCodePoint(codePoint) : whole;
    },
  );
}

interface OpenTag {
  name: string;
  offset: number;
  attributes: Record<string, string>;
  language?: string;
}

/** Telegram's HTML parse mode, with its error messages (byte offsets are UTF-8, entity offsets UTF-16). */
function parseHtml(source: string): FormattedText {
  const fail = (why: string): ApiError => badRequest(`can't parse entities: ${why}`);
  const at = (index: number): string => `at byte offset ${Buffer.byteLength(source.slice(0, index))}`;
  const entities: Entity[] = [];
  const open: OpenTag[] = [];
  let text = "";
  let index = 0;
  while (index < source.length) {
    const tagStart = source.indexOf("<", index);
    text += decodeHtml(source.slice(index, tagStart < 0 ? undefined : tagStart));
    if (tagStart < 0) break;
    const closing = source[tagStart + 1] === "/";
    const nameStart = tagStart + (closing ? 2 : 1);
    const name = (/^[a-z0-9-]*/i.exec(source.slice(nameStart))?.[0] ?? "").toLowerCase();
    if (closing) {
      const end = /^\s*>/.exec(source.slice(nameStart + name.length));
      if (end === null) throw fail(`Unclosed end tag ${at(tagStart)}`);
      index = nameStart + name.length + end[0].length;
      const tag = open.pop();
      if (tag === undefined) throw fail(`Unexpected end tag ${at(tagStart)}`);
      if (tag.name !== name) {
        throw fail(`Unmatched end tag ${at(tagStart)}, expected "</${tag.name}>", found "</${name}>"`);
      }
      const entity = closeTag(tag, text.length, open.at(-1));
      if (entity !== undefined) entities.push(entity);
      continue;
    }
    if (!Object.hasOwn(HTML_TAGS, name)) throw fail(`Unsupported start tag "${name}" ${at(tagStart)}`);
    const rest = /^((?:\s+[a-z0-9-]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)*)\s*>/i.exec(
      source.slice(nameStart + name.length),
    );
    if (rest === null) throw fail(`Unclosed start tag ${at(tagStart)}`);
    const attributes: Record<string, string> = {};
    for (const m of (rest[1] ?? "").matchAll(/([a-z0-9-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/gi)) {
      attributes[(m[1] ?? "").toLowerCase()] = decodeHtml(m[2] ?? m[3] ?? m[4] ?? "");
    }
    if (name === "span" && attributes.class !== "tg-spoiler") {
      throw fail(`Tag "span" must have class "tg-spoiler" ${at(tagStart)}`);
    }
    open.push({ name, offset: text.length, attributes });
    index = nameStart + name.length + rest[0].length;
  }
  const unclosed = open.at(-1);
  if (unclosed !== undefined) throw fail(`Can't find end tag corresponding to start tag "${unclosed.name}"`);
  entities.sort((a, b) => a.offset - b.offset || b.length - a.length);
  return { text, entities };
}

function closeTag(tag: OpenTag, end: number, parent: OpenTag | undefined): Entity | undefined {
  const { name, attributes } = tag;
  // <pre><code class="language-x"> is one pre entity with a language, not two entities.
  if (name === "code" && parent?.name === "pre" && attributes.class?.startsWith("language-")) {
    parent.language = attributes.class.slice("language-".length);
    return undefined;
  }
  if (end <= tag.offset) return undefined;
  const entity: Entity = { type: HTML_TAGS[name] ?? "bold", offset: tag.offset, length: end - tag.offset };
  if (name === "a") {
    if (!attributes.href) return undefined;
    entity.url = attributes.href;
  } else if (name === "pre" && tag.language) {
    entity.language = tag.language;
  } else if (name === "tg-emoji") {
    if (!attributes["emoji-id"]) return undefined;
    entity.custom_emoji_id = attributes["emoji-id"];
  } else if (name === "blockquote" && Object.hasOwn(attributes, "expandable")) {
    entity.type = "expandable_blockquote";
  }
  return entity;
}

/**
 * Text as Telegram stores it: parse mode applied, surrounding whitespace trimmed. Markdown modes
 * are accepted but not parsed, so their text comes back as sent.
 */
function formatText(raw: unknown, parseMode: unknown, entities: unknown): FormattedText {
  const mode = str(parseMode).toLowerCase();
  let parsed: FormattedText;
  if (mode === "html") parsed = parseHtml(str(raw));
  else if (mode === "" || mode === "markdown" || mode === "markdownv2") {
    const given = mode === "" ? jsonParam(entities, "entities") : undefined;
    parsed = { text: str(raw), entities: Array.isArray(given) ? given.filter(isObject) as Entity[] : [] };
  } else throw badRequest("unsupported parse_mode");

  const lead = parsed.text.length - parsed.text.trimStart().length;
  const text = parsed.text.trim();
  return {
    text,
    entities: parsed.entities.flatMap((entity) => {
      const from = clamp(entity.offset - lead, 0, text.length);
      const to = clamp(entity.offset + entity.length - lead, 0, text.length);
      return to > from ? [{ ...entity, offset: from, length: to - from }] : [];
    }),
  };
}

function textContent(params: JsonObject, field: "text" | "caption"): JsonObject {
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
function inlineKeyboardOf(raw: unknown): JsonObject {
  const markup = jsonParam(raw, "reply keyboard markup");
  if (markup === undefined) return {};
  if (!isObject(markup)) throw badRequest("can't parse reply keyboard markup JSON object");
  const rows = markup.inline_keyboard;
  if (rows === undefined) return {};
  if (!Array.isArray(rows) || !rows.every(Array.isArray)) {
    throw badRequest("can't parse inline keyboard: field \"inline_keyboard\" must be an Array of Arrays");
  }
  for (const button of rows.flat() as unknown[]) {
    if (!isObject(button) || typeof button.text !== "string") {
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

// ---------------------------------------------------------------- state

interface Webhook {
  url: string;
  secretToken: string;
  maxConnections: number;
}
interface StoredMessage {
  chat: Chat;
  date: number;
  content: JsonObject;
}

// Telegram sends these only to bots that ask for them in allowed_updates.
const OPT_IN_UPDATES = new Set(["chat_member", "message_reaction", "message_reaction_count"]);
const CHAT_ACTIONS = new Set([
  "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
  "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
]);
const NOT_MODIFIED =
  "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";

class BotState {
  calls: RecordedCall[] = [];
  faults: BotApiFault[] = [];
  updates: JsonObject[] = [];
  allowedUpdates: string[] = [];
  webhook: Webhook | undefined;
  lastError: { date: number; message: string } | undefined;
  commands = new Map<string, JsonObject[]>();
  messages = new Map<string, StoredMessage>();
  deleted = new Set<string>();
  lastMessageId = 0;
  lastUpdateId = 0;
  private poll: ((conflict?: string) => void) | undefined;

  reset(): void {
    this.endPoll();
    Object.assign(this, new BotState());
  }

  queue(updates: JsonObject[]): void {
    for (const update of updates) {
      const id = int(update.update_id);
      this.lastUpdateId = id === undefined ? this.lastUpdateId + 1 : Math.max(this.lastUpdateId, id);
      this.updates.push(id === undefined ? { ...update, update_id: this.lastUpdateId } : update);
    }
    if (this.deliverable().length > 0) this.endPoll();
  }

  /** Queued updates of the types the bot subscribes to; the others wait for a subscription. */
  deliverable(): JsonObject[] {
    return this.updates.filter((update) => {
      const type = Object.keys(update).find((key) => key !== "update_id");
      if (type === undefined) return true;
      return this.allowedUpdates.length > 0 ? this.allowedUpdates.includes(type) : !OPT_IN_UPDATES.has(type);
    });
  }

  /** getUpdates' offset: a positive one confirms lower ids, a negative one keeps the last -offset. */
  confirm(offset: number): void {
    if (offset > 0) this.updates = this.updates.filter((update) => Number(update.update_id) >= offset);
    else if (offset < 0) this.updates = this.updates.slice(offset);
  }

  /** Waits until updates arrive, the timeout passes, the client leaves, or another call ends the poll. */
  waitForUpdates(seconds: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle = (conflict?: string): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        if (this.poll === settle) this.poll = undefined;
        if (conflict === undefined) resolve();
        else reject(new ApiError(409, `Conflict: ${conflict}`));
      };
      const onAbort = (): void => settle();
      const timer = setTimeout(settle, seconds * 1000);
      signal.addEventListener("abort", onAbort);
      this.poll = settle;
      if (signal.aborted) settle();
    });
  }

  endPoll(conflict?: string): void {
    this.poll?.(conflict);
  }

  /** The first fault matching this call, counted down. */
  takeFault(method: string, params: JsonObject): BotApiFault | undefined {
    const fault = this.faults.find(
      (f) =>
        (f.method === "*" || f.method.toLowerCase() === method.toLowerCase()) &&
        (f.chat_id === undefined || str(f.chat_id) === str(params.chat_id)),
    );
    if (fault?.times !== undefined) {
      fault.times -= 1;
      if (fault.times <= 0) this.faults = this.faults.filter((f) => f !== fault);
    }
    return fault;
  }
}

// ---------------------------------------------------------------- methods

function methodTable(state: BotState, botInfo: JsonObject): Record<string, Handler> {
  const bot = Object.fromEntries(
    ["id", "is_bot", "first_name", "last_name", "username"].filter((k) => k in botInfo).map((k) => [k, botInfo[k]]),
  );

  const send = (chat: Chat, content: JsonObject): JsonObject => {
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
    if (!isObject(scope) || typeof scope.type !== "string") throw badRequest("can't parse BotCommandScope JSON object");
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
    if (!isObject(raw) || typeof raw.command !== "string" || typeof raw.description !== "string") {
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
      chatOf(params);
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
      if (parsed.protocol !== "https:") throw badRequest("bad webhook: An HTTPS URL must be provided for webhook");
      if (!["", "80", "88", "443", "8443"].includes(parsed.port)) {
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

// ---------------------------------------------------------------- HTTP

const MAX_BODY_BYTES = 50 * 1024 * 1024; // Telegram's upload limit

const DEFAULT_DESCRIPTIONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden: bot was blocked by the user",
  404: "Not Found",
  409: "Conflict",
  500: "Internal Server Error",
  502: "Bad Gateway",
};

function faultError(fault: BotApiFault, errorCode: number): ApiError {
  const retryAfter = errorCode === 429 ? (fault.retry_after ?? 1) : fault.retry_after;
  const description =
    fault.description ??
    (errorCode === 429
      ? `Too Many Requests: retry after ${retryAfter}`
      : (DEFAULT_DESCRIPTIONS[errorCode] ?? (errorCode >= 500 ? "Internal Server Error" : "Bad Request")));
  return new ApiError(errorCode, description, retryAfter);
}

/** Resolves after `ms`, or at once when the client goes away. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
    if (signal.aborted) done();
  });
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, "Request Entity Too Large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Query-string parameters overlaid by the body's, whichever of Telegram's encodings it uses. */
async function readParams(req: IncomingMessage, url: URL): Promise<JsonObject> {
  const params: JsonObject = Object.fromEntries(url.searchParams);
  const body = await readBody(req);
  if (body.length === 0) return params;
  const contentType = req.headers["content-type"] ?? "";
  const mediaType = contentType.split(";")[0]?.trim().toLowerCase();
  if (mediaType === "application/json") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch {
      throw badRequest("can't parse JSON object");
    }
    if (!isObject(parsed)) throw badRequest("can't parse JSON object");
    return { ...params, ...parsed };
  }
  if (mediaType === "application/x-www-form-urlencoded") {
    return { ...params, ...Object.fromEntries(new URLSearchParams(body.toString("utf8"))) };
  }
  if (mediaType === "multipart/form-data") {
    const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
    if (boundary === null) throw badRequest("can't parse multipart/form-data request: no boundary");
    return { ...params, ...parseMultipart(body, boundary[1] ?? boundary[2] ?? "") };
  }
  return params;
}

/**
 * multipart/form-data, read as leniently as Telegram reads it: grammY writes headers without a
 * space after the colon and file names unquoted, which stricter parsers (undici's) refuse.
 * A file part is recorded as `{ filename, size, type }`.
 */
function parseMultipart(body: Buffer, boundary: string): JsonObject {
  const params: JsonObject = {};
  const delimiter = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const partStart = at + delimiter.length;
    const next = body.indexOf(delimiter, partStart);
    if (next < 0 || body.subarray(partStart, partStart + 2).toString() === "--") break;
    // Each part sits between the CRLF after one delimiter and the CRLF before the next.
    const part = body.subarray(partStart + 2, next - 2);
    const headerEnd = part.indexOf("\r\n\r\n");
    const headers = part.subarray(0, headerEnd < 0 ? 0 : headerEnd).toString("utf8");
    const content = part.subarray(headerEnd < 0 ? part.length : headerEnd + 4);
    const name = /(?:^|[;\s:])name="([^"]*)"/i.exec(headers)?.[1];
    const filename = /filename=(?:"([^"]*)"|([^;\r\n]*))/i.exec(headers);
    if (name !== undefined) {
      params[name] =
        filename === null
          ? content.toString("utf8")
          : {
              filename: filename[1] ?? filename[2] ?? "",
              size: content.length,
              type: /content-type:\s*([^\r\n]*)/i.exec(headers)?.[1] ?? "application/octet-stream",
            };
    }
    at = next;
  }
  return params;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
  res.end(payload);
}

function sendError(res: ServerResponse, error: ApiError): void {
  sendJson(res, error.errorCode, {
    ok: false,
    error_code: error.errorCode,
    description: error.message,
    ...(error.retryAfter !== undefined ? { parameters: { retry_after: error.retryAfter } } : {}),
  });
}

function checkFault(value: unknown): BotApiFault {
  const problem = (why: string): TypeError => new TypeError(`invalid fault: ${why}`);
  if (!isObject(value)) throw problem("expected an object");
  const { method, error_code, delay_ms, description, retry_after, chat_id, times } = value;
  if (typeof method !== "string" || method === "") throw problem("method must be a method name or \"*\"");
  if (delay_ms !== undefined && !(Number.isInteger(delay_ms) && (delay_ms as number) >= 0)) {
    throw problem("delay_ms must be a non-negative integer");
  }
  if (error_code === undefined && delay_ms === undefined) throw problem("give error_code, delay_ms or both");
  if (error_code !== undefined && !(Number.isInteger(error_code) && (error_code as number) >= 400 && (error_code as number) <= 599)) {
    throw problem("error_code must be an integer from 400 to 599");
  }
  if (description !== undefined && typeof description !== "string") throw problem("description must be a string");
  if (retry_after !== undefined && !(Number.isInteger(retry_after) && (retry_after as number) >= 0)) {
    throw problem("retry_after must be a non-negative integer");
  }
  if (chat_id !== undefined && typeof chat_id !== "number" && typeof chat_id !== "string") {
    throw problem("chat_id must be a number or a string");
  }
  if (times !== undefined && !(Number.isInteger(times) && (times as number) >= 1)) throw problem("times must be a positive integer");
  return { ...(value as unknown as BotApiFault) };
}

function checkUpdates(value: unknown): JsonObject[] {
  if (!Array.isArray(value) || !value.every(isObject)) throw new TypeError("updates must be an array of objects");
  if (value.some((u) => u.update_id !== undefined && !Number.isInteger(u.update_id))) {
    throw new TypeError("update_id must be an integer");
  }
  return value;
}

/**
 * Starts the double. Resolves once it listens.
 * @throws when the port is taken.
 */
export async function startBotApiDouble(options: BotApiDoubleOptions): Promise<BotApiDouble> {
  const tokens = new Set(options.tokens);
  const state = new BotState();
  const handlers = new Map(
    Object.entries(methodTable(state, options.botInfo)).map(([name, handler]) => [name.toLowerCase(), { name, handler }]),
  );

  const calls = (method?: string): RecordedCall[] =>
    state.calls.filter((call) => method === undefined || call.method.toLowerCase() === method.toLowerCase());

  const double = {
    calls,
    reset: () => state.reset(),
    addFault: (fault: BotApiFault) => void state.faults.push(checkFault(fault)),
    clearFaults: () => {
      state.faults = [];
    },
    queueUpdates: (updates: readonly object[]) => state.queue(checkUpdates(updates)),
  };

  async function control(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const body = req.method === "POST" ? await readBody(req) : Buffer.alloc(0);
    const json = (): unknown => JSON.parse(body.toString("utf8") || "null");
    const done = (extra: JsonObject = {}): void => sendJson(res, 200, { ok: true, ...extra });
    try {
      switch (`${req.method ?? "GET"} ${url.pathname.replace(/\/+$/, "")}`) {
        case "GET /__control/calls":
          return sendJson(res, 200, calls(url.searchParams.get("method") || undefined));
        case "DELETE /__control/calls":
          state.calls = [];
          return done();
        case "POST /__control/reset":
          double.reset();
          return done();
        case "POST /__control/faults":
          double.addFault(json() as BotApiFault);
          return done();
        case "DELETE /__control/faults":
          double.clearFaults();
          return done();
        case "POST /__control/updates": {
          const updates = checkUpdates(json());
          double.queueUpdates(updates);
          return done({ queued: updates.length });
        }
        case "POST /__control/webhook-error": {
          const error = json();
          if (!isObject(error) || !Number.isInteger(error.last_error_date) || typeof error.last_error_message !== "string") {
            throw new TypeError("expected { last_error_date: integer, last_error_message: string }");
          }
          state.lastError = { date: error.last_error_date as number, message: error.last_error_message };
          return done();
        }
        default:
          return sendJson(res, 404, { ok: false, error: `no control endpoint ${req.method ?? ""} ${url.pathname}` });
      }
    } catch (error) {
      sendJson(res, 400, { ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  }

  async function botApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    // Lets a long poll or a delay stop waiting when its client goes away.
    const abandoned = new AbortController();
    res.once("close", () => abandoned.abort());
    const route = /^\/bot([^/]+)\/([^/]*)$/.exec(url.pathname);
    let token = "";
    try {
      token = decodeURIComponent(route?.[1] ?? "");
    } catch {
      token = route?.[1] ?? "";
    }
    const entry = handlers.get((route?.[2] ?? "").toLowerCase());
    let params: JsonObject = {};
    let unreadable: ApiError | undefined;
    try {
      params = await readParams(req, url);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      unreadable = error;
    }
    const method = entry?.name ?? route?.[2] ?? url.pathname;
    state.calls.push({ method, token, params, at: Date.now() });

    if (route === null) return sendError(res, new ApiError(404, "Not Found"));
    if (!tokens.has(token)) return sendError(res, new ApiError(401, "Unauthorized"));
    if (unreadable !== undefined) return sendError(res, unreadable);
    const fault = state.takeFault(method, params);
    if (fault?.delay_ms !== undefined) await pause(fault.delay_ms, abandoned.signal);
    if (fault?.error_code !== undefined) return sendError(res, faultError(fault, fault.error_code));
    if (entry === undefined) return sendError(res, new ApiError(404, "Not Found"));
    try {
      const reply = await entry.handler(params, abandoned.signal);
      if (!res.destroyed) sendJson(res, 200, { ok: true, ...reply });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (!res.destroyed) sendError(res, error);
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://bot-api-double.local");
    const handled = url.pathname.startsWith("/__control/") ? control(req, res, url) : botApi(req, res, url);
    handled.catch((error: unknown) => {
      // A bug in the double, not a Telegram answer: say so loudly.
      console.error(JSON.stringify({ msg: "bot api double failed", path: url.pathname, error: String(error) }));
      if (!res.headersSent) sendError(res, new ApiError(500, "Internal Server Error"));
    });
  });

  const { port, origin } = await listen(server, options.port, options.host);

  return {
    ...double,
    url: origin,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) return resolve();
        state.endPoll();
        server.close((error) => (error ? reject(error) : resolve()));
        // Answered long polls flush first; keep-alive sockets would otherwise hold close() open.
        setImmediate(() => server.closeAllConnections());
      }),
  };
}
