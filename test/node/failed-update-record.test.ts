import type { Update } from "grammy/types";
import { describe, expect, it } from "vitest";
import { failedUpdateRecord } from "../../src/webhook/failed-updates.js";

const message = { message_id: 1, date: 0, chat: { id: 5, type: "private", first_name: "A" }, text: "/help" };

describe("failedUpdateRecord", () => {
  it("never throws: an update nested deeper than JSON.stringify's stack (Node's V8) is kept without its body", () => {
    const depth = 50_000;
    const update = JSON.parse(`{"update_id":7,"message":${JSON.stringify(message).replace(/}$/, `,"x":${"[".repeat(depth)}${"]".repeat(depth)}}`)}}`) as Update;
    expect(() => JSON.stringify(update)).toThrow(RangeError);
    const record = failedUpdateRecord(update, "message", new Error("boom"), new Date(0));
    expect(record).toMatchObject({ update_id: 7, update_type: "message", error_name: "Error", error_message: "boom" });
    expect(record.update).toBeUndefined();
    expect(record.update_excerpt).toBeUndefined();
    expect(() => JSON.stringify(record)).not.toThrow();
  });

  it("keeps an update of up to 8 KiB whole and only the start of a longer one; long messages and stacks are cut", () => {
    const small = { update_id: 8, message } as unknown as Update;
    expect(failedUpdateRecord(small, "message", new Error("x")).update).toEqual(small);
    const large = { update_id: 9, message: { ...message, text: "я".repeat(9000) } } as unknown as Update;
    const error = new Error("e".repeat(5000));
    error.stack = "s".repeat(10_000);
    const record = failedUpdateRecord(large, "message", error);
    expect(record.update).toBeUndefined();
    expect(record.update_excerpt).toBe(JSON.stringify(large).slice(0, 8192));
    expect(record.error_message).toHaveLength(1024);
    expect(record.stack).toHaveLength(4096);
  });
});
