/**
 * Neon-compatible gateway in front of a real PostgreSQL: development and test tool only.
 *
 * Speaks the two protocols of `@neondatabase/serverless`, like Neon's own proxy and `wsproxy`:
 * - `POST /sql`: Neon's SQL-over-HTTP (`neon()` and `sql.transaction()`);
 * - WebSocket `/v1` (and `/v2`): a tunnel carrying the Postgres wire protocol (`Pool`, `Client`).
 * Only the configured Postgres host:port can be reached, whatever a client asks for.
 *
 * Test controls:
 * - `POST /__control/down`: from then on every `/sql` request and WebSocket upgrade has its socket destroyed,
 *   as if Neon were unreachable (tunnels already open stay up); `POST /__control/hang` holds `/sql` requests
 *   unanswered, as if Neon were slow; `POST /__control/edge/<code>` answers `/sql` as Cloudflare's edge does
 *   when it cannot reach Neon (`edge/1016`: DNS, `edge/525`: TLS, ...); `POST /__control/up` undoes any;
 * - `GET /__control/stats`: `{"requests": n, "connections": n}`, the `/sql` requests and WebSocket upgrades
 *   received (counted even while down); `POST /__control/stats/reset` zeroes them;
 * - the added latency and request timeline of request-timing.ts: the latency is waited out before each
 *   `/sql` request is handled, before a WebSocket upgrade is answered, and before each message a client
 *   sends through a tunnel reaches Postgres (in order), so every exchange costs one round trip. The
 *   timeline records `/sql` requests only.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { connect as netConnect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import pg from "pg";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { FaultSwitch } from "./fault-switch.js";
import { gatewayControl } from "./gateway-control.js";
import { header, readBody, RequestError, sendJson } from "./http.js";
import { isJsonObject } from "./json-object.js";
import { listen, stopListening, type ListenOptions } from "./listen.js";
import { RequestTiming } from "./request-timing.js";

export interface NeonGatewayOptions extends ListenOptions {
  /** The PostgreSQL the gateway serves; default "postgres://postgres@127.0.0.1:5432/test". Only its host:port may be reached. */
  postgresUrl?: string;
  /** Added before each request or tunnelled message is answered, as a round trip to Neon would be; default 0. */
  latencyMs?: number;
}

export interface NeonGateway {
  /** The port actually listened on. */
  port: number;
  /** For neonConfig.fetchEndpoint, e.g. "http://127.0.0.1:PORT/sql". */
  httpEndpoint: string;
  /**
   * For neonConfig.wsProxy, e.g. "127.0.0.1:PORT/v1" (the driver appends ?address=host:port). A wsProxy
   * function may return it without `address`: the tunnel then goes to the configured Postgres.
   */
  wsProxy: string;
  /** Stops listening, closes every HTTP socket and WebSocket tunnel, and ends the Postgres pools. */
  close(): Promise<void>;
}

const DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test";
const MAX_BODY_BYTES = 10 * 1024 * 1024;
// Pause the Postgres socket while this much is queued towards a slow WebSocket client.
const WS_HIGH_WATER_BYTES = 1024 * 1024;
const LOOPBACK = new Set(["localhost", "127.0.0.1", "::1"]);

const ISOLATION_LEVELS: Record<string, string> = {
  ReadUncommitted: "READ UNCOMMITTED",
  ReadCommitted: "READ COMMITTED",
  RepeatableRead: "REPEATABLE READ",
  Serializable: "SERIALIZABLE",
};

// The fields of a Postgres error that the driver copies onto NeonDbError.
const PG_ERROR_FIELDS = [
  "severity",
  "code",
  "detail",
  "hint",
  "position",
  "internalPosition",
  "internalQuery",
  "where",
  "schema",
  "table",
  "column",
  "dataType",
  "constraint",
  "file",
  "line",
  "routine",
] as const;

// Values leave as Postgres text; the driver parses them with its own type parsers.
const RAW_TEXT_TYPES: pg.CustomTypesConfig = { getTypeParser: () => (value: string) => value };

interface SqlQuery {
  query: string;
  params: unknown[];
}

/** Starts the gateway; resolves once it listens. */
export async function startNeonGateway(options: NeonGatewayOptions = {}): Promise<NeonGateway> {
  const target = new URL(options.postgresUrl ?? DEFAULT_POSTGRES_URL);
  const targetHost = stripBrackets(target.hostname);
  const targetPort = Number(target.port || 5432);

  const pools = new Map<string, pg.Pool>();
  const tunnels = new Set<WebSocket>();
  const stats = { requests: 0, connections: 0 };
  const outage = new FaultSwitch();
  const timing = new RequestTiming(options.latencyMs);

  const servesAddress = (host: string, port: number): boolean =>
    port === targetPort && sameHost(stripBrackets(host), targetHost);

  function poolFor(user: string, password: string, database: string): pg.Pool {
    const key = JSON.stringify([user, password, database]);
    let pool = pools.get(key);
    if (!pool) {
      pool = new pg.Pool({
        host: targetHost,
        port: targetPort,
        user,
        password,
        database,
        max: 5,
        idleTimeoutMillis: 10_000,
        connectionTimeoutMillis: 10_000,
        types: RAW_TEXT_TYPES,
      });
      // An idle client losing its server (e.g. Postgres restarted) must not crash the gateway; the pool drops it.
      pool.on("error", () => {});
      pools.set(key, pool);
    }
    return pool;
  }

  function parseConnectionString(value: string | string[] | undefined) {
    if (typeof value !== "string") throw new RequestError("missing Neon-Connection-String header");
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new RequestError("Neon-Connection-String is not a valid URL");
    }
    if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
      throw new RequestError("Neon-Connection-String must use the postgres:// or postgresql:// scheme");
    }
    const port = Number(url.port || 5432);
    if (!servesAddress(url.hostname, port)) {
      throw new RequestError(
        `host ${url.hostname}:${port} is not served by this gateway (it serves ${targetHost}:${targetPort})`,
      );
    }
    const user = decodeComponent(url.username);
    const database = decodeComponent(url.pathname.slice(1));
    if (!user || !database) throw new RequestError("Neon-Connection-String lacks a user or a database");
    return { user, password: decodeComponent(url.password), database };
  }

  async function handleSql(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST") throw new RequestError("only POST is supported on /sql", 405);
    const { user, password, database } = parseConnectionString(req.headers["neon-connection-string"]);
    if (header(req, "neon-raw-text-output") !== "true") {
      throw new RequestError("this gateway only serves Neon-Raw-Text-Output: true (as the driver sends)");
    }
    const arrayMode = header(req, "neon-array-mode") === "true";
    const body = parseBody(await readBody(req, MAX_BODY_BYTES, () => new RequestError("request body too large", 413)));
    const pool = poolFor(user, password, database);

    if ("queries" in body) {
      const begin = beginStatement(req);
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        const results = [];
        try {
          await client.query(begin);
          for (const q of body.queries) results.push(await runQuery(client, q, arrayMode));
          await client.query("COMMIT");
        } catch (error) {
          await client.query("ROLLBACK").catch((rollbackError: Error) => (broken = rollbackError));
          throw error;
        }
        sendJson(res, 200, { results });
      } finally {
        // A client whose ROLLBACK failed is in an unknown state: destroy it rather than reuse it.
        client.release(broken);
      }
    } else {
      sendJson(res, 200, await runQuery(pool, body, arrayMode));
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://gateway");
    const path = url.pathname;
    if (path.startsWith("/__control/")) return handleControl(req, res, url);
    if (path === "/sql") stats.requests++;
    if (outage.intercept(req, res)) return;
    if (path !== "/sql") return sendJson(res, 404, { message: `no route for ${path}` });
    timing.serve(res, path, () => handleSql(req, res).catch((error: unknown) => sendError(res, error)));
  });

  function handleControl(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const route = `${req.method} ${url.pathname}`;
    const answer = gatewayControl(route, url, { stats, outage, timing });
    sendJson(res, answer?.status ?? 404, answer?.body ?? { message: `no route for ${route}` });
  }

  const wss = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? "/", "http://gateway");
    if (url.pathname === "/v1" || url.pathname === "/v2") stats.connections++;
    if (outage.down) return void socket.destroy();
    if (url.pathname !== "/v1" && url.pathname !== "/v2") return rejectUpgrade(socket, 404, "no WebSocket here");
    // `address` is what wsproxy expects; without it (a wsProxy function that omits it) the configured Postgres is meant.
    const address = url.searchParams.get("address");
    if (address !== null) {
      const colon = address.lastIndexOf(":");
      const port = colon < 0 ? Number.NaN : Number(address.slice(colon + 1));
      if (!servesAddress(address.slice(0, colon), port)) {
        return rejectUpgrade(socket, 403, `address ${address} is not served by this gateway`);
      }
    }
    timing.delay(() => wss.handleUpgrade(req, socket, head, (ws) => tunnel(ws)));
  });

  function tunnel(ws: WebSocket): void {
    tunnels.add(ws);
    const tcp: Socket = netConnect({ host: targetHost, port: targetPort });
    tcp.setNoDelay(true);

    // Each message waits out the latency from its own arrival; the chain keeps them in order.
    let forwarded = Promise.resolve();
    let waiting = 0;
    ws.on("message", (data: RawData) => {
      const chunk = toBuffer(data);
      const forward = () => {
        if (tcp.writable && !tcp.write(chunk)) ws.pause();
      };
      if (timing.latencyMs === 0 && waiting === 0) return forward();
      const due = Date.now() + timing.latencyMs;
      waiting++;
      forwarded = forwarded
        .then(() => new Promise<void>((resolve) => setTimeout(resolve, due - Date.now())))
        .then(() => {
          waiting--;
          forward();
        });
    });
    tcp.on("drain", () => ws.resume());
    tcp.on("data", (chunk: Buffer) => {
      ws.send(chunk, () => {
        if (ws.bufferedAmount < WS_HIGH_WATER_BYTES) tcp.resume();
      });
      if (ws.bufferedAmount >= WS_HIGH_WATER_BYTES) tcp.pause();
    });

    // Each side closes the other gracefully: a close frame for the client, FIN for Postgres.
    ws.on("close", () => {
      tunnels.delete(ws);
      tcp.end();
    });
    ws.on("error", () => tcp.destroy());
    tcp.on("end", () => ws.close(1000, "postgres closed the connection"));
    tcp.on("error", (error) => ws.close(1011, truncateReason(`postgres connection failed: ${error.message}`)));
  }

  const { port, origin } = await listen(server, options);

  return {
    port,
    httpEndpoint: `${origin}/sql`,
    wsProxy: `${origin.slice("http://".length)}/v1`,
    async close() {
      const closed = stopListening(server);
      await Promise.all(
        [...tunnels].map(
          (ws) =>
            new Promise<void>((resolve) => {
              ws.once("close", () => resolve());
              ws.close(1001, "gateway shutting down");
              // A client that never answers the close frame must not hold up shutdown.
              setTimeout(() => ws.terminate(), 1000).unref();
            }),
        ),
      );
      wss.close();
      await Promise.all([...pools.values()].map((pool) => pool.end()));
      pools.clear();
      await closed;
    },
  };
}

/** Runs one statement with the extended protocol, as Neon does (so one statement per query). */
async function runQuery(runner: pg.Pool | pg.PoolClient, q: SqlQuery, arrayMode: boolean) {
  const config: pg.QueryArrayConfig & { queryMode: "extended" } = {
    text: q.query,
    values: q.params,
    rowMode: "array",
    queryMode: "extended",
  };
  const result = await runner.query(config);
  const names = result.fields.map((field) => field.name);
  return {
    command: result.command,
    rowCount: result.rowCount,
    rows: arrayMode ? result.rows : result.rows.map((row) => Object.fromEntries(names.map((n, i) => [n, row[i]]))),
    fields: result.fields.map((field) => ({
      name: field.name,
      dataTypeID: field.dataTypeID,
      tableID: field.tableID,
      columnID: field.columnID,
      dataTypeSize: field.dataTypeSize,
      dataTypeModifier: field.dataTypeModifier,
      format: field.format,
    })),
    rowAsArray: arrayMode,
  };
}

function beginStatement(req: IncomingMessage): string {
  const parts = ["BEGIN"];
  const isolation = header(req, "neon-batch-isolation-level");
  if (isolation !== undefined) {
    const level = ISOLATION_LEVELS[isolation];
    if (!level) throw new RequestError(`invalid Neon-Batch-Isolation-Level: ${isolation}`);
    parts.push(`ISOLATION LEVEL ${level}`);
  }
  const readOnly = booleanHeader(req, "neon-batch-read-only");
  if (readOnly !== undefined) parts.push(readOnly ? "READ ONLY" : "READ WRITE");
  const deferrable = booleanHeader(req, "neon-batch-deferrable");
  if (deferrable !== undefined) parts.push(deferrable ? "DEFERRABLE" : "NOT DEFERRABLE");
  return parts.join(" ");
}

function parseBody(raw: Buffer): SqlQuery | { queries: SqlQuery[] } {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString("utf8"));
  } catch {
    throw new RequestError("request body is not JSON");
  }
  if (isJsonObject(body) && Array.isArray(body.queries)) return { queries: body.queries.map(toSqlQuery) };
  return toSqlQuery(body);
}

function toSqlQuery(value: unknown): SqlQuery {
  if (!isJsonObject(value) || typeof value.query !== "string") {
    throw new RequestError('expected {"query": string, "params": [...]} or {"queries": [...]}');
  }
  if (value.params !== undefined && !Array.isArray(value.params)) throw new RequestError("params must be an array");
  return { query: value.query, params: value.params ?? [] };
}

function sendError(res: ServerResponse, error: unknown): void {
  if (error instanceof RequestError) return sendJson(res, error.status, { message: error.message });
  if (error instanceof pg.DatabaseError) {
    // Postgres rejected the statement: 400 with its fields, which the driver turns into NeonDbError.
    const body: Record<string, unknown> = { message: error.message };
    for (const field of PG_ERROR_FIELDS) if (error[field] !== undefined) body[field] = error[field];
    return sendJson(res, 400, body);
  }
  // Postgres unreachable or the connection broke: a server-side failure, as Neon reports it.
  sendJson(res, 500, { message: `database connection failed: ${(error as Error).message ?? String(error)}` });
}

function rejectUpgrade(socket: Duplex, status: 403 | 404, message: string): void {
  const body = JSON.stringify({ message });
  const reason = status === 403 ? "Forbidden" : "Not Found";
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  );
}

function booleanHeader(req: IncomingMessage, name: string): boolean | undefined {
  const value = header(req, name);
  if (value === undefined) return undefined;
  if (value !== "true" && value !== "false") throw new RequestError(`${name} must be true or false`);
  return value === "true";
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

// WebSocket close reasons are limited to 123 bytes.
function truncateReason(reason: string): string {
  return Buffer.from(reason).subarray(0, 123).toString("utf8").replace(/\uFFFD$/, "");
}

function decodeComponent(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new RequestError("Neon-Connection-String has a malformed percent-encoding");
  }
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

function sameHost(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase() || (LOOPBACK.has(a.toLowerCase()) && LOOPBACK.has(b.toLowerCase()));
}
