/**
 * Upstash-compatible REST gateway in front of a real Redis: development and test tool only.
 *
 * Speaks the REST protocol of `@upstash/redis`, like Upstash's own endpoint:
 * - `POST /` with a JSON command (`["SET", "k", "v"]`) → `{"result": ...}`, or 400 `{"error": ...}`;
 * - `POST /pipeline` and `POST /multi-exec` with an array of commands → `[{"result"} | {"error"}, ...]`;
 * - the path form `GET|POST /set/k/v?EX=100` (a POST body becomes the last argument);
 * - `Upstash-Encoding: base64`: every string in a result is base64 (binary-safe), except a top-level "OK".
 * Auth: `Authorization: Bearer <token>` or `?_token=<token>`.
 *
 * Lua scripts: Upstash accepts shebang flags Redis 7 rejects (`@upstash/ratelimit` sends
 * `#!lua flags=allow-key-locking`). EVAL, EVAL_RO and SCRIPT LOAD drop those flags before Redis sees the
 * script; the gateway remembers sha1(original) → sha1(rewritten), so SCRIPT LOAD answers the original's sha
 * (what the client computed) and EVALSHA, EVALSHA_RO and SCRIPT EXISTS translate it back. An sha never seen
 * passes through unchanged: Redis answers NOSCRIPT and the client falls back to EVAL, which records it.
 *
 * Test controls (same token): `POST /__control/down` (sockets destroyed) | `/__control/hang` (requests held
 * unanswered) | `/__control/edge/<code>` (answered as Cloudflare's edge does when it cannot reach Upstash:
 * `edge/1016` DNS, `edge/525` TLS, ...) | `/__control/up`, `GET /__control/stats`,
 * `POST /__control/stats/reset`, and the added latency and request timeline of request-timing.ts.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Command, Pipeline, Redis, ReplyError } from "ioredis";
import { FaultSwitch } from "./fault-switch.js";
import { gatewayControl } from "./gateway-control.js";
import { header, readBody, RequestError, sendJson } from "./http.js";
import { listen, stopListening, type ListenOptions } from "./listen.js";
import { RequestTiming } from "./request-timing.js";

export interface RedisGatewayOptions extends ListenOptions {
  /** Bearer token clients must send. */
  token: string;
  /** Redis to serve; default "redis://127.0.0.1:6379" (a db index in the path selects the database). */
  redisUrl?: string;
  /** Added before each request is answered, as a round trip to Upstash would be; default 0. */
  latencyMs?: number;
}

export interface RedisGateway {
  /** e.g. "http://127.0.0.1:PORT" — what UPSTASH_REDIS_REST_URL should be. */
  url: string;
  /** The port actually listened on. */
  port: number;
  /** Stops listening, closes every HTTP socket (keep-alive ones too) and quits Redis. */
  close(): Promise<void>;
}

const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
const MAX_BODY_BYTES = 10 * 1024 * 1024;
const UNAUTHORIZED =
  "WRONGPASS invalid or missing auth token. See https://docs.upstash.com/redis/troubleshooting/http_unauthorized for details.";
const OK = Buffer.from("OK");

// Shebang flags Redis 7 understands (src/script.c, scripts_flags_def); any other one is refused.
const REDIS_SCRIPT_FLAGS = new Set(["no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys"]);
// Bounds the original → rewritten sha map; a forgotten entry only costs the client one NOSCRIPT fallback.
const MAX_REWRITTEN_SCRIPTS = 10_000;

// Commands that would change the state of the one Redis connection every client shares.
const CONNECTION_STATE_COMMANDS = new Set([
  "auth",
  "discard",
  "exec",
  "hello",
  "monitor",
  "multi",
  "psubscribe",
  "punsubscribe",
  "quit",
  "reset",
  "select",
  "ssubscribe",
  "subscribe",
  "sunsubscribe",
  "unsubscribe",
  "unwatch",
  "watch",
]);

/** A command as Redis receives it: name first, every part as bytes. */
type RawArgs = [name: string, ...args: Buffer[]];
/** One pipeline or transaction entry, as ioredis reports it. */
type Outcome = [error: Error | null, reply?: unknown];
/** A command made ready for Redis, with what turns Redis's reply back into the one the client expects. */
type Prepared = [command: RawArgs, fixReply?: (reply: unknown) => unknown];

/** Redis itself could not be reached: 503, so a caller can tell it from a rejected command. */
class UnreachableError extends Error {}

/** Hands replies back untouched: ioredis would otherwise reshape some (HGETALL into an object, ...). */
class RawCommand extends Command {
  constructor([name, ...args]: RawArgs) {
    super(name, args);
  }

  override transformReply(result: Buffer | Buffer[]): Buffer | Buffer[] {
    return result;
  }
}

/** Starts the gateway; resolves once it listens (Redis may still be down: requests then get 503). */
export async function startRedisGateway(options: RedisGatewayOptions): Promise<RedisGateway> {
  if (!options.token) throw new Error("a token is required");
  const expectedToken = sha256(options.token);
  const redisUrl = new URL(options.redisUrl ?? DEFAULT_REDIS_URL);
  const redisAddress = `${redisUrl.hostname}:${redisUrl.port || 6379}`;

  const redis = new Redis(redisUrl.href, {
    // RESP2, as Upstash answers: flat HGETALL arrays, scores as strings.
    protocol: 2,
    lazyConnect: true,
    // Fail fast while Redis is away instead of queueing; ioredis reconnects in the background.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  });
  let lastRedisError = "not connected yet";
  redis.on("error", (error: Error) => (lastRedisError = error.message));
  await redis.connect().catch(() => {});

  const stats = { requests: 0, commands: 0 };
  const outage = new FaultSwitch();
  const timing = new RequestTiming(options.latencyMs);
  /** sha1 of a script as the client sent it → sha1 of the script Redis actually cached. */
  const rewrittenShas = new Map<string, string>();

  /** Adapts script commands to Redis 7 (see the header); every other command passes through as is. */
  function prepare(command: RawArgs): Prepared {
    const [name, ...args] = command;
    const sub = name === "script" ? args[0]?.toString("latin1").toLowerCase() : undefined;
    if (name === "eval" || name === "eval_ro" || sub === "load") {
      const at = name === "script" ? 1 : 0;
      const script = args[at];
      const rewritten = script && withoutUnknownFlags(script);
      if (!script || !rewritten) return [command];
      const originalSha = sha1(script);
      rewrittenShas.delete(originalSha);
      rewrittenShas.set(originalSha, sha1(rewritten));
      const oldest = rewrittenShas.keys().next().value;
      if (rewrittenShas.size > MAX_REWRITTEN_SCRIPTS && oldest !== undefined) rewrittenShas.delete(oldest);
      const sent = [...args];
      sent[at] = rewritten;
      if (name !== "script") return [[name, ...sent]];
      return [[name, ...sent], (reply) => (Buffer.isBuffer(reply) ? Buffer.from(originalSha) : reply)];
    }
    if (name === "evalsha" || name === "evalsha_ro") {
      return [[name, ...args.map((arg, index) => (index === 0 ? toRedisSha(arg) : arg))]];
    }
    if (sub === "exists") return [[name, ...args.map((arg, index) => (index === 0 ? arg : toRedisSha(arg)))]];
    return [command];
  }

  function toRedisSha(sha: Buffer): Buffer {
    const known = sha.length === 40 ? rewrittenShas.get(sha.toString("latin1").toLowerCase()) : undefined;
    return known === undefined ? sha : Buffer.from(known);
  }

  async function run(original: RawArgs): Promise<unknown> {
    const [command, fixReply] = prepare(original);
    try {
      const reply = await redis.sendCommand(new RawCommand(command));
      stats.commands++;
      return fixReply ? fixReply(reply) : reply;
    } catch (error) {
      if (!(error instanceof ReplyError)) throw unreachable(error);
      stats.commands++;
      throw error;
    }
  }

  /** Runs the commands back to back in one write; with `transaction`, inside MULTI/EXEC. */
  async function runBatch(originals: RawArgs[], transaction: boolean): Promise<Outcome[]> {
    const prepared = originals.map(prepare);
    const commands = prepared.map(([command]) => command);
    const fixed = (outcomes: Outcome[]): Outcome[] =>
      outcomes.map((outcome, index) => {
        const fixReply = prepared[index]?.[1];
        return fixReply && outcome[0] === null ? [null, fixReply(outcome[1])] : outcome;
      });
    const pipeline = new Pipeline(redis);
    const wrapped = transaction ? [["multi"] as RawArgs, ...commands, ["exec"] as RawArgs] : commands;
    for (const command of wrapped) pipeline.sendCommand(new RawCommand(command));
    const outcomes = (await pipeline.exec()) as Outcome[];
    const broken = outcomes.find(([error]) => error !== null && !(error instanceof ReplyError));
    if (broken) throw unreachable(broken[0]);
    if (!transaction) {
      stats.commands += outcomes.length;
      return fixed(outcomes);
    }
    const [execError, execReply] = outcomes[outcomes.length - 1] ?? [null];
    if (execError) {
      // Redis only says EXECABORT; the command that could not be queued says why.
      const cause = outcomes.slice(1, -1).find(([error]) => error !== null)?.[0];
      throw new RequestError(cause ? `${execError.message} ${cause.message}` : execError.message);
    }
    stats.commands += commands.length;
    return fixed((execReply as unknown[]).map((reply): Outcome => (reply instanceof Error ? [reply] : [null, reply])));
  }

  function unreachable(error: unknown): UnreachableError {
    const detail = error instanceof Error ? error.message : String(error);
    return new UnreachableError(`ERR redis at ${redisAddress} is unreachable: ${detail} (last error: ${lastRedisError})`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (!["GET", "HEAD", "POST", "PUT"].includes(req.method ?? "")) {
      throw new RequestError(`ERR method ${req.method} is not allowed`, 405);
    }
    if (!authorized(req, url)) throw new RequestError(UNAUTHORIZED, 401);
    const format = header(req, "upstash-response-format");
    if (format !== undefined && format.toLowerCase() !== "json") {
      throw new RequestError(`ERR Upstash-Response-Format ${format} is not served by this gateway (only json)`);
    }
    const base64 = header(req, "upstash-encoding")?.toLowerCase() === "base64";
    const body = await readBody(req, MAX_BODY_BYTES, () => new RequestError("ERR max request size exceeded", 413));

    if (url.pathname === "/pipeline" || url.pathname === "/multi-exec") {
      const commands = parseCommands(body);
      const outcomes = await runBatch(commands, url.pathname === "/multi-exec");
      return sendJson(
        res,
        200,
        outcomes.map(([error, reply]) => (error ? { error: error.message } : { result: toResult(reply, base64) })),
      );
    }
    const command = url.pathname === "/" ? toCommand(parseJson(body)) : pathCommand(url, body);
    try {
      sendJson(res, 200, { result: toResult(await run(command), base64) });
    } catch (error) {
      if (error instanceof ReplyError) return sendJson(res, 400, { error: (error as Error).message });
      throw error;
    }
  }

  function authorized(req: IncomingMessage, url: URL): boolean {
    const authorization = header(req, "authorization");
    const presented = authorization?.startsWith("Bearer ") ? authorization.slice(7) : url.searchParams.get("_token");
    return presented !== null && timingSafeEqual(sha256(presented), expectedToken);
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://gateway");
    if (url.pathname.startsWith("/__control/")) return handleControl(req, res, url);
    stats.requests++;
    if (outage.intercept(req, res)) return;
    timing.serve(res, url.pathname, () => handle(req, res, url).catch((error: unknown) => sendError(res, error)));
  });

  function handleControl(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (!authorized(req, url)) return sendJson(res, 401, { error: UNAUTHORIZED });
    const route = `${req.method} ${url.pathname}`;
    const answer = gatewayControl(route, url, { stats, outage, timing });
    sendJson(res, answer?.status ?? 404, answer?.body ?? { error: `no route for ${route}` });
  }

  const { port, origin } = await listen(server, options);

  return {
    url: origin,
    port,
    async close() {
      const closed = stopListening(server);
      // QUIT is refused while disconnected (no offline queue): then just drop the connection.
      await redis.quit().catch(() => redis.disconnect());
      await closed;
    },
  };
}

/** `/set/k/v?EX=100` → SET k v EX 100; a non-empty POST body is appended as the value, as Upstash does. */
function pathCommand(url: URL, body: Buffer): RawArgs {
  const segments = url.pathname.slice(1).split("/");
  let parts: string[];
  try {
    parts = segments.map((segment) => decodeURIComponent(segment));
  } catch {
    throw new RequestError("ERR the path is not valid percent-encoding");
  }
  const [name, ...args] = parts;
  if (!name) throw new RequestError("ERR no command in the path");
  const raw: Buffer[] = args.map((arg) => Buffer.from(arg));
  if (body.length > 0) raw.push(body);
  for (const [key, value] of url.searchParams) {
    if (key === "_token") continue;
    raw.push(Buffer.from(key));
    if (value !== "") raw.push(Buffer.from(value));
  }
  return checked([name.toLowerCase(), ...raw]);
}

function parseCommands(body: Buffer): RawArgs[] {
  const parsed = parseJson(body);
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new RequestError("ERR expected a non-empty JSON array of commands, e.g. [[\"GET\",\"k\"]]");
  }
  return parsed.map(toCommand);
}

/** A JSON command: strings go to Redis as UTF-8, numbers and booleans as their text (the client sends both). */
function toCommand(value: unknown): RawArgs {
  if (!Array.isArray(value) || typeof value[0] !== "string" || value[0] === "") {
    throw new RequestError("ERR a command must be a JSON array starting with its name, e.g. [\"SET\",\"k\",\"v\"]");
  }
  const [name, ...args] = value as [string, ...unknown[]];
  const raw = args.map((arg) => {
    if (typeof arg === "string") return Buffer.from(arg, "utf8");
    if (typeof arg === "number" || typeof arg === "boolean") return Buffer.from(String(arg));
    throw new RequestError(`ERR command arguments must be strings, numbers or booleans, got ${JSON.stringify(arg)}`);
  });
  return checked([name.toLowerCase(), ...raw]);
}

function checked(command: RawArgs): RawArgs {
  if (CONNECTION_STATE_COMMANDS.has(command[0])) {
    throw new RequestError(`ERR Command is not available: '${command[0]}'`);
  }
  return command;
}

/**
 * A reply as Upstash's JSON: integers stay numbers, nil is null, strings are UTF-8 or, with
 * `Upstash-Encoding: base64`, base64 at every depth. Upstash leaves a top-level "OK" unencoded and the
 * client decodes every other top-level string, so "OK" is sent as is whether Redis sent a status or a value.
 */
function toResult(reply: unknown, base64: boolean): unknown {
  if (base64 && Buffer.isBuffer(reply) && reply.equals(OK)) return "OK";
  return toJson(reply, base64);
}

function toJson(reply: unknown, base64: boolean): unknown {
  if (Buffer.isBuffer(reply)) return reply.toString(base64 ? "base64" : "utf8");
  if (Array.isArray(reply)) return reply.map((item) => toJson(item, base64));
  // An error nested in a reply (a script returning error_reply inside a table).
  if (reply instanceof Error) return reply.message;
  return reply ?? null;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new RequestError("ERR the request body is not valid JSON");
  }
}

function sendError(res: ServerResponse, error: unknown): void {
  if (error instanceof RequestError) return sendJson(res, error.status, { error: error.message });
  if (error instanceof UnreachableError) return sendJson(res, 503, { error: error.message });
  sendJson(res, 500, { error: `ERR gateway failure: ${error instanceof Error ? error.message : String(error)}` });
}

/**
 * The script without the shebang flags Redis 7 refuses, or undefined when it needs no change. Mirrors how
 * Redis reads a shebang: the first line, when the script starts with "#!", split on whitespace, "#!lua"
 * first, then `flags=a,b` parts. Anything else Redis would refuse is left for Redis to report.
 */
function withoutUnknownFlags(script: Buffer): Buffer | undefined {
  if (script[0] !== 0x23 || script[1] !== 0x21) return undefined; // "#!"
  const lineEnd = script.indexOf(0x0a);
  if (lineEnd < 0) return undefined;
  const line = script.subarray(0, lineEnd).toString("latin1");
  const trailing = /\s*$/.exec(line)?.[0] ?? "";
  const parts = line.trim().split(/\s+/);
  // Quotes would make Redis's argument splitting differ from this one: leave such a shebang alone.
  if (parts[0] !== "#!lua" || /["']/.test(line)) return undefined;
  let dropped = false;
  const kept = parts.slice(1).flatMap((part) => {
    if (!part.startsWith("flags=")) return [part];
    const flags = part.slice("flags=".length).split(",");
    const known = flags.filter((flag) => REDIS_SCRIPT_FLAGS.has(flag));
    if (known.length === flags.length || (flags.length === 1 && flags[0] === "")) return [part];
    dropped = true;
    return known.length > 0 ? [`flags=${known.join(",")}`] : [];
  });
  if (!dropped) return undefined;
  const shebang = `${["#!lua", ...kept].join(" ")}${trailing}`;
  return Buffer.concat([Buffer.from(shebang, "latin1"), script.subarray(lineEnd)]);
}

function sha1(data: Buffer): string {
  return createHash("sha1").update(data).digest("hex");
}

// Equal-length digests, so the comparison is constant-time whatever the token's length.
function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
