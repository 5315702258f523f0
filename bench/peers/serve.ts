/**
 * The Node side of a peer: an `http.createServer` on 127.0.0.1 (a free port) that passes
 * `POST /bot/webhook[/]` to the peer's webhook handler and answers `GET /bot/health`. Announces
 * `{"port": n}` once it listens (bench/lib/child.ts) and stops when the benchmark says so or goes away.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { announceReady } from "../lib/child.js";

/** A webhook handler in Node's (req, res) style. */
export type NodeWebhookHandler = (req: IncomingMessage, res: ServerResponse) => Promise<unknown> | unknown;

/** Serves `webhook` until stopped; `name` labels its error log lines. */
export async function servePeer(name: string, webhook: NodeWebhookHandler): Promise<void> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]?.replace(/\/+$/, "");
    if (req.method === "GET" && path === "/bot/health") {
      res.writeHead(200, { "Content-Type": "application/json" }).end('{"status":"ok"}');
      return;
    }
    if (path !== "/bot/webhook") {
      res.writeHead(404).end();
      return;
    }
    Promise.resolve()
      .then(() => webhook(req, res))
      .catch((error: unknown) => {
        console.error(JSON.stringify({ level: "error", msg: `${name} webhook failed`, error: String(error) }));
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
  });
  // Like the other servers here: no idle timeout cutting the load generator's keep-alive connections.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  announceReady({ port: (server.address() as AddressInfo).port }, () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    return closed;
  });
}
