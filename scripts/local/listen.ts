import type { Server } from "node:http";

/** Where a local service listens once `listen` resolves. */
export interface Listening {
  port: number;
  /** `http://host:port`, with an IPv6 host in brackets. */
  origin: string;
}

/** Where a local service should listen. */
export interface ListenOptions {
  /** Port to listen on; default 0 (a free port). */
  port?: number;
  /** Interface; default "127.0.0.1". */
  host?: string;
}

/**
 * Starts `server` and resolves once it listens.
 * @throws the server's error, e.g. EADDRINUSE.
 */
export async function listen(server: Server, { port = 0, host = "127.0.0.1" }: ListenOptions): Promise<Listening> {
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

/** Stops listening and closes every connection, keep-alive ones too; resolves once the server has closed. */
export function stopListening(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return closed;
}
