import type { Server } from "node:http";

/** Where a local service listens once `listen` resolves. */
export interface Listening {
  port: number;
  /** `http://host:port`, with an IPv6 host in brackets. */
  origin: string;
}

/**
 * Starts `server` on `host:port` (port 0 picks a free one) and resolves once it listens.
 * @throws the server's error, e.g. EADDRINUSE.
 */
export async function listen(server: Server, port = 0, host = "127.0.0.1"): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("server is not listening on TCP");
  return { port: address.port, origin: `http://${host.includes(":") ? `[${host}]` : host}:${address.port}` };
}
