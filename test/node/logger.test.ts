// The Worker's JSON-lines logger (src/lib/logger.ts): one object per line, secrets never printed.
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";

function capture(secrets: string[]) {
  const lines: string[] = [];
  return { logger: createLogger(secrets, (line) => lines.push(line)), lines };
}

describe("createLogger", () => {
  it("writes one JSON object per line with level, message and fields", () => {
    const { logger, lines } = capture([]);
    logger.warn("update not claimed", { update_id: 7 });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? "")).toMatchObject({ level: "warn", msg: "update not claimed", update_id: 7 });
  });

  it.each([
    ["a plain secret", "s3cr3t-token-value"],
    ["a secret with quotes and backslashes", 'tok"en\\with"quotes'],
    ["a secret with a control character", "tok\ten-with-tab"],
  ])("redacts %s wherever it appears, escaped by JSON or not", (_case, secret) => {
    const { logger, lines } = capture([secret]);
    logger.error("failed", { error_message: `request with ${secret} refused`, nested: { value: secret } });
    const line = lines[0] ?? "";
    expect(line).not.toContain(secret);
    expect(line).not.toContain(JSON.stringify(secret).slice(1, -1));
    expect(JSON.parse(line)).toMatchObject({ error_message: "request with [redacted] refused", nested: { value: "[redacted]" } });
  });
});
