/**
 * Telegram's formatting options: markup in, plain text and entities out, with Telegram's own error
 * messages. The internal API uses it to check a notification's length as Telegram counts it (after
 * entity parsing); the local Bot API double uses it to answer as Telegram does.
 */

/** A message entity (bold, link, ...) over UTF-16 offsets of the text. */
export interface Entity {
  type: string;
  offset: number;
  length: number;
  url?: string;
  language?: string;
  custom_emoji_id?: string;
}

/** Text with its entities, as a Message carries them. */
export interface FormattedText {
  text: string;
  entities: Entity[];
}

/** The parse modes Telegram knows (matched case-insensitively, as Telegram does). */
export type ParseMode = "HTML" | "MarkdownV2" | "Markdown";

/** Markup Telegram refuses; `message` is Telegram's description without the "Bad Request: " prefix. */
export class TelegramTextError extends Error {
  override readonly name = "TelegramTextError";
}

const utf8 = new TextEncoder();
const byteOffset = (source: string, index: number): number => utf8.encode(source.slice(0, index)).length;
const entityError = (why: string): TelegramTextError => new TelegramTextError(`can't parse entities: ${why}`);

// ------------------------------------------------------------------------------------------ HTML

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

/**
 * Whether Telegram keeps a link to this address: http(s), tg and ton, or a bare host (taken as http).
 * A link to anything else (javascript:, data:, ...) is dropped and its text kept.
 */
function isLinkableUrl(url: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) return /^(https?:\/\/[^\s/]|tg:|ton:\/\/)/i.test(url);
  return /^[\w-]+(\.[\w-]+)+(:\d+)?([/?#]\S*)?$/.test(url);
}

/**
 * Telegram's HTML parse mode (byte offsets in errors are UTF-8, entity offsets UTF-16).
 * @throws TelegramTextError with Telegram's description of the first problem.
 */
export function parseHtml(source: string): FormattedText {
  const at = (index: number): string => `at byte offset ${byteOffset(source, index)}`;
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
      if (end === null) throw entityError(`Unclosed end tag ${at(tagStart)}`);
      index = nameStart + name.length + end[0].length;
      const tag = open.pop();
      if (tag === undefined) throw entityError(`Unexpected end tag ${at(tagStart)}`);
      if (tag.name !== name) {
        throw entityError(`Unmatched end tag ${at(tagStart)}, expected "</${tag.name}>", found "</${name}>"`);
      }
      const entity = closeTag(tag, text.length, open.at(-1));
      if (entity !== undefined) entities.push(entity);
      continue;
    }
    if (!Object.hasOwn(HTML_TAGS, name)) throw entityError(`Unsupported start tag "${name}" ${at(tagStart)}`);
    const rest = /^((?:\s+[a-z0-9-]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)*)\s*>/i.exec(
      source.slice(nameStart + name.length),
    );
    if (rest === null) throw entityError(`Unclosed start tag ${at(tagStart)}`);
    const attributes: Record<string, string> = {};
    for (const m of (rest[1] ?? "").matchAll(/([a-z0-9-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/gi)) {
      attributes[(m[1] ?? "").toLowerCase()] = decodeHtml(m[2] ?? m[3] ?? m[4] ?? "");
    }
    if (name === "span" && attributes.class !== "tg-spoiler") {
      throw entityError(`Tag "span" must have class "tg-spoiler" ${at(tagStart)}`);
    }
    open.push({ name, offset: text.length, attributes });
    index = nameStart + name.length + rest[0].length;
  }
  const unclosed = open.at(-1);
  if (unclosed !== undefined) throw entityError(`Can't find end tag corresponding to start tag "${unclosed.name}"`);
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
    if (!attributes.href || !isLinkableUrl(attributes.href)) return undefined;
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

// ------------------------------------------------------------------------------------ MarkdownV2

/** Characters MarkdownV2 reserves outside entities; each must be escaped with a preceding '\'. */
const RESERVED = new Set("_*[]()~`>#+-=|{}.!");
const DELIMITERS: Record<string, string> = { "*": "bold", _: "italic", __: "underline", "~": "strikethrough", "||": "spoiler" };

interface OpenMark {
  mark: string;
  offset: number;
  at: number;
}

/**
 * Telegram's MarkdownV2 parse mode.
 * @throws TelegramTextError with Telegram's description of the first problem.
 */
export function parseMarkdownV2(source: string): FormattedText {
  const entities: Entity[] = [];
  const open: OpenMark[] = [];
  let text = "";
  let i = 0;
  /** The text up to `end`, unescaped; `unterminated` is Telegram's words when there is no `end`. */
  const readVerbatim = (end: string, unterminated: string): string => {
    let value = "";
    while (i < source.length && !source.startsWith(end, i)) {
      if (source[i] === "\\" && i + 1 < source.length) i += 1;
      value += source[i];
      i += 1;
    }
    if (i >= source.length) throw entityError(unterminated);
    i += end.length;
    return value;
  };
  const lineStart = (): boolean => i === 0 || source[i - 1] === "\n";
  let quote: { offset: number; expandable: boolean } | undefined;
  const endQuote = (): void => {
    if (quote !== undefined && text.length > quote.offset) {
      entities.push({ type: quote.expandable ? "expandable_blockquote" : "blockquote", offset: quote.offset, length: text.length - quote.offset });
    }
    quote = undefined;
  };

  while (i < source.length) {
    const c = source[i] ?? "";
    if (lineStart()) {
      const expandable = source.startsWith("**>", i);
      if (expandable || c === ">") {
        if (quote === undefined) quote = { offset: text.length, expandable };
        i += expandable ? 3 : 1;
        continue;
      }
      if (i > 0) endQuote();
    }
    if (c === "\\" && i + 1 < source.length && source.charCodeAt(i + 1) >= 1 && source.charCodeAt(i + 1) <= 126) {
      text += source[i + 1];
      i += 2;
      continue;
    }
    if (c === "`") {
      const startedAt = i;
      const offset = text.length;
      if (source.startsWith("```", i)) {
        i += 3;
        const newline = source.indexOf("\n", i);
        const close = source.indexOf("```", i);
        let language = "";
        if (newline >= 0 && (close < 0 || newline < close)) {
          language = source.slice(i, newline);
          i = newline + 1;
        }
        text += readVerbatim("```", `Can't find end of pre entity at byte offset ${byteOffset(source, startedAt)}`);
        const entity: Entity = { type: "pre", offset, length: text.length - offset };
        if (language !== "") entity.language = language;
        if (entity.length > 0) entities.push(entity);
      } else {
        i += 1;
        text += readVerbatim("`", `Can't find end of code entity at byte offset ${byteOffset(source, startedAt)}`);
        if (text.length > offset) entities.push({ type: "code", offset, length: text.length - offset });
      }
      continue;
    }
    if (c === "[" || (c === "!" && source[i + 1] === "[")) {
      open.push({ mark: c === "!" ? "![" : "[", offset: text.length, at: i });
      i += c === "!" ? 2 : 1;
      continue;
    }
    if (c === "]" && open.some((m) => m.mark.endsWith("["))) {
      const mark = open.pop();
      if (mark === undefined || !mark.mark.endsWith("[")) {
        throw entityError(`Can't find end of ${DELIMITERS[mark?.mark ?? ""] ?? "Bold"} entity at byte offset ${byteOffset(source, mark?.at ?? i)}`);
      }
      i += 1;
      let url = "";
      if (source[i] === "(") {
        i += 1;
        url = readVerbatim(")", `Can't find end of a URL at byte offset ${byteOffset(source, i)}`);
      }
      if (text.length > mark.offset && url !== "") {
        const emoji = mark.mark === "![" ? /^tg:\/\/emoji\?id=(\d+)$/.exec(url)?.[1] : undefined;
        if (emoji !== undefined) {
          entities.push({ type: "custom_emoji", offset: mark.offset, length: text.length - mark.offset, custom_emoji_id: emoji });
        } else if (isLinkableUrl(url)) {
          entities.push({ type: "text_link", offset: mark.offset, length: text.length - mark.offset, url });
        }
      }
      continue;
    }
    const delimiter = source.startsWith("__", i) ? "__" : source.startsWith("||", i) ? "||" : c;
    if (Object.hasOwn(DELIMITERS, delimiter)) {
      // The "||" that ends an expandable blockquote's last line closes the quote, not a spoiler.
      if (delimiter === "||" && quote?.expandable && (source[i + 2] === "\n" || i + 2 === source.length) && open.at(-1)?.mark !== "||") {
        i += 2;
        endQuote();
        continue;
      }
      const top = open.at(-1);
      if (top?.mark === delimiter) {
        open.pop();
        if (text.length > top.offset) entities.push({ type: DELIMITERS[delimiter] ?? "bold", offset: top.offset, length: text.length - top.offset });
      } else {
        open.push({ mark: delimiter, offset: text.length, at: i });
      }
      i += delimiter.length;
      continue;
    }
    if (RESERVED.has(c)) throw entityError(`Character '${c}' is reserved and must be escaped with the preceding '\\'`);
    text += c;
    i += 1;
  }
  const unclosed = open.at(-1);
  if (unclosed !== undefined) {
    const what = unclosed.mark.endsWith("[") ? "TextUrl" : (DELIMITERS[unclosed.mark] ?? "bold");
    throw entityError(`Can't find end of ${what[0]?.toUpperCase()}${what.slice(1)} entity at byte offset ${byteOffset(source, unclosed.at)}`);
  }
  endQuote();
  entities.sort((a, b) => a.offset - b.offset || b.length - a.length);
  return { text, entities };
}

// ------------------------------------------------------------------------------- legacy Markdown

/**
 * Telegram's legacy Markdown parse mode: *bold*, _italic_, `code`, ```pre```, [text](url); '\' escapes
 * only the four markup characters.
 * @throws TelegramTextError when an entity is not closed.
 */
export function parseMarkdown(source: string): FormattedText {
  const entities: Entity[] = [];
  let text = "";
  let i = 0;
  const until = (end: string, startedAt: number): string => {
    const close = source.indexOf(end, i);
    if (close < 0) throw entityError(`Can't find end of the entity starting at byte offset ${byteOffset(source, startedAt)}`);
    const value = source.slice(i, close);
    i = close + end.length;
    return value;
  };
  while (i < source.length) {
    const c = source[i] ?? "";
    const startedAt = i;
    const offset = text.length;
    if (c === "\\" && "_*`[".includes(source[i + 1] ?? "")) {
      text += source[i + 1];
      i += 2;
    } else if (source.startsWith("```", i)) {
      i += 3;
      text += until("```", startedAt);
      if (text.length > offset) entities.push({ type: "pre", offset, length: text.length - offset });
    } else if (c === "*" || c === "_" || c === "`") {
      i += 1;
      text += until(c, startedAt);
      const type = c === "*" ? "bold" : c === "_" ? "italic" : "code";
      if (text.length > offset) entities.push({ type, offset, length: text.length - offset });
    } else if (c === "[") {
      i += 1;
      text += until("]", startedAt);
      if (source[i] === "(") {
        i += 1;
        const url = until(")", startedAt);
        if (text.length > offset && isLinkableUrl(url)) entities.push({ type: "text_link", offset, length: text.length - offset, url });
      }
    } else {
      text += c;
      i += 1;
    }
  }
  return { text, entities };
}

// ------------------------------------------------------------------------------- the whole message

/**
 * A message's text as Telegram stores it: the parse mode applied (or the given entities kept) and
 * surrounding whitespace trimmed, entities moved with it. Its `text.length` is the length Telegram
 * checks against 4096 (UTF-16 code units, the unit of entity offsets).
 * @throws TelegramTextError for an unknown parse mode or markup Telegram refuses.
 */
export function formatText(raw: string, parseMode?: string, entities: Entity[] = []): FormattedText {
  const mode = (parseMode ?? "").toLowerCase();
  let parsed: FormattedText;
  if (mode === "html") parsed = parseHtml(raw);
  else if (mode === "markdownv2") parsed = parseMarkdownV2(raw);
  else if (mode === "markdown") parsed = parseMarkdown(raw);
  else if (mode === "") parsed = { text: raw, entities };
  else throw new TelegramTextError("unsupported parse_mode");

  const lead = parsed.text.length - parsed.text.trimStart().length;
  const text = parsed.text.trim();
  return {
    text,
    entities: parsed.entities.flatMap((entity) => {
      const from = Math.min(Math.max(entity.offset - lead, 0), text.length);
      const to = Math.min(Math.max(entity.offset + entity.length - lead, 0), text.length);
      return to > from ? [{ ...entity, offset: from, length: to - from }] : [];
    }),
  };
}
