import { describe, expect, it } from "vitest";
import { formatText, TelegramTextError } from "../../src/lib/telegram-text.js";
import { textProblem } from "../../src/notifications/content.js";

const refusal = (text: string, mode: string): string => {
  try {
    formatText(text, mode);
  } catch (error) {
    if (error instanceof TelegramTextError) return error.message;
    throw error;
  }
  throw new Error("accepted");
};

describe("MarkdownV2 as Telegram parses it", () => {
  it.each([
    ["*bold* _italic_ __under__ ~strike~ ||spoiler||", "bold italic under strike spoiler", ["bold", "italic", "underline", "strikethrough", "spoiler"]],
    ["Price: 5\\.00 \\(incl\\. VAT\\)\\!", "Price: 5.00 (incl. VAT)!", []],
    ["[site](https://example.com/a\\)b) and ![👍](tg://emoji?id=5368324170671202286)", "site and 👍", ["text_link", "custom_emoji"]],
    ["`a\\`b` ```python\nprint(1)```", "a`b print(1)", ["code", "pre"]],
    [">quoted\n>lines\nafter", "quoted\nlines\nafter", ["blockquote"]],
    ["**>hidden\n>more||", "hidden\nmore", ["expandable_blockquote"]],
  ])("%j → %j", (source, text, types) => {
    const parsed = formatText(source, "MarkdownV2");
    expect(parsed.text).toBe(text);
    expect(parsed.entities.map((e) => e.type).sort()).toEqual([...types].sort());
  });

  it("keeps a link's URL and a pre block's language", () => {
    const parsed = formatText("[a](https://x.io/p) ```js\nx```", "MarkdownV2");
    expect(parsed.entities).toEqual([
      { type: "text_link", offset: 0, length: 1, url: "https://x.io/p" },
      { type: "pre", offset: 2, length: 1, language: "js" },
    ]);
  });

  it.each([
    ["Order 7.", "can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'"],
    ["a - b", "can't parse entities: Character '-' is reserved and must be escaped with the preceding '\\'"],
    ["*never closed", "can't parse entities: Can't find end of Bold entity at byte offset 0"],
    ["ok `code", "can't parse entities: Can't find end of code entity at byte offset 3"],
  ])("refuses %j", (source, message) => {
    expect(refusal(source, "MarkdownV2")).toBe(message);
  });
});

describe("legacy Markdown and HTML", () => {
  it("parses legacy Markdown and refuses an unclosed entity", () => {
    expect(formatText("*b* _i_ `c` [l](https://x.io) 5.0 - ok", "Markdown").text).toBe("b i c l 5.0 - ok");
    expect(refusal("a _b", "Markdown")).toBe("can't parse entities: Can't find end of the entity starting at byte offset 2");
  });

  it("counts HTML after its tags and character references", () => {
    expect(formatText("<b>Tom &amp; Jerry</b> &lt;3", "HTML")).toEqual({ text: "Tom & Jerry <3", entities: [{ type: "bold", offset: 0, length: 11 }] });
  });

  it("trims surrounding whitespace and moves the entities with it", () => {
    expect(formatText("  <i>hi</i>  ", "HTML")).toEqual({ text: "hi", entities: [{ type: "italic", offset: 0, length: 2 }] });
  });
});

describe("the notification text check", () => {
  it("counts the length after entity parsing", () => {
    const bold = `<b>${"x".repeat(4096)}</b>`;
    expect(bold.length).toBeGreaterThan(4096);
    expect(textProblem(bold, "HTML")).toBeUndefined();
    expect(textProblem("x".repeat(4096), undefined)).toBeUndefined();
    expect(textProblem(`${"x".repeat(4096)}\\.`, "MarkdownV2")).toBe(
      "must be at most 4096 characters as Telegram counts them (after entity parsing), not 4097",
    );
  });

  it("reports markup Telegram would refuse, and text that is only markup", () => {
    expect(textProblem("<b>x", "HTML")).toBe("can't parse entities: Can't find end tag corresponding to start tag \"b\"");
    expect(textProblem("<b> </b>", "HTML")).toBe("must not be empty");
  });
});
