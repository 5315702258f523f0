/**
 * Telegram's side of the webhook for the reliability suite: update factories, an HTTP client that
 * checks every answer for leaked secrets, Telegram-like redelivery and per-chat sequential queues.
 */
import { connect } from "node:net";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { Agent, request } from "undici";
import type { Secrets } from "./deployment.js";

export const SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token";

// ---------------------------------------------------------------- updates

export interface UserSpec {
  id: number;
  firstName: string;
  lastName?: string;
  username?: string;
  languageCode?: string;
}

let messageId = 0;

/** A private-chat text message as Telegram sends it; `/commands` get their bot_command entity. */
export function textUpdate(updateId: number, user: UserSpec, text: string): Record<string, unknown> {
  const from: Record<string, unknown> = { id: user.id, is_bot: false, first_name: user.firstName };
  if (user.lastName !== undefined) from.last_name = user.lastName;
  if (user.username !== undefined) from.username = user.username;
  if (user.languageCode !== undefined) from.language_code = user.languageCode;
  const chat: Record<string, unknown> = { id: user.id, type: "private", first_name: user.firstName };
  if (user.lastName !== undefined) chat.last_name = user.lastName;
  if (user.username !== undefined) chat.username = user.username;
  const message: Record<string, unknown> = {
    message_id: ++messageId,
    from,
    chat,
    date: Math.floor(Date.now() / 1000),
    text,
  };
  const command = /^\/\w+/.exec(text);
  if (command !== null) message.entities = [{ offset: 0, length: command[0].length, type: "bot_command" }];
  return { update_id: updateId, message };
}

/** A press of an inline button with `data` under the bot's message in the user's private chat; its id is `cb-<updateId>`. */
export function pressUpdate(updateId: number, user: UserSpec, data: string): Record<string, unknown> {
  const from: Record<string, unknown> = { id: user.id, is_bot: false, first_name: user.firstName };
  if (user.languageCode !== undefined) from.language_code = user.languageCode;
  const message = {
    message_id: ++messageId,
    from: { id: 7000000001, is_bot: true, first_name: "MTT Pro", username: "mtt_pro_bot" },
    chat: { id: user.id, type: "private", first_name: user.firstName },
    date: Math.floor(Date.now() / 1000),
    text: "Choose a language:",
  };
  return { update_id: updateId, callback_query: { id: `cb-${updateId}`, from, message, chat_instance: `ci-${user.id}`, data } };
}

// ---------------------------------------------------------------- secrets

/** Looks for the secrets (and long pieces of them) in anything the Worker answered or printed. */
export class SecretScanner {
  private readonly needles: { name: string; value: string }[] = [];
  readonly hits: string[] = [];
  scanned = 0;

  constructor(secrets: Secrets) {
    for (const [name, value] of Object.entries(secrets)) {
      // The random part (a bot token's id is public), and its halves: a near-miss leak counts too.
      const secretPart = name === "TELEGRAM_BOT_TOKEN" ? value.slice(value.indexOf(":") + 1) : value;
      const half = Math.floor(secretPart.length / 2);
      for (const piece of [value, secretPart, secretPart.slice(0, half), secretPart.slice(half)]) {
        if (piece.length >= 12) this.needles.push({ name, value: piece });
      }
    }
  }

  /** Records (does not throw) every secret found in `text`. */
  scan(where: string, text: string): void {
    this.scanned += 1;
    for (const needle of this.needles) {
      if (text.includes(needle.value)) this.hits.push(`${needle.name} in ${where}: …${excerpt(text, needle.value)}…`);
    }
  }
}

function excerpt(text: string, needle: string): string {
  const at = text.indexOf(needle);
  return text.slice(Math.max(0, at - 40), at).replace(needle, "<SECRET>") + "<SECRET>";
}

// ---------------------------------------------------------------- HTTP

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
  /** Set when no HTTP answer came (connection reset, timeout). */
  error?: string;
}

export interface SendOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer | AsyncIterable<Buffer> | null;
  /** Omit the secret header entirely. */
  noSecret?: boolean;
}

/** HTTP/1.1 keep-alive client towards the Worker; every answer is scanned for secrets. */
export class WorkerClient {
  readonly agent: Agent;
  requests = 0;

  /** @param botApiRoot the Bot API double, which runs a Bot API call that rides on an answer as Telegram does. */
  constructor(
    readonly baseUrl: string,
    readonly secret: string,
    readonly scanner: SecretScanner,
    readonly botApiRoot: string,
    connections = 64,
  ) {
    this.agent = new Agent({
      connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: 45_000,
      bodyTimeout: 45_000,
      connect: { timeout: 5_000 },
    });
  }

  async send(options: SendOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { "content-type": "application/json", ...options.headers };
    if (!options.noSecret && !Object.keys(headers).some((h) => h.toLowerCase() === SECRET_HEADER.toLowerCase())) {
      headers[SECRET_HEADER] = this.secret;
    }
    const started = performance.now();
    this.requests += 1;
    try {
      const res = await request(new URL(options.path ?? "/bot/webhook/", this.baseUrl), {
        method: (options.method ?? "POST") as "POST",
        headers,
        body: typeof options.body === "string" || Buffer.isBuffer(options.body) || options.body == null ? (options.body ?? null) : Readable.from(options.body),
        dispatcher: this.agent,
      });
      const body = await res.body.text();
      const answer: Answer = { status: res.statusCode, headers: res.headers, body, ms: performance.now() - started };
      this.scanner.scan(`answer to ${options.method ?? "POST"} ${options.path ?? "/bot/webhook/"}`, `${JSON.stringify(res.headers)}\n${body}`);
      return answer;
    } catch (error) {
      return { status: 0, headers: {}, body: "", ms: performance.now() - started, error: describe(error) };
    }
  }

  postUpdate(update: unknown): Promise<Answer> {
    return this.send({ body: JSON.stringify(update) });
  }

  /** What Telegram does with a 2xx answer that carries a Bot API method: it runs the method. */
  async runWebhookReply(answer: Answer): Promise<void> {
    if (answer.status < 200 || answer.status >= 300 || !answer.body.startsWith("{")) return;
    if (typeof (JSON.parse(answer.body) as { method?: unknown }).method !== "string") return;
    const res = await request(`${this.botApiRoot}/__control/webhook-reply`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: answer.body,
      dispatcher: this.agent,
    });
    await res.body.text();
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/**
 * One HTTP/1.1 request over a raw socket, for bodies a server may refuse before reading them: the
 * body is written while the answer is read, and a write that fails after the server answered
 * (EPIPE/ECONNRESET because it closed early) does not hide the answer the way a client library does.
 */
export async function rawRequest(
  baseUrl: string,
  scanner: SecretScanner,
  options: {
    method: string;
    path: string;
    headers: Record<string, string>;
    body: Buffer | AsyncIterable<Buffer>;
    timeoutMs?: number;
    /** Wait this long after the head for an answer decided on the headers alone (RFC 9110 §10.1.1). */
    earlyAnswerMs?: number;
  },
): Promise<Answer> {
  const url = new URL(options.path, baseUrl);
  const started = performance.now();
  const socket = connect({ host: url.hostname, port: Number(url.port) });
  const chunks: Buffer[] = [];
  let writeError: string | undefined;
  const answered = new Promise<Answer>((resolve) => {
    const finish = (error?: string) => {
      const raw = Buffer.concat(chunks).toString("latin1");
      const headEnd = raw.indexOf("\r\n\r\n");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(raw)?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const line of raw.slice(0, Math.max(0, headEnd)).split("\r\n").slice(1)) {
        const colon = line.indexOf(":");
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const body = headEnd < 0 ? "" : Buffer.from(raw.slice(headEnd + 4), "latin1").toString("utf8");
      socket.destroy();
      scanner.scan(`answer to ${options.method} ${options.path}`, `${JSON.stringify(headers)}\n${body}`);
      resolve({ status, headers, body, ms: performance.now() - started, error: status === 0 ? (error ?? writeError ?? "no answer") : undefined });
    };
    const timer = setTimeout(() => finish("timeout"), options.timeoutMs ?? 30_000);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      const raw = Buffer.concat(chunks).toString("latin1");
      const headEnd = raw.indexOf("\r\n\r\n");
      if (headEnd < 0) return;
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(raw.slice(0, headEnd))?.[1] ?? NaN);
      if (Number.isFinite(length) && raw.length - headEnd - 4 >= length) {
        clearTimeout(timer);
        finish();
      }
    });
    socket.on("error", (error) => (writeError ??= describe(error)));
    socket.on("close", () => {
      clearTimeout(timer);
      finish(writeError);
    });
  });
  const chunkedBody = !Buffer.isBuffer(options.body);
  const head = [
    `${options.method} ${url.pathname}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
    ...Object.entries(options.headers).map(([name, value]) => `${name}: ${value}`),
    chunkedBody ? "Transfer-Encoding: chunked" : `Content-Length: ${(options.body as Buffer).length}`,
    "Connection: close",
    "",
    "",
  ].join("\r\n");
  const write = (data: Buffer | string) =>
    new Promise<void>((resolve) => {
      if (socket.destroyed || writeError !== undefined) return resolve();
      socket.write(data, () => resolve());
    });
  let answeredAlready = false;
  void answered.then(() => (answeredAlready = true));
  void (async () => {
    await write(head);
    await Promise.race([answered, sleep(options.earlyAnswerMs ?? 300)]);
    if (answeredAlready) return;
    if (Buffer.isBuffer(options.body)) {
      for (let i = 0; i < options.body.length && !socket.destroyed; i += 256 * 1024) await write(options.body.subarray(i, i + 256 * 1024));
    } else {
      for await (const chunk of options.body) {
        if (socket.destroyed || writeError !== undefined) break;
        await write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]));
      }
      await write("0\r\n\r\n");
    }
  })();
  return answered;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: string }).code;
  return `${error.name}${code ? ` ${code}` : ""}: ${error.message}`;
}

// ---------------------------------------------------------------- delivery

/** One answer of one delivery attempt, as far as the checks need it. */
export interface Attempt {
  status: number;
  /** `error` of a JSON error body (`dependency_unavailable`, `update_in_progress`, …). */
  error?: string;
  /** `dependency` of a 503 `dependency_unavailable`. */
  dependency?: string;
  /** Transport error when there was no answer. */
  transport?: string;
  at: number;
  ms: number;
}

export function attemptOf(answer: Answer): Attempt {
  let error: string | undefined;
  let dependency: string | undefined;
  if (answer.body.startsWith("{")) {
    try {
      const parsed = JSON.parse(answer.body) as { error?: unknown; dependency?: unknown };
      if (typeof parsed.error === "string") error = parsed.error;
      if (typeof parsed.dependency === "string") dependency = parsed.dependency;
    } catch {
      // not JSON: kept as status only
    }
  }
  return { status: answer.status, error, dependency, transport: answer.error, at: Date.now(), ms: answer.ms };
}

export interface DeliveryOptions {
  /** Redeliver after a non-2xx answer, as Telegram does. */
  redeliver: boolean;
  /** Give up redelivering after this long. */
  maxMs: number;
}

/**
 * Delivers one update like Telegram: any non-2xx (or no answer) is retried after a short, growing
 * backoff until it is answered 2xx or `maxMs` has passed. Returns every attempt.
 */
export async function deliver(client: WorkerClient, update: unknown, options: DeliveryOptions): Promise<Attempt[]> {
  const body = JSON.stringify(update);
  const attempts: Attempt[] = [];
  const started = Date.now();
  for (let n = 0; ; n++) {
    const answer = await client.send({ body });
    const attempt = attemptOf(answer);
    attempts.push(attempt);
    if (attempt.status >= 200 && attempt.status < 300) {
      await client.runWebhookReply(answer);
      return attempts;
    }
    if (!options.redeliver || Date.now() - started > options.maxMs) return attempts;
    await sleep(Math.min(100 * 2 ** n, 1000));
  }
}

export const succeeded = (attempts: Attempt[]) => {
  const last = attempts.at(-1);
  return last !== undefined && last.status >= 200 && last.status < 300;
};

/**
 * Telegram's order: each chat's updates one at a time, the next only after the previous was answered
 * 2xx (or given up on), and at most `concurrency` requests in flight over all chats.
 */
export async function runChatQueues<T>(
  queues: readonly (readonly T[])[],
  concurrency: number,
  send: (item: T) => Promise<void>,
): Promise<void> {
  const next = queues.map(() => 0);
  const ready = queues.map((_, i) => i).filter((i) => (queues[i]?.length ?? 0) > 0);
  async function connection(): Promise<void> {
    for (;;) {
      const chat = ready.shift();
      if (chat === undefined) return;
      const queue = queues[chat] ?? [];
      const item = queue[next[chat]!++] as T;
      await send(item);
      if (next[chat]! < queue.length) ready.push(chat);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, connection));
}

/** Runs `work` over `items` with at most `concurrency` at once. */
export async function pool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let index = 0;
  async function worker(): Promise<void> {
    while (index < items.length) await work(items[index++] as T);
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

// ---------------------------------------------------------------- the Bot API double's record

export interface RecordedCall {
  method: string;
  params: Record<string, unknown>;
  at: number;
}

/** sendMessage calls grouped by chat, in the order the double received them. */
export function sendMessagesByChat(calls: RecordedCall[]): Map<number, RecordedCall[]> {
  const byChat = new Map<number, RecordedCall[]>();
  for (const call of calls) {
    if (call.method !== "sendMessage") continue;
    const chat = Number(call.params.chat_id);
    let list = byChat.get(chat);
    if (list === undefined) byChat.set(chat, (list = []));
    list.push(call);
  }
  return byChat;
}
