/**
 * Telegram's Markdown parse modes (core.telegram.org/bots/api#formatting-options): MarkdownV2 and the
 * legacy Markdown, markup in, plain text and entities out, with Telegram's error messages (byte offsets
 * are UTF-8, entity offsets UTF-16).
 */
import { badRequest, type ApiError } from "./api-error.js";
import type { Entity, FormattedText } from "./html.js";
import { isLinkableUrl } from "./links.js";

const fail = (why: string): ApiError => badRequest(`can't parse entities: ${why}`);
const byteOffset = (source: string, index: number): number => Buffer.byteLength(source.slice(0, index));

/** tdlib's names for the entity types, as its error messages spell them. */
const TYPE_NAMES: Record<string, string> = {
  bold: "Bold", italic: "Italic", underline: "Underline", strikethrough: "Strikethrough", spoiler: "Spoiler",
  text_link: "TextUrl", code: "Code", pre: "Pre", custom_emoji: "CustomEmoji",
};
const V2_RESERVED = "_*[]()~`>#+-=|{}.!";
/** What opens an entity in MarkdownV2, longest markup first (```pre``` is read on its own). */
const V2_OPENINGS: [markup: string, type: string][] = [
  ["__", "underline"], ["_", "italic"], ["*", "bold"], ["~", "strikethrough"], ["||", "spoiler"],
  ["![", "custom_emoji"], ["[", "text_link"], ["`", "code"],
];

interface Open {
  type: string;
  /** Where the entity starts in the text (UTF-16). */
  offset: number;
  /** Where its markup starts in the source, for error messages. */
  index: number;
  language?: string;
}

/** Reads `(url)` at `source[at]`, backslash escapes applied. @returns the URL and the index after `)`. */
function readUrl(source: string, at: number): { url: string; next: number } {
  let url = "";
  let i = at + 1;
  while (i < source.length && source[i] !== ")") {
    if (source[i] === "\\" && i + 1 < source.length && source.charCodeAt(i + 1) <= 126) i += 1;
    url += source[i];
    i += 1;
  }
  if (source[i] !== ")") throw fail(`Can't find end of a URL at byte offset ${byteOffset(source, at + 1)}`);
  return { url, next: i + 1 };
}

/** MarkdownV2: `*bold*`, `_italic_`, `__underline__`, `~strike~`, `||spoiler||`, links, code, pre, `>` quotes. */
export function parseMarkdownV2(source: string): FormattedText {
  const entities: Entity[] = [];
  const open: Open[] = [];
  let quote: { offset: number; expandable: boolean } | undefined;
  let text = "";
  let lineStart = true;

  const closeQuote = (end: number): void => {
    if (quote !== undefined && end > quote.offset) {
      entities.push({ type: quote.expandable ? "expandable_blockquote" : "blockquote", offset: quote.offset, length: end - quote.offset });
    }
    quote = undefined;
  };

  let i = 0;
  while (i < source.length) {
    const c = source[i] ?? "";
    const top = open.at(-1);
    const inCode = top?.type === "code" || top?.type === "pre";
    if (lineStart && !inCode) {
      lineStart = false;
      if (source.startsWith("**>", i)) {
        closeQuote(Math.max(0, text.length - 1));
        quote = { offset: text.length, expandable: true };
        i += 3;
        continue;
      }
      if (c === ">") {
        quote ??= { offset: text.length, expandable: false };
        i += 1;
        continue;
      }
      // The quote ended with the line before: its entity stops before that line break.
      if (quote !== undefined) closeQuote(text.length - 1);
    }
    if (c === "\\" && i + 1 < source.length && source.charCodeAt(i + 1) >= 1 && source.charCodeAt(i + 1) <= 126) {
      text += source[i + 1];
      i += 2;
      lineStart = false;
      continue;
    }
    if (quote?.expandable && !inCode && source.startsWith("||", i) && (i + 2 === source.length || source[i + 2] === "\n")) {
      closeQuote(text.length);
      i += 2;
      continue;
    }
    if (c === "\n") {
      text += c;
      i += 1;
      lineStart = true;
      continue;
    }
    if (!(inCode ? "`" : V2_RESERVED).includes(c)) {
      text += c;
      i += 1;
      continue;
    }

    const ends =
      top !== undefined &&
      ((top.type === "bold" && c === "*") ||
        (top.type === "italic" && c === "_" && source[i + 1] !== "_") ||
        (top.type === "underline" && source.startsWith("__", i)) ||
        (top.type === "strikethrough" && c === "~") ||
        (top.type === "spoiler" && source.startsWith("||", i)) ||
        (top.type === "code" && c === "`") ||
        (top.type === "pre" && source.startsWith("```", i)) ||
        ((top.type === "text_link" || top.type === "custom_emoji") && c === "]"));
    if (ends && top !== undefined) {
      open.pop();
      let entity: Entity | undefined = { type: top.type, offset: top.offset, length: text.length - top.offset };
      i += top.type === "underline" || top.type === "spoiler" ? 2 : top.type === "pre" ? 3 : 1;
      if (top.type === "text_link" || top.type === "custom_emoji") {
        let url = text.slice(top.offset);
        if (source[i] === "(") {
          const read = readUrl(source, i);
          url = read.url;
          i = read.next;
        }
        const emojiId = /^tg:\/\/emoji\?id=(\d+)$/.exec(url)?.[1];
        if (top.type === "custom_emoji") entity = emojiId === undefined ? undefined : { ...entity, custom_emoji_id: emojiId };
        else entity = isLinkableUrl(url) ? { ...entity, url } : undefined;
      } else if (top.type === "pre" && top.language !== undefined) {
        entity.language = top.language;
      }
      if (entity !== undefined && entity.length > 0) entities.push(entity);
      continue;
    }

    const start: Open = { type: "", offset: text.length, index: i };
    if (source.startsWith("```", i)) {
      i += 3;
      const language = /^[^\s`]+/.exec(source.slice(i))?.[0];
      if (language !== undefined && source[i + language.length] !== "`" && i + language.length < source.length) {
        start.language = language;
        i += language.length;
      }
      // One line break right after the opening (and its language) is not part of the code.
      if (source.startsWith("\r\n", i) || source.startsWith("\n\r", i)) i += 2;
      else if (source[i] === "\n" || source[i] === "\r") i += 1;
      start.type = "pre";
    } else {
      const opening = V2_OPENINGS.find(([markup]) => source.startsWith(markup, i));
      if (opening === undefined) throw fail(`Character '${c}' is reserved and must be escaped with the preceding '\\'`);
      start.type = opening[1];
      i += opening[0].length;
    }
    open.push(start);
  }
  const unclosed = open.at(-1);
  if (unclosed !== undefined) {
    throw fail(`Can't find end of ${TYPE_NAMES[unclosed.type] ?? unclosed.type} entity at byte offset ${byteOffset(source, unclosed.index)}`);
  }
  closeQuote(text.length);
  entities.sort((a, b) => a.offset - b.offset || b.length - a.length);
  return { text, entities };
}

/** The legacy Markdown: `*bold*`, `_italic_`, `` `code` ``, ```` ```pre``` ````, `[text](url)`; no nesting. */
export function parseMarkdown(source: string): FormattedText {
  const entities: Entity[] = [];
  let text = "";
  let i = 0;
  while (i < source.length) {
    const c = source[i] ?? "";
    if (c === "\\" && "_*`[".includes(source[i + 1] ?? "-")) {
      text += source[i + 1];
      i += 2;
      continue;
    }
    if (!"_*`[".includes(c)) {
      text += c;
      i += 1;
      continue;
    }
    const begin = i;
    const offset = text.length;
    const missing = (): ApiError => fail(`Can't find end of the entity starting at byte offset ${byteOffset(source, begin)}`);
    if (c === "[") {
      const close = source.indexOf("]", i + 1);
      if (close < 0) throw missing();
      text += source.slice(i + 1, close);
      i = close + 1;
      if (source[i] === "(") {
        const end = source.indexOf(")", i + 1);
        if (end < 0) throw missing();
        const url = source.slice(i + 1, end);
        i = end + 1;
        if (text.length > offset && isLinkableUrl(url)) entities.push({ type: "text_link", offset, length: text.length - offset, url });
      }
      continue;
    }
    const marker = source.startsWith("```", i) ? "```" : c;
    let from = i + marker.length;
    let language: string | undefined;
    if (marker === "```") {
      const firstLine = /^([^\s`]+)\n/.exec(source.slice(from));
      if (firstLine?.[1] !== undefined) {
        language = firstLine[1];
        from += firstLine[0].length;
      }
    }
    const end = source.indexOf(marker, from);
    if (end < 0) throw missing();
    text += source.slice(from, end);
    i = end + marker.length;
    const type = marker === "```" ? "pre" : c === "*" ? "bold" : c === "_" ? "italic" : "code";
    if (text.length > offset) entities.push({ type, offset, length: text.length - offset, ...(language === undefined ? {} : { language }) });
  }
  return { text, entities };
}
