/**
 * The chat page: a small web client served by the double at its root (static files in `chat-page/`) and
 * the JSON API it talks to under `/__chat/` (a Server-Sent Events stream says what to redraw).
 *
 * Only this machine is served: requests must name the double's own loopback host (no DNS rebinding),
 * and every POST must be `application/json` (a form on another site cannot send one without a CORS
 * preflight, which the double never grants).
 */
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { header, readBody, sendJson } from "../http.js";
import { isJsonObject, type JsonObject } from "../json-object.js";
import { ChatWorld, PageError, type WorldEvent } from "./chat-world.js";

const ASSETS: Record<string, string> = {
  "/": "index.html",
  "/chat.js": "chat.js",
  "/render.js": "render.js",
  "/chat.css": "chat.css",
};
const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};
const ASSET_DIR = new URL("./chat-page/", import.meta.url);
/** Defense in depth: even markup that slipped into the page could neither run script nor load anything. */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};
const MAX_BODY_BYTES = 64 * 1024;
const KEEP_ALIVE_MS = 15_000;

/** True for the paths the chat page serves. */
export function isChatPagePath(pathname: string): boolean {
  return Object.hasOwn(ASSETS, pathname) || pathname.startsWith("/__chat/");
}

function sameMachine(req: IncomingMessage): boolean {
  const host = header(req, "host") ?? "";
  const hostname = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  if (!["127.0.0.1", "localhost", "::1"].includes(hostname)) return false;
  const origin = header(req, "origin");
  return origin === undefined || origin === `http://${host}`;
}

async function readJson(req: IncomingMessage): Promise<JsonObject> {
  if (!/^application\/json\b/i.test(header(req, "content-type") ?? "")) throw new PageError("send JSON (content-type: application/json)", 415);
  const body = await readBody(req, MAX_BODY_BYTES, () => new PageError("request too large", 413));
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    throw new PageError("the body is not JSON");
  }
  if (!isJsonObject(parsed)) throw new PageError("the body must be a JSON object");
  return parsed;
}

function openEvents(world: ChatWorld, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { ...SECURITY_HEADERS, "content-type": "text/event-stream", connection: "keep-alive" });
  res.write(": connected\n\n");
  const send = (event: WorldEvent): void => void res.write(`data: ${JSON.stringify(event)}\n\n`);
  const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), KEEP_ALIVE_MS);
  world.on("change", send);
  req.once("close", () => {
    clearInterval(keepAlive);
    world.off("change", send);
  });
}

/** Serves the chat page and its API over `world`. */
export function chatPageEndpoint(world: ChatWorld): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> {
  return async (req, res, url) => {
    if (!sameMachine(req)) return sendJson(res, 403, { error: "the chat page is served to this machine only" });
    const asset = ASSETS[url.pathname];
    if (asset !== undefined && req.method === "GET") {
      const body = await readFile(new URL(asset, ASSET_DIR));
      res.writeHead(200, { ...SECURITY_HEADERS, "content-type": TYPES[asset.split(".").pop() ?? ""] ?? "text/plain" });
      res.end(body);
      return;
    }
    try {
      const route = `${req.method ?? "GET"} ${url.pathname}`;
      const logOf = /^GET \/__chat\/chats\/(-?\d+)\/log$/.exec(route);
      if (logOf !== null) return sendJson(res, 200, world.log(Number(logOf[1])));
      switch (route) {
        case "GET /__chat/events":
          return openEvents(world, req, res);
        case "GET /__chat/state": {
          const chat = Number(url.searchParams.get("chat") ?? 0);
          const language = url.searchParams.get("language") ?? "";
          return sendJson(res, 200, { ...world.overview(), commands: world.commands(chat, language) });
        }
        case "POST /__chat/users":
          return sendJson(res, 200, world.saveUser(await readJson(req)));
        case "POST /__chat/groups": {
          const body = await readJson(req);
          return sendJson(res, 200, world.createGroup(body.user_id, body.title));
        }
        case "POST /__chat/messages": {
          const body = await readJson(req);
          return sendJson(res, 200, world.sendText(body.user_id, body.chat_id, body.text));
        }
        case "POST /__chat/deep-links": {
          const body = await readJson(req);
          return sendJson(res, 200, world.followDeepLink(body.user_id, body.link));
        }
        case "POST /__chat/callbacks": {
          const body = await readJson(req);
          return sendJson(res, 200, world.press(body.user_id, body.chat_id, body.message_id, body.data));
        }
        case "POST /__chat/blocks": {
          const body = await readJson(req);
          return sendJson(res, 200, world.setBlocked(body.user_id, body.blocked));
        }
        default:
          return sendJson(res, 404, { error: `no chat page endpoint ${route}` });
      }
    } catch (error) {
      if (!(error instanceof PageError)) throw error;
      sendJson(res, error.status, { error: error.message });
    }
  };
}
