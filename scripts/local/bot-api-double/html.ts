/** Telegram's HTML parse mode: markup in, plain text and entities out. */
import type { JsonObject } from "../json-object.js";
import { badRequest, type ApiError } from "./api-error.js";
import { isLinkableUrl } from "./links.js";

/** A message entity (bold, link, ...) over UTF-16 offsets of the text. */
export interface Entity extends JsonObject {
  type: string;
  offset: number;
  length: number;
}
/** Text with its entities, as a Message carries them. */
export interface FormattedText {
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
export function parseHtml(source: string): FormattedText {
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
    // Telegram drops a link to an address it does not open (javascript:, data:, ...), keeping its text.
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
