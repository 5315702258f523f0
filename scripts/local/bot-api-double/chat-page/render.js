// Telegram's message entities as DOM nodes. The bot's text is only ever set as text (Text nodes,
// textContent), never parsed as markup, so whatever the bot sends cannot add elements or script.

/** Address schemes a link may open; anything else (javascript:, data:, ...) is shown but not linked. */
const SAFE_SCHEMES = new Set(["http:", "https:", "tg:", "mailto:", "tel:"]);

/** The address as a safe href, or undefined. A bare host ("example.com") is taken as http, as Telegram does. */
export function safeHref(raw) {
  try {
    const url = new URL(/^[a-z][a-z0-9+.-]*:/i.test(raw) ? raw : `http://${raw}`);
    return SAFE_SCHEMES.has(url.protocol) ? url.href : undefined;
  } catch {
    return undefined;
  }
}

const STYLE_TAGS = { bold: "b", italic: "i", underline: "u", strikethrough: "s", code: "code" };

function link(href, actions) {
  const a = document.createElement("a");
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  a.addEventListener("click", (event) => {
    if (actions.openLink?.(href)) event.preventDefault();
  });
  return a;
}

/** The element for one entity and the node its inner text and entities go into. */
function elementFor(entity, entityText, actions) {
  const tag = STYLE_TAGS[entity.type];
  if (tag !== undefined) {
    const element = document.createElement(tag);
    return { element, content: element };
  }
  switch (entity.type) {
    case "pre": {
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      if (typeof entity.language === "string") code.dataset.language = entity.language;
      pre.append(code);
      return { element: pre, content: code };
    }
    case "blockquote":
    case "expandable_blockquote": {
      const quote = document.createElement("blockquote");
      if (entity.type === "expandable_blockquote") {
        quote.classList.add("expandable");
        quote.addEventListener("click", () => quote.classList.toggle("expanded"));
      }
      return { element: quote, content: quote };
    }
    case "spoiler": {
      const span = document.createElement("span");
      span.className = "spoiler";
      span.addEventListener("click", () => span.classList.add("revealed"));
      return { element: span, content: span };
    }
    case "text_link":
    case "url":
    case "email":
    case "phone_number": {
      const target =
        entity.type === "text_link" ? String(entity.url ?? "") : entity.type === "email" ? `mailto:${entityText}` : entity.type === "phone_number" ? `tel:${entityText}` : entityText;
      const href = safeHref(target);
      if (href !== undefined) {
        const a = link(href, actions);
        return { element: a, content: a };
      }
      const span = document.createElement("span");
      span.className = "unsafe-link";
      span.title = "not linked: the page opens only http, https, tg, mailto and tel addresses";
      return { element: span, content: span };
    }
    case "bot_command": {
      const span = document.createElement("span");
      span.className = "command";
      span.setAttribute("role", "link");
      span.tabIndex = 0;
      span.addEventListener("click", () => actions.command?.(entityText));
      return { element: span, content: span };
    }
    default: {
      // mention, hashtag, cashtag, text_mention, custom_emoji, ...: marked, not linked.
      const span = document.createElement("span");
      span.className = `entity ${String(entity.type).replace(/[^a-z_]/g, "")}`;
      return { element: span, content: span };
    }
  }
}

/** Appends text[start, end) to `parent` with the entities in it; entities are sorted, outer ones first. */
function fill(parent, text, start, end, entities, actions) {
  let position = start;
  let i = 0;
  while (i < entities.length) {
    const entity = entities[i];
    const entityEnd = entity.offset + entity.length;
    let j = i + 1;
    while (j < entities.length && entities[j].offset < entityEnd) j++;
    const from = Math.min(Math.max(entity.offset, position), end);
    const to = Math.min(entityEnd, end);
    if (to > from) {
      if (from > position) parent.append(text.slice(position, from));
      const { element, content } = elementFor(entity, text.slice(entity.offset, entityEnd), actions);
      fill(content, text, from, to, entities.slice(i + 1, j), actions);
      parent.append(element);
      position = to;
    }
    i = j;
  }
  if (position < end) parent.append(text.slice(position, end));
}

/**
 * The text with its entities (UTF-16 offsets, as JavaScript strings count) as a DocumentFragment.
 * @param actions `command(text)` for a tapped bot command, `openLink(href)` → true when the page handled a link.
 */
export function renderFormatted(text, entities, actions = {}) {
  const fragment = document.createDocumentFragment();
  const list = (Array.isArray(entities) ? entities : [])
    .filter((e) => e && Number.isInteger(e.offset) && Number.isInteger(e.length) && e.length > 0 && e.offset >= 0 && e.offset < text.length)
    .sort((a, b) => a.offset - b.offset || b.length - a.length);
  fill(fragment, text, 0, text.length, list, actions);
  return fragment;
}
