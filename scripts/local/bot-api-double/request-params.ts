import type { IncomingMessage } from "node:http";
import { isJsonObject, type JsonObject } from "../json-object.js";
import { badRequest } from "./api-error.js";
import { readRequestBody } from "./http.js";
import { parseMultipart } from "./multipart.js";

/** Query-string parameters overlaid by the body's, whichever of Telegram's encodings it uses. */
export async function readParams(req: IncomingMessage, url: URL): Promise<JsonObject> {
  const params: JsonObject = Object.fromEntries(url.searchParams);
  const body = await readRequestBody(req);
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
    if (!isJsonObject(parsed)) throw badRequest("can't parse JSON object");
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
