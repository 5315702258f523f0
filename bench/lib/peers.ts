/** Starts a Node peer (bench/peers/*.ts) in a process of its own and waits until it listens. */
import { fileURLToPath } from "node:url";
import { startChild } from "./child.js";

/** A running peer. */
export interface Peer {
  /** e.g. "http://127.0.0.1:PORT" */
  origin: string;
  pid: number;
  close(): Promise<void>;
}

/** Runs `bench/peers/<file>` with the Worker's bindings as its environment. */
export async function startPeer(file: string, bindings: Record<string, string>): Promise<Peer> {
  const script = fileURLToPath(new URL(`../peers/${file}`, import.meta.url));
  const child = await startChild<{ port: number }>(script, { ...bindings, NODE_ENV: "production" }, `peer ${file}`);
  return { origin: `http://127.0.0.1:${child.ready.port}`, pid: child.pid, close: child.stop };
}
