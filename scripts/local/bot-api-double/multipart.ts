import type { JsonObject } from "../json-object.js";

/**
 * multipart/form-data, read as leniently as Telegram reads it: grammY writes headers without a
 * space after the colon and file names unquoted, which stricter parsers (undici's) refuse.
 * A file part is recorded as `{ filename, size, type }`.
 */
export function parseMultipart(body: Buffer, boundary: string): JsonObject {
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
